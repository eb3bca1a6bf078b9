"""A test kit for plugin authors: fixtures plus ``check_loss``, ``check_dataset``, ``check_encoder``,
``check_tracker``.

Installing itr-bench registers this module as a pytest plugin (the ``pytest11`` entry point), so
a plugin's tests get the fixtures with no conftest and call the checks on their component::

    from itr_bench.testing import check_loss

    def test_my_loss(itr_bench_registry):
        check_loss(itr_bench_registry, "my-hinge")

Every check raises an ``AssertionError`` whose message says what to fix. Heavy libraries
(torch) are imported inside the checks, so merely having itr-bench installed keeps every pytest
session's start-up fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from .plugins import PluginManager, get_plugin_manager, load_registry
from .registry import Registry

if TYPE_CHECKING:
    from torch import Tensor

    from .api import Dataset, Loss

__all__ = [
    "BATCH_LAYOUTS",
    "check_dataset",
    "check_encoder",
    "check_loss",
    "check_options",
    "check_tracker",
    "itr_bench_plugin_manager",
    "itr_bench_registry",
]

#: ``check_loss(batch_layout=...)``: how the pairs of a batch relate to each other.
#: ``"free"``: every pair is interchangeable (in-batch negatives, classifiers); any permutation of
#: the pairs must leave the loss unchanged. ``"anchors-then-negatives"``: slot ``B/2 + k`` holds
#: the negative pair of anchor ``k`` (the paper's ranking form); permutations move both halves
#: together and odd batch sizes must be refused with an ``ItrBenchError``.
BATCH_LAYOUTS = ("free", "anchors-then-negatives")

DIM, CLASSES = 16, 10
#: Batch sizes every loss must handle: one pair, odd sizes, and an even one with repeated ids.
ODD_BATCHES = (1, 3, 5)
#: Repeated ids (two captions of instance 1, of instance 4) as real batches have.
REPEATED_IDS = (0, 1, 2, 3, 4, 1, 6, 4)
SAMPLE_CAPTIONS = (
    "a dog runs on the grass",
    "two people sit on a bench near the water",
    "a man in red rides a bike down a hill",
)


# ============================================================================================
# Fixtures
# ============================================================================================


@pytest.fixture
def itr_bench_plugin_manager() -> PluginManager:
    """A fresh plugin manager: the built-ins plus every installed plugin (entry points).

    ``ITR_BENCH_LOAD_PLUGINS`` is honoured, as on the command line.
    """
    return get_plugin_manager()


@pytest.fixture
def itr_bench_registry(itr_bench_plugin_manager: PluginManager) -> Registry:
    """The registry of everything installed: what ``itr-bench list`` shows."""
    return load_registry(itr_bench_plugin_manager)


# ============================================================================================
# Losses
# ============================================================================================


def check_loss(
    source: Registry | Callable[..., Any],
    name: str | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    num_instances: int = CLASSES,
    batch_layout: str = "free",
) -> None:
    """Check a loss the way the engine will use it.

    ``source`` is a registry (then ``name`` is the registered loss) or the factory itself,
    called as ``factory(LossContext, **options)``. Checks: it is an ``itr_bench.api.Loss`` with
    valid ``inputs``/``gathering`` (and, for LOCAL losses, a ``reduction`` the data-parallel rule
    understands); finite terms and gradients that reach the encoders on random inputs with
    repeated ids; batch size 1 and odd sizes give finite values or one-line ``ItrBenchError``;
    terms and gradients do not change when the pairs are permuted with their ids; it runs under
    bf16 autocast on CPU.
    """
    import torch

    from .api import Gathering, Inputs, Loss, LossContext
    from .engine.distributed import LOCAL_REDUCTIONS
    from .loss_contract import declared_gathering

    if batch_layout not in BATCH_LAYOUTS:
        raise ValueError(f"batch_layout={batch_layout!r} is not one of {BATCH_LAYOUTS}")
    registry, registered, label = _factory(source, name, "loss")
    context = LossContext(embed_dim=DIM, num_instances=num_instances)
    loss = _build(registry, "loss", registered, label, context, options)
    assert isinstance(loss, Loss), (
        f"{label}: the factory returned {type(loss).__name__}; return an instance of a subclass of "
        "itr_bench.api.Loss (it validates inputs and declares inputs/gathering)"
    )
    inputs = _enum_value(Inputs, loss.inputs, label, "inputs")
    gathering = _enum_value(Gathering, declared_gathering(loss), label, "gathering")
    if gathering is Gathering.LOCAL:
        reduction = getattr(loss, "reduction", None)
        assert reduction in LOCAL_REDUCTIONS, (
            f"{label}: declares gathering = Gathering.LOCAL but reduction = {reduction!r}; set the "
            f"attribute reduction to one of {LOCAL_REDUCTIONS} (how its per-sample terms are combined) "
            "so data-parallel training scales its gradients right"
        )
    case = _LossCase(loss, label, inputs is Inputs.NORMALIZED)

    with torch.random.fork_rng(devices=[]):
        ids = torch.tensor(REPEATED_IDS)
        grads = case.forward_backward(ids, seed=0, what=f"a batch of {len(ids)} with repeated ids")
        assert any(g.abs().sum() > 0 for g in grads), (
            f"{label}: no gradient reaches the image or text embeddings; the terms must depend on "
            "them (did you detach or use .item()?)"
        )
        for batch in ODD_BATCHES:
            case.finite_or_clear_error(torch.arange(batch), batch_layout)
        case.permutation_invariant(ids, batch_layout)
        case.under_bf16_autocast(ids)


class _LossCase:
    """One loss under test and the random inputs it is fed."""

    def __init__(self, loss: Loss, label: str, normalized: bool) -> None:
        self.loss, self.label, self.normalized = loss, label, normalized

    def embeddings(self, batch: int, seed: int) -> tuple[Tensor, Tensor]:
        import torch

        generator = torch.Generator().manual_seed(seed)
        image = torch.randn(batch, DIM, generator=generator).requires_grad_()
        text = torch.randn(batch, DIM, generator=generator).requires_grad_()
        return image, text

    def call(self, image: Tensor, text: Tensor, ids: Tensor, what: str) -> dict[str, Tensor]:
        import torch
        import torch.nn.functional as F

        from .errors import ItrBenchError

        if self.normalized:
            image, text = F.normalize(image, dim=1), F.normalize(text, dim=1)
        torch.manual_seed(1234)  # losses that sample (negatives, dropout) draw the same numbers each call
        try:
            terms = self.loss(image, text, ids)
        except ItrBenchError as exc:
            raise AssertionError(f"{self.label}: refused {what}: {exc}") from exc
        except Exception as exc:  # a bug in the loss: say where it happened and what to do instead
            raise AssertionError(
                f"{self.label}: raised {type(exc).__name__} on {what}: {' '.join(str(exc).split())}; handle "
                "this case, or raise an itr_bench.errors.ItrBenchError with one line saying why"
            ) from exc
        assert isinstance(terms, Mapping) and terms, (
            f"{self.label}: forward returned {type(terms).__name__}; return a non-empty dict of named scalar terms"
        )
        for term, value in terms.items():
            assert isinstance(term, str), f"{self.label}: term names must be strings, got {term!r}"
            assert isinstance(value, torch.Tensor) and value.dim() == 0, (
                f"{self.label}: term {term!r} must be a scalar tensor, got {getattr(value, 'shape', value)!r}"
            )
            assert torch.isfinite(value), f"{self.label}: term {term!r} is {value.item()} on {what}"
        return dict(terms)

    def forward_backward(self, ids: Tensor, seed: int, what: str) -> list[Tensor]:
        """Finite terms and finite gradients for embeddings and the loss's own parameters."""
        import torch

        self.loss.zero_grad(set_to_none=True)
        image, text = self.embeddings(len(ids), seed)
        terms = self.call(image, text, ids, what)
        total = sum(terms.values())
        assert total.requires_grad, (
            f"{self.label}: the terms do not require grad on {what}; compute them from the inputs with torch ops"
        )
        total.backward()
        for tensor, role in [(image, "image embeddings"), (text, "text embeddings"),
                             *((p, f"parameter {n}") for n, p in self.loss.named_parameters())]:
            if tensor.grad is not None:
                assert torch.isfinite(tensor.grad).all(), f"{self.label}: the gradient of the {role} is not finite on {what}"
        return [t.grad if t.grad is not None else torch.zeros_like(t) for t in (image, text)]

    def finite_or_clear_error(self, ids: Tensor, batch_layout: str) -> None:
        from .errors import ItrBenchError

        what = f"a batch of {len(ids)}"
        try:
            self.forward_backward(ids, seed=1, what=what)
        except AssertionError as failure:
            cause = failure.__cause__
            if not isinstance(cause, ItrBenchError):
                raise
            assert "\n" not in str(cause), (
                f"{self.label}: the error for {what} spans several lines; make it one line: {cause}"
            )
            return
        assert not (batch_layout == "anchors-then-negatives" and len(ids) % 2), (
            f"{self.label}: batch_layout='anchors-then-negatives' but {what} was accepted; raise an "
            "ItrBenchError saying the batch size must be even"
        )

    def permutation_invariant(self, ids: Tensor, batch_layout: str) -> None:
        import torch

        order = _permutation(len(ids), batch_layout)
        image, text = self.embeddings(len(ids), seed=2)
        terms = self.call(image, text, ids, "the reference batch")
        sum(terms.values()).backward()
        shuffled_image = image.detach()[order].requires_grad_()
        shuffled_text = text.detach()[order].requires_grad_()
        shuffled = self.call(shuffled_image, shuffled_text, ids[order], "a permuted batch")
        sum(shuffled.values()).backward()
        assert set(shuffled) == set(terms), f"{self.label}: the term names depend on the batch order"
        hint = ("does it compare pair k with slot k of another tensor, or sample without the seed? "
                "If it expects anchors then their negatives, pass batch_layout='anchors-then-negatives'")
        for term in terms:
            assert torch.allclose(shuffled[term], terms[term], rtol=1e-4, atol=1e-5), (
                f"{self.label}: term {term!r} changes from {terms[term].item():.6g} to "
                f"{shuffled[term].item():.6g} when the pairs are permuted with their ids; {hint}"
            )
        for before, after, role in ((image, shuffled_image, "image"), (text, shuffled_text, "text")):
            if before.grad is None and after.grad is None:
                continue
            assert torch.allclose(after.grad, before.grad[order], rtol=1e-3, atol=1e-5), (
                f"{self.label}: the {role} gradients do not follow the pairs when the batch is permuted; {hint}"
            )

    def under_bf16_autocast(self, ids: Tensor) -> None:
        import torch

        self.loss.zero_grad(set_to_none=True)
        image, text = self.embeddings(len(ids), seed=3)
        what = "a batch under torch.autocast('cpu', dtype=torch.bfloat16)"
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                terms = self.call(image, text, ids, what)
            sum(t.float() for t in terms.values()).backward()
        except (AssertionError, RuntimeError) as failure:
            exc = failure.__cause__ if isinstance(failure, AssertionError) else failure
            if not isinstance(exc, RuntimeError):
                raise
            raise AssertionError(
                f"{self.label}: fails under bf16 autocast ({' '.join(str(exc).split())}); avoid in-place ops "
                "on autocast outputs and dtype-specific constants, or cast with .float() where precision matters"
            ) from exc
        for tensor, role in ((image, "image"), (text, "text")):
            assert tensor.grad is None or torch.isfinite(tensor.grad).all(), (
                f"{self.label}: the {role} gradient is not finite under bf16 autocast; compute exp/log "
                "in float32 (.float()) or use logsumexp / softplus"
            )


