"""Each loss equals its reference on random inputs: values and gradients to 1e-5 (float64).

References are the peers' own code where it is installed (open_clip, pytorch-metric-learning)
and otherwise the published formula written out here independently (VSE++, RankLoss.m, CMPM,
CMPC, the instance loss as a plain cross-entropy of a shared nn.Linear).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss, SigLipLoss
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.losses import NTXentLoss, TripletMarginLoss
from pytorch_metric_learning.reducers import MeanReducer, SumReducer

from itr_bench.api import LossContext

BATCH, DIM, CLASSES = 8, 16, 12
UNIQUE_IDS = torch.arange(BATCH)
REPEATED_IDS = torch.tensor([0, 3, 3, 5, 0, 7, 3, 9])  # several captions of one image


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def raw_inputs(seed=0, batch=BATCH, dim=DIM, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    image = (torch.randn(batch, dim, generator=generator, dtype=torch.float64) * scale).requires_grad_()
    text = (torch.randn(batch, dim, generator=generator, dtype=torch.float64) * scale).requires_grad_()
    return image, text


def total(terms):
    return sum(terms.values())


def assert_same_value_and_grads(ours, reference, leaves):
    assert_close(ours, reference)
    for mine, theirs in zip(
        torch.autograd.grad(ours, leaves, retain_graph=True), torch.autograd.grad(reference, leaves)
    ):
        assert_close(mine, theirs)


def make(registry, name, num_instances=CLASSES, **options):
    torch.manual_seed(0)
    loss = registry.create("loss", name, LossContext(embed_dim=DIM, num_instances=num_instances), **options)
    return loss.double()


# ---------------------------------------------------------------- InfoNCE / SigLIP (open_clip)


@pytest.mark.parametrize("log_scale", [math.log(1 / 0.07), 2.0])
def test_infonce_equals_open_clip_cliploss(registry, log_scale):
    loss = make(registry, "infonce", exclude_same_instance=False)
    with torch.no_grad():
        loss.logit_scale.fill_(log_scale)
    image, text = raw_inputs()
    ours = total(loss(F.normalize(image), F.normalize(text), UNIQUE_IDS))
    log_scale_ref = torch.tensor(log_scale, dtype=torch.float64, requires_grad=True)
    reference = ClipLoss()(F.normalize(image), F.normalize(text), logit_scale=log_scale_ref.exp())
    assert_close(ours, reference)
    ours_grads = torch.autograd.grad(ours, [image, text, loss.logit_scale])
    ref_grads = torch.autograd.grad(reference, [image, text, log_scale_ref])
    for mine, theirs in zip(ours_grads, ref_grads):
        assert_close(mine, theirs)


def test_infonce_initial_scale_and_clamp(registry):
    loss = make(registry, "infonce")
    assert loss.scale.item() == pytest.approx(1 / 0.07)
    with torch.no_grad():
        loss.logit_scale.fill_(math.log(1000.0))
    assert loss.scale.item() == pytest.approx(100.0)
    image, text = raw_inputs()
    total(loss(F.normalize(image), F.normalize(text), UNIQUE_IDS)).backward()
    assert loss.logit_scale.grad.item() == 0.0  # clamped: the scale cannot be pushed past 100


def test_infonce_one_direction_equals_pml_ntxent(registry):
    loss = make(registry, "infonce", learnable=False, temperature=0.1)
    image, text = raw_inputs(seed=1)
    ours = loss(F.normalize(image), F.normalize(text), UNIQUE_IDS)["infonce_i2t"] * 2
    reference = NTXentLoss(temperature=0.1)(image, UNIQUE_IDS, ref_emb=text, ref_labels=UNIQUE_IDS.clone())
    assert_same_value_and_grads(ours, reference, [image, text])


def test_infonce_removes_same_instance_pairs_from_the_softmax(registry):
    loss = make(registry, "infonce", learnable=False)
    image, text = raw_inputs(seed=2)
    x, y = F.normalize(image), F.normalize(text)
    ours = total(loss(x, y, REPEATED_IDS))
    logits = (1 / 0.07) * x @ y.T
    expected = 0.0
    for i in range(BATCH):  # row i: its own text against texts of other instances only
        keep = (REPEATED_IDS != REPEATED_IDS[i]) | (torch.arange(BATCH) == i)
        expected = expected - torch.log_softmax(logits[i][keep], 0)[keep[: i + 1].sum() - 1] / (2 * BATCH)
        expected = expected - torch.log_softmax(logits[:, i][keep], 0)[keep[: i + 1].sum() - 1] / (2 * BATCH)
    assert_same_value_and_grads(ours, expected, [image, text])


@pytest.mark.parametrize("log_scale, bias", [(math.log(10), -10.0), (1.3, 0.7)])
def test_siglip_equals_open_clip(registry, log_scale, bias):
    loss = make(registry, "siglip", same_instance_positive=False)
    with torch.no_grad():
        loss.logit_scale.fill_(log_scale)
        loss.logit_bias.fill_(bias)
    image, text = raw_inputs(seed=3)
    ours = total(loss(F.normalize(image), F.normalize(text), UNIQUE_IDS))
    scale_ref = torch.tensor(log_scale, dtype=torch.float64, requires_grad=True)
    bias_ref = torch.tensor(bias, dtype=torch.float64, requires_grad=True)
    reference = SigLipLoss()(F.normalize(image), F.normalize(text), scale_ref.exp(), bias_ref)
    assert_close(ours, reference)
    ours_grads = torch.autograd.grad(ours, [image, text, loss.logit_scale, loss.logit_bias])
    ref_grads = torch.autograd.grad(reference, [image, text, scale_ref, bias_ref])
    for mine, theirs in zip(ours_grads, ref_grads):
        assert_close(mine, theirs)


def test_siglip_initial_values(registry):
    loss = make(registry, "siglip")
    assert loss.scale.item() == pytest.approx(10.0)
    assert loss.logit_bias.item() == pytest.approx(-10.0)


def test_siglip_labels_same_instance_pairs_positive(registry):
    loss = make(registry, "siglip")
    image, text = raw_inputs(seed=4)
    x, y = F.normalize(image), F.normalize(text)
    ours = total(loss(x, y, REPEATED_IDS))
    signs = (REPEATED_IDS[:, None] == REPEATED_IDS[None, :]).double() * 2 - 1
    reference = -F.logsigmoid(signs * (10 * x @ y.T - 10)).sum() / BATCH
    assert_same_value_and_grads(ours, reference, [image, text])


# ---------------------------------------------------------------- ranking (VSE++, RankLoss.m)


def vsepp_contrastive_loss(im, s, margin, max_violation):
    """fartashf/vsepp model.py ContrastiveLoss.forward (docs/fair-benchmark.md)."""
    scores = im @ s.t()
    diagonal = scores.diag().view(im.size(0), 1)
    d1 = diagonal.expand_as(scores)
    d2 = diagonal.t().expand_as(scores)
    cost_s = (margin + scores - d1).clamp(min=0)
    cost_im = (margin + scores - d2).clamp(min=0)
    mask = torch.eye(scores.size(0)) > 0.5
    cost_s = cost_s.masked_fill_(mask, 0)
    cost_im = cost_im.masked_fill_(mask, 0)
    if max_violation:
        cost_s = cost_s.max(1)[0]
        cost_im = cost_im.max(0)[0]
    return cost_s.sum() + cost_im.sum()


@pytest.mark.parametrize("form, max_violation", [("vsepp-sum", False), ("vsepp-max", True)])
@pytest.mark.parametrize("margin", [0.2, 1.0])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_vsepp_forms_equal_the_vsepp_formula(registry, form, max_violation, margin, reduction):
    loss = make(registry, "ranking", form=form, margin=margin, reduction=reduction)
    image, text = raw_inputs(seed=5)
    ours = total(loss(F.normalize(image), F.normalize(text), UNIQUE_IDS))
    reference = vsepp_contrastive_loss(F.normalize(image), F.normalize(text), margin, max_violation)
    if reduction == "mean":
        reference = reference / BATCH
    assert_same_value_and_grads(ours, reference, [image, text])


@pytest.mark.parametrize("form, max_violation", [("vsepp-sum", False), ("vsepp-max", True)])
def test_vsepp_with_repeated_ids(registry, form, max_violation):
    image, text = raw_inputs(seed=6)
    x, y = F.normalize(image), F.normalize(text)
    as_reference = make(registry, "ranking", form=form, margin=0.2, exclude_same_instance=False)
    assert_same_value_and_grads(
        total(as_reference(x, y, REPEATED_IDS)),
        vsepp_contrastive_loss(x, y, 0.2, max_violation),
        [image, text],
    )
    # Excluding same-id pairs equals VSE++ with those pairs' similarities pushed out of reach.
    same = (REPEATED_IDS[:, None] == REPEATED_IDS[None, :]) & ~torch.eye(BATCH, dtype=torch.bool)
    excluding = make(registry, "ranking", form=form, margin=0.2)
    x, y = F.normalize(image), F.normalize(text)
    hidden = x @ y.T - 10 * same  # a hinge of a hidden pair is 0
    reference = _vsepp_on_scores(hidden, 0.2, max_violation)
    assert_same_value_and_grads(total(excluding(x, y, REPEATED_IDS)), reference, [image, text])


def _vsepp_on_scores(scores, margin, max_violation):
    diagonal = scores.diag()
    cost_s = (
        (margin + scores - diagonal[:, None])
        .clamp(min=0)
        .masked_fill(torch.eye(len(scores), dtype=torch.bool), 0)
    )
    cost_im = (
        (margin + scores - diagonal[None, :])
        .clamp(min=0)
        .masked_fill(torch.eye(len(scores), dtype=torch.bool), 0)
    )
    if max_violation:
        return cost_s.max(1)[0].sum() + cost_im.max(0)[0].sum()
    return cost_s.sum() + cost_im.sum()


def rank_loss_m(x, y, x_neg, y_neg, margin):
    """matlab/+dagnn/RankLoss.m, one pair at a time."""
    loss = 0.0
    for k in range(len(x)):
        positive = x[k] @ y[k]
        loss = loss + torch.clamp(margin - (positive - x[k] @ y_neg[k]), min=0)
        loss = loss + torch.clamp(margin - (positive - x_neg[k] @ y[k]), min=0)
    return loss


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_paper_form_equals_rankloss_m(registry, reduction):
    loss = make(registry, "ranking", reduction=reduction)
    assert loss.margin == 1.0  # the paper's Stage II builders ('rate', 1)
    image, text = raw_inputs(seed=7, batch=32)
    x, y = F.normalize(image), F.normalize(text)
    ours = total(loss(x, y, torch.arange(32)))
    reference = rank_loss_m(x[:16], y[:16], x[16:], y[16:], 1.0)
    if reduction == "mean":
        reference = reference / 32
    assert_same_value_and_grads(ours, reference, [image, text])


def test_paper_form_skips_a_negative_of_the_same_instance(registry):
    loss = make(registry, "ranking")
    image, text = raw_inputs(seed=8)
    x, y = F.normalize(image), F.normalize(text)
    ids = torch.tensor([0, 1, 2, 3, 4, 1, 6, 7])  # slot 5 holds anchor 1's own instance
    keep = torch.tensor([0, 2, 3])
    reference = rank_loss_m(x[keep], y[keep], x[keep + 4], y[keep + 4], 1.0)
    assert_same_value_and_grads(total(loss(x, y, ids)), reference, [image, text])


def test_paper_form_mines_the_hardest_candidate_of_a_pool(registry):
    from itr_bench_losses import CandidatePool

    loss = make(registry, "ranking")
    image, text = raw_inputs(seed=9)
    pool_image, pool_text = raw_inputs(seed=10, batch=256)
    x, y = F.normalize(image), F.normalize(text)
    pool = CandidatePool(
        F.normalize(pool_image).detach(), F.normalize(pool_text).detach(), torch.arange(256) % 40
    )
    ids = torch.arange(BATCH)
    x_neg, y_neg = [], []
    for k in range(BATCH):  # the caption closest to image k among other instances, and its image
        sims = [
            (x[k] @ pool.text[j]).item() if pool.instance_ids[j] != ids[k] else -math.inf for j in range(256)
        ]
        best = max(range(256), key=sims.__getitem__)
        x_neg.append(pool.image[best])
        y_neg.append(pool.text[best])
    reference = rank_loss_m(x, y, torch.stack(x_neg), torch.stack(y_neg), 1.0)
    assert_same_value_and_grads(total(loss(x, y, ids, candidates=pool)), reference, [image, text])


def test_an_anchor_without_a_candidate_of_another_instance_is_skipped(registry):
    from itr_bench_losses import CandidatePool, hardest_candidates

    image, text = raw_inputs(seed=17, batch=4)
    x, y = F.normalize(image), F.normalize(text)
    pool = CandidatePool(x.detach().flip(0), y.detach().flip(0), torch.tensor([1, 1, 1, 1]))
    ids = torch.tensor([0, 1, 2, 3])
    index, usable = hardest_candidates(x, pool, ids)
    assert usable.tolist() == [True, False, True, True]
    loss = make(registry, "ranking")
    keep = torch.tensor([0, 2, 3])
    reference = rank_loss_m(x[keep], y[keep], pool.image[index[keep]], pool.text[index[keep]], 1.0)
    assert_same_value_and_grads(total(loss(x, y, ids, candidates=pool)), reference, [image, text])


# ---------------------------------------------------------------- triplet (pytorch-metric-learning)


@pytest.mark.parametrize("ids", [UNIQUE_IDS, REPEATED_IDS], ids=["unique", "repeated"])
@pytest.mark.parametrize(
    "reduction, reducer", [("mean_nonzero", None), ("sum", SumReducer), ("mean", MeanReducer)]
)
@pytest.mark.parametrize("margin", [0.05, 0.3])
def test_triplet_equals_pml_triplet_margin_loss(registry, ids, reduction, reducer, margin):
    loss = make(registry, "triplet", margin=margin, reduction=reduction)
    image, text = raw_inputs(seed=11)
    ours = total(loss(F.normalize(image), F.normalize(text), ids))
    extra = {} if reducer is None else {"reducer": reducer()}
    pml = TripletMarginLoss(margin=margin, distance=CosineSimilarity(), **extra)
    reference = pml(image, ids, ref_emb=text, ref_labels=ids.clone()) + pml(
        text, ids, ref_emb=image, ref_labels=ids.clone()
    )
    assert_same_value_and_grads(ours, reference, [image, text])


# ---------------------------------------------------------------- CMPM / CMPC (published formulas)


def cmpm_original(text_embeddings, image_embeddings, labels):
    """Cross-Modal-Projection-Learning modules.py cmpm_loss_compute (TensorFlow), in torch."""
    label_mask = (labels[:, None] == labels[None, :]).double()
    image_norm = F.normalize(image_embeddings, dim=-1)
    text_norm = F.normalize(text_embeddings, dim=-1)
    i2t_pred = torch.softmax(image_embeddings @ text_norm.T, dim=1)
    t2i_pred = torch.softmax(text_embeddings @ image_norm.T, dim=1)
    label_mask = label_mask / label_mask.sum(dim=1, keepdim=True)
    i2t = (i2t_pred * torch.log(1e-8 + i2t_pred / (label_mask + 1e-8))).sum(1).mean()
    t2i = (t2i_pred * torch.log(1e-8 + t2i_pred / (label_mask + 1e-8))).sum(1).mean()
    return i2t + t2i


def cmpm_irra(image_embeddings, text_embeddings, labels, epsilon=1e-8):
    """IRRA model/objectives.py compute_cmpm (L2-normalised targets)."""
    batch_size = image_embeddings.shape[0]
    labels_reshape = torch.reshape(labels, (batch_size, 1))
    labels = ((labels_reshape - labels_reshape.t()) == 0).double()
    image_norm = image_embeddings / image_embeddings.norm(dim=1, keepdim=True)
    text_norm = text_embeddings / text_embeddings.norm(dim=1, keepdim=True)
    image_proj_text = torch.matmul(image_embeddings, text_norm.t())
    text_proj_image = torch.matmul(text_embeddings, image_norm.t())
    labels_mask_norm = labels / labels.norm(dim=1)
    i2t_pred = F.softmax(image_proj_text, dim=1)
    i2t_loss = i2t_pred * (F.log_softmax(image_proj_text, dim=1) - torch.log(labels_mask_norm + epsilon))
    t2i_pred = F.softmax(text_proj_image, dim=1)
    t2i_loss = t2i_pred * (F.log_softmax(text_proj_image, dim=1) - torch.log(labels_mask_norm + epsilon))
    return torch.mean(torch.sum(i2t_loss, dim=1)) + torch.mean(torch.sum(t2i_loss, dim=1))


@pytest.mark.parametrize("ids", [UNIQUE_IDS, REPEATED_IDS], ids=["unique", "repeated"])
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_cmpm_l1_equals_the_original(registry, ids, scale):
    image, text = raw_inputs(seed=12, scale=scale)
    ours = total(make(registry, "cmpm")(image, text, ids))
    assert_same_value_and_grads(ours, cmpm_original(text, image, ids), [image, text])


@pytest.mark.parametrize("ids", [UNIQUE_IDS, REPEATED_IDS], ids=["unique", "repeated"])
def test_cmpm_l2_equals_irra(registry, ids):
    image, text = raw_inputs(seed=13)
    ours = total(make(registry, "cmpm", normalization="l2")(image, text, ids))
    assert_same_value_and_grads(ours, cmpm_irra(image, text, ids), [image, text])


def test_cmpm_normalizations_differ_only_with_several_positives(registry):
    image, text = raw_inputs(seed=14)
    l1, l2 = make(registry, "cmpm"), make(registry, "cmpm", normalization="l2")
    assert_close(total(l1(image, text, UNIQUE_IDS)), total(l2(image, text, UNIQUE_IDS)))
    assert (total(l1(image, text, REPEATED_IDS)) - total(l2(image, text, REPEATED_IDS))).abs() > 1e-3


def cmpc_original(text_embeddings, image_embeddings, labels, weight, label_smoothing=0.0):
    """Cross-Modal-Projection-Learning modules.py cmpc_loss_compute (TensorFlow), in torch."""
    w_norm = F.normalize(weight, dim=0)
    image_norm = F.normalize(image_embeddings, dim=-1)
    text_norm = F.normalize(text_embeddings, dim=-1)
    image_proj_text = (image_embeddings * text_norm).sum(1, keepdim=True) * text_norm
    text_proj_image = (text_embeddings * image_norm).sum(1, keepdim=True) * image_norm
    one_hot = F.one_hot(labels, weight.shape[1]).double()
    one_hot = one_hot * (1 - label_smoothing) + label_smoothing / weight.shape[1]
    ipt = -(one_hot * torch.log_softmax(image_proj_text @ w_norm, 1)).sum(1).mean()
    tpi = -(one_hot * torch.log_softmax(text_proj_image @ w_norm, 1)).sum(1).mean()
    return ipt + tpi


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cmpc_equals_the_original(registry, label_smoothing):
    loss = make(registry, "cmpc", label_smoothing=label_smoothing)
    image, text = raw_inputs(seed=15, scale=3.0)
    ours = total(loss(image, text, REPEATED_IDS))
    reference = cmpc_original(text, image, REPEATED_IDS, loss.weight, label_smoothing)
    assert_same_value_and_grads(ours, reference, [image, text, loss.weight])


def test_cmpc_weight_is_xavier_initialised(registry):
    torch.manual_seed(0)
    loss = registry.create("loss", "cmpc", LossContext(embed_dim=512, num_instances=2000))
    limit = math.sqrt(6 / (512 + 2000))
    assert loss.weight.shape == (512, 2000)
    assert loss.weight.abs().max() <= limit
    assert loss.weight.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.02)


# ---------------------------------------------------------------- instance loss


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, 0.1)])
def test_instance_equals_cross_entropy_of_a_shared_linear(registry, bias, weights):
    loss = make(registry, "instance", bias=bias, image_weight=weights[0], text_weight=weights[1])
    shared = torch.nn.Linear(DIM, CLASSES, bias=bias).double()
    shared.load_state_dict(loss.classifier.state_dict())
    image, text = raw_inputs(seed=16, scale=2.0)
    ours = loss(image, text, REPEATED_IDS)
    reference = weights[0] * F.cross_entropy(shared(image), REPEATED_IDS) + weights[1] * F.cross_entropy(
        shared(text), REPEATED_IDS
    )
    assert set(ours) == {"instance_image", "instance_text"}
    assert_close(ours["instance_image"], weights[0] * F.cross_entropy(shared(image), REPEATED_IDS))
    ours_total = total(ours)
    assert_close(ours_total, reference)
    leaves = [image, text, *loss.classifier.parameters()]
    ref_leaves = [image, text, *shared.parameters()]
    for mine, theirs in zip(
        torch.autograd.grad(ours_total, leaves), torch.autograd.grad(reference, ref_leaves)
    ):
        assert_close(mine, theirs)


def test_instance_classifier_is_shared_and_initialised_like_matconvnet(registry):
    torch.manual_seed(0)
    loss = registry.create("loss", "instance", LossContext(embed_dim=256, num_instances=3000))
    parameters = dict(loss.named_parameters())
    assert set(parameters) == {"classifier.weight", "classifier.bias"}  # one W_share for both paths
    assert loss.classifier.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.02)
    assert torch.count_nonzero(loss.classifier.bias) == 0