def _permutation(batch: int, batch_layout: str) -> Tensor:
    import torch

    generator = torch.Generator().manual_seed(7)
    if batch_layout == "free":
        order = torch.randperm(batch, generator=generator)
        return order if not torch.equal(order, torch.arange(batch)) else order.flip(0)
    half = torch.randperm(batch // 2, generator=generator)
    return torch.cat([half, half + batch // 2])


def _enum_value(enum_type: type, value: Any, label: str, attribute: str):
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(f"{enum_type.__name__}.{m.name}" for m in enum_type)
        raise AssertionError(f"{label}: {attribute} = {value!r} is not valid; declare one of {allowed}") from None


# ============================================================================================
# Datasets
# ============================================================================================


def check_dataset(dataset: Dataset, *, required_splits: Sequence[str] = ("train", "val", "test")) -> None:
    """Check a built dataset: splits exist, ids are consistent, nothing leaks between splits.

    Checks: ``train``/``val``/``test`` exist and are :class:`~itr_bench.api.Split` objects named
    as their key; every sample has at least one non-empty caption and an image (bytes, or a path
    that exists, checked for the first few); the training instance ids are exactly ``0..C-1``
    (the instance loss's classes); image-caption splits give every image its own id; no image id
    appears twice in a split or in two splits; protocol and folds are valid.
    """
    from .api import Dataset, Protocol, Split, TextSpec

    label = type(dataset).__name__
    assert isinstance(dataset, Dataset), f"{label} must subclass itr_bench.api.Dataset"
    assert isinstance(dataset.text, TextSpec), f"{label}.text must be an itr_bench.api.TextSpec"
    fingerprint = dataset.fingerprint()
    assert isinstance(fingerprint, str) and fingerprint, f"{label}.fingerprint() must return a non-empty string"
    splits = dataset.splits()
    assert isinstance(splits, Mapping), f"{label}.splits() must return a mapping of split name -> Split"
    missing = [s for s in required_splits if s not in splits]
    assert not missing, f"{label}: missing split(s) {', '.join(missing)}; splits() returned {sorted(splits)}"
    owner_of: dict[str, str] = {}
    for key, split in splits.items():
        where = f"{label} split {key!r}"
        assert isinstance(split, Split), f"{where}: is {type(split).__name__}, must be an itr_bench.api.Split"
        assert split.name == key, f"{where}: Split.name is {split.name!r}; name it as its key"
        assert len(split.samples) > 0, f"{where}: has no samples"
        protocol = _enum_value(Protocol, split.protocol, where, "protocol")
        _check_samples(split, where, owner_of)
        assert isinstance(split.folds, int) and 1 <= split.folds <= len(split.samples), (
            f"{where}: folds = {split.folds!r}; use an integer from 1 to the number of images ({len(split.samples)})"
        )
        if protocol is Protocol.IMAGE_CAPTION:
            assert split.num_instances == len(split.samples), (
                f"{where}: image-caption protocol but {len(split.samples)} images share {split.num_instances} "
                "instance ids; give each image its own id (or use Protocol.IDENTITY)"
            )
    train = splits.get("train")
    if train is not None:
        ids = sorted({s.instance_id for s in train.samples})
        assert ids == list(range(len(ids))), (
            f"{label} split 'train': instance ids must be exactly 0..C-1 (the instance loss's classes), "
            f"got {len(ids)} ids from {ids[0]} to {ids[-1]}"
        )


def _check_samples(split: Any, where: str, owner_of: dict[str, str]) -> None:
    from pathlib import Path

    from .api import Sample

    checked_files = 0
    for index, sample in enumerate(split.samples):
        at = f"{where} sample {index}"
        assert isinstance(sample, Sample), f"{at}: is {type(sample).__name__}, must be an itr_bench.api.Sample"
        assert isinstance(sample.instance_id, int) and not isinstance(sample.instance_id, bool), (
            f"{at}: instance_id {sample.instance_id!r} must be an int"
        )
        assert isinstance(sample.image_id, str) and sample.image_id, f"{at}: image_id must be a non-empty string"
        assert isinstance(sample.captions, tuple) and sample.captions, (
            f"{at} ({sample.image_id}): captions must be a non-empty tuple of strings"
        )
        for caption in sample.captions:
            assert isinstance(caption, str) and caption.strip(), (
                f"{at} ({sample.image_id}): caption {caption!r} is empty; drop empty captions when reading"
            )
        if isinstance(sample.image, Path):
            if checked_files < 5:
                assert sample.image.is_file(), f"{at}: image file {sample.image} does not exist"
                checked_files += 1
        else:
            assert isinstance(sample.image, bytes) and sample.image, (
                f"{at} ({sample.image_id}): image must be a pathlib.Path or the encoded bytes"
            )
        other = owner_of.get(sample.image_id)
        assert other is None, (
            f"{at}: image {sample.image_id!r} is also in {other}; an image must be in one split, once"
        )
        owner_of[sample.image_id] = where


# ============================================================================================
# Encoders
# ============================================================================================

#: Spellings of the two encoder kinds ``check_encoder`` accepts.
ENCODER_KINDS = {"image": "image", "image_encoder": "image", "image-encoder": "image",
                 "text": "text", "text_encoder": "text", "text-encoder": "text"}


def check_encoder(
    encoder: Any,
    kind: str,
    *,
    batch: int = 3,
    image_size: int = 32,
    captions: Iterable[str] = SAMPLE_CAPTIONS,
) -> None:
    """Check a built encoder: shapes, dtypes, gradients and parameter groups.

    ``kind`` is ``"image"`` or ``"text"``. Checks: the right contract class and an ``output_dim``;
    text encoders have a ``tokenizer`` returning a ``(B, L)`` LongTensor with ``L <= max_length``;
    in train and eval mode the output is ``(B, output_dim)`` (or an ``EncoderOutput`` of two), finite,
    and gradients reach the parameters; ``test_time_embedding`` is ``(B, output_dim)``;
    ``param_groups()`` covers every parameter exactly once, under names starting with the
    encoder's ``group_prefix``.
    """
    import torch

    from .api import ImageEncoder, TextEncoder, Tokenizer, as_encoder_output

    modality = ENCODER_KINDS.get(kind)
    if modality is None:
        raise ValueError(f"kind={kind!r}: use 'image' or 'text'")
    contract = ImageEncoder if modality == "image" else TextEncoder
    label = type(encoder).__name__
    assert isinstance(encoder, contract), f"{label}: a {modality} encoder must subclass itr_bench.api.{contract.__name__}"
    dim = getattr(encoder, "output_dim", None)
    assert isinstance(dim, int) and dim > 0, f"{label}: set self.output_dim to the embedding width (an int > 0), got {dim!r}"
    if modality == "text":
        captions = list(captions)[:batch] or list(SAMPLE_CAPTIONS)
        batch = len(captions)
        tokenizer = getattr(encoder, "tokenizer", None)
        assert isinstance(tokenizer, Tokenizer), (
            f"{label}: set self.tokenizer to a callable with a max_length attribute (itr_bench.api.Tokenizer)"
        )
        inputs = tokenizer(captions)
        assert isinstance(inputs, torch.Tensor) and inputs.dtype == torch.long and inputs.dim() == 2, (
            f"{label}: tokenizer(captions) must return a (B, L) LongTensor, got "
            f"{getattr(inputs, 'dtype', type(inputs).__name__)} {tuple(getattr(inputs, 'shape', ()))}"
        )
        assert inputs.shape[0] == batch and 0 < inputs.shape[1] <= tokenizer.max_length, (
            f"{label}: tokenizer returned {tuple(inputs.shape)} for {batch} captions with max_length "
            f"{tokenizer.max_length}; pad or truncate to at most max_length"
        )
    else:
        inputs = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    was_training = encoder.training
    try:
        for training in (True, False):
            encoder.train(training)
            mode = "train" if training else "eval"
            encoder.zero_grad(set_to_none=True)
            output = encoder(inputs)
            assert isinstance(output, (torch.Tensor, tuple)), (
                f"{label}: forward returned {type(output).__name__}; return a (B, D) tensor or an EncoderOutput"
            )
            views = as_encoder_output(output)
            for view, value in zip(("embedding", "features"), views):
                assert tuple(value.shape) == (batch, dim), (
                    f"{label} ({mode} mode): {view} has shape {tuple(value.shape)}, expected ({batch}, {dim}) "
                    "= (batch, output_dim)"
                )
                assert torch.isfinite(value).all(), f"{label} ({mode} mode): {view} is not finite"
            if training:
                _check_gradients(encoder, label, sum(v.float().sum() for v in views))
        with torch.no_grad():
            tta = encoder.test_time_embedding(inputs)
        assert tuple(tta.shape) == (batch, dim), (
            f"{label}: test_time_embedding returned {tuple(tta.shape)}, expected ({batch}, {dim})"
        )
    finally:
        encoder.train(was_training)
    _check_param_groups(encoder, label)


def _check_gradients(encoder: Any, label: str, total: Tensor) -> None:
    import torch

    trainable = [p for p in encoder.parameters() if p.requires_grad]
    if not trainable:
        return
    total.backward()
    grads = [p.grad for p in trainable if p.grad is not None]
    assert grads, f"{label}: no parameter gets a gradient; the output must be computed from the parameters"
    assert all(torch.isfinite(g).all() for g in grads), f"{label}: non-finite parameter gradients"


def _check_param_groups(encoder: Any, label: str) -> None:
    groups = encoder.param_groups()
    assert isinstance(groups, Mapping) and groups, f"{label}.param_groups() must return a dict of name -> parameters"
    prefix = encoder.group_prefix
    owned = {id(p): n for n, p in encoder.named_parameters()}
    seen: dict[int, str] = {}
    for group, params in groups.items():
        assert isinstance(group, str) and (group == prefix or group.startswith(prefix + ".")), (
            f"{label}.param_groups(): group {group!r} must be {prefix!r} or start with '{prefix}.' so that "
            f"lr_mult {prefix}=... reaches it"
        )
        for param in params:
            name = owned.get(id(param))
            assert name is not None, f"{label}.param_groups(): group {group!r} holds a parameter the encoder does not own"
            assert id(param) not in seen, (
                f"{label}.param_groups(): parameter {name} is in both {seen[id(param)]!r} and {group!r}"
            )
            seen[id(param)] = group
    missing = [n for i, n in owned.items() if i not in seen]
    assert not missing, (
        f"{label}.param_groups(): parameters in no group would never train: {', '.join(missing[:5])}"
        + (", ..." if len(missing) > 5 else "")
    )


# ============================================================================================
# Trackers
# ============================================================================================


def check_tracker(source: Registry | Callable[..., Any], name: str | None = None, *, folder: Any) -> Any:
    """Drive a tracker through its whole contract in ``folder`` (a temporary run folder) and return it.

    It is started, sent training scalars at steps 10 and 20 and validation metrics, finished with
    test metrics and hyper-parameters, then resumed by the id it returned from a checkpoint at
    step 10 (so step 20 comes again: keep one value for it), sent step 30 and finished as failed,
    as the engine does around a kill. Every call must succeed without network (W&B-like
    trackers: offline by default) and ``start`` must return a non-empty string id that a resume
    keeps. Read what it wrote back with the tracker's own reader in your own tests.
    """
    from pathlib import Path

    from .api import FAILED, FINISHED, TrackedRun, Tracker

    registry, name, label = _factory(source, name, "tracker")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run = TrackedRun(folder=folder, root=folder, experiment="itr-bench-check", name="synthetic/check/seed-0",
                     tags={"dataset": "synthetic", "run": "check", "loss": "ranking", "seed": "0", "commit": "0" * 40})
    tracker = registry.create("tracker", name)
    assert isinstance(tracker, Tracker), f"{label}: the factory returned {type(tracker).__name__}, not an itr_bench.api.Tracker"
    run_id = tracker.start(run, None, 1)
    assert isinstance(run_id, str) and run_id, f"{label}: start() returned {run_id!r}; return the tracker's run id"
    for step in (10, 20):
        tracker.log_scalars(step, {"train/loss": 1.0 / step, "train/lr/image": 0.1})
    tracker.log_eval(20, 1, {"val/rsum": 123.4, "val/collapse/image_effective_rank": 7.0})
    tracker.finish(FINISHED, {"test/rsum": 120.0}, {"seed": 0, "stages.0.lr": 0.1, "dataset": "synthetic"})
    resumed = registry.create("tracker", name)
    again = resumed.start(run, run_id, 11)  # resumed from a checkpoint at step 10: step 20 comes again
    assert again == run_id, f"{label}: start(run, resume_id={run_id!r}, 11) returned {again!r}; a resume keeps the id"
    resumed.log_scalars(20, {"train/loss": 1.0 / 20, "train/lr/image": 0.1})
    resumed.log_scalars(30, {"train/loss": 1.0 / 30})
    resumed.finish(FAILED, {}, {})
    return tracker



# ============================================================================================
# Shared
# ============================================================================================


def _factory(source: Registry | Callable[..., Any], name: str | None, kind: str) -> tuple[Registry, str, str]:
    """The registry and name to build from: the given ones, or the bare factory in a registry of its own
    (so a factory under test is built, and its options checked, exactly as the engine does)."""
    if isinstance(source, Registry):
        if name is None:
            raise TypeError(f"check_{kind}(registry, name): name the registered {kind}")
        info = source.get(kind, name)
        assert info.description, (
            f"{kind} {name!r} of plugin {info.plugin!r} has no description; give the class a docstring "
            "or pass description= to register (itr-bench list shows it)"
        )
        check_options(source, kind, name)
        return source, name, f"{kind} {name!r} (plugin {info.plugin!r})"
    if not callable(source):
        raise TypeError(f"check_{kind}: pass a Registry and a name, or the factory; got {type(source).__name__}")
    registry = Registry((kind,))
    registry.register(kind, "under-test", source, plugin="under test", description="")
    return registry, "under-test", f"{kind} {name or getattr(source, '__name__', repr(source))!r}"


def _build(registry: Registry, kind: str, name: str, label: str, context: Any,
           options: Mapping[str, Any] | None) -> Any:
    from .errors import ItrBenchError

    try:
        return registry.build(kind, name, context, options=options)
    except ItrBenchError as exc:
        raise AssertionError(f"{label}: the factory refused {context} with options {dict(options or {})}: {exc}") from exc


def check_options(registry: Registry, kind: str, name: str) -> None:
    """Check that a registered component declares its options as ``itr-bench list --options`` shows them.

    Every option has a type annotation, a one-line help (the docstring's ``Args:`` section or a
    string in ``Annotated``) and a default of its own type.
    """
    from .options import REQUIRED, Expression, conforms

    info = registry.get(kind, name)
    label = f"{kind} {name!r} (plugin {info.plugin!r})"
    for option in info.options:
        assert option.annotation, (
            f"{label}: option {option.name!r} has no type annotation; annotate it (e.g. {option.name}: float = ...)"
        )
        assert option.help, (
            f"{label}: option {option.name!r} has no help; describe it in one line under 'Args:' in the "
            "factory's docstring"
        )
        if option.default is not REQUIRED and not isinstance(option.default, Expression):
            assert conforms(option.default, option.type), (
                f"{label}: option {option.name!r} defaults to {option.default!r}, which is not {option.annotation}"
            )
