"""paper-ablation carries the paper's per-dataset settings: the ranking stage's text instance
weight (CUHK-PEDES 0.5, Flickr and COCO 0.1), COCO's bias-free shared classifier, one image view
for training and test per dataset, and the paper's test-time features."""

from __future__ import annotations

import pytest
from planted_weights import plant_timm_weights

from itr_bench.api import LossContext
from itr_bench.config import RunConfig, StageConfig
from itr_bench.suites.plan import expand, load_suite

TEXT_WEIGHT = {"flickr8k": 0.1, "flickr30k": 0.1, "mscoco": 0.1, "cuhk-pedes": 0.5}


@pytest.fixture
def planned(registry, hub_cache, tmp_path):
    plant_timm_weights(hub_cache, "resnet50")
    data, where = load_suite("paper-ablation", registry)
    return {(run.dataset, run.run): run.config for run in expand(data, registry, where, tmp_path, seeds=[0])}


@pytest.mark.parametrize("dataset", sorted(TEXT_WEIGHT))
def test_ranking_stage_text_instance_weight_per_dataset(planned, dataset):
    for run in ("instance-then-ranking", "instance-then-ranking-unfrozen"):
        stage1, stage2 = planned[dataset, run].stages
        assert "instance_text" not in stage1.term_weights  # Stage I: image and text instance 1 : 1
        assert stage2.losses == {"ranking": 2.0, "instance": 1.0}
        assert stage2.term_weights == {"instance_text": TEXT_WEIGHT[dataset]}
    assert planned[dataset, "instance-only"].stages[0].term_weights == {}


def test_coco_shared_classifier_has_no_bias(registry, planned):
    for dataset in TEXT_WEIGHT:
        options = planned[dataset, "instance-only"].loss_options.get("instance", {})
        loss = registry.create("loss", "instance", LossContext(embed_dim=8, num_instances=5), **options)
        assert (loss.classifier.bias is None) == (dataset == "mscoco")
    assert planned["mscoco", "instance-only"].loss_options["ranking"]["form"] == "paper"  # merged, not replaced


def test_one_view_per_dataset_and_the_paper_test_features(planned):
    for (dataset, _), config in planned.items():
        assert config.test_time_augmentation and config.train_transform == "paper-train-squash"
        assert config.test_transform == ("test-squash" if dataset == "cuhk-pedes" else "test-full")


def test_override_replaces_only_terms_a_stage_weights():
    stages = [StageConfig(1, {"instance": 1.0}), StageConfig(1, {"instance": 1.0}, term_weights={"instance_text": 0.1})]
    config = RunConfig("synthetic", stages, "a", "b", override_term_weights={"instance_text": 0.5})
    assert [s.term_weights for s in config.stages] == [{}, {"instance_text": 0.5}]
    assert RunConfig("synthetic", stages, "a", "b").stages[1].term_weights == {"instance_text": 0.1}


def test_optimiser_input_and_ranking_loss_are_the_papers(planned):
    for (dataset, run), config in planned.items():
        assert (config.image_size, config.batch_size, config.sampler) == (224, 32, "epoch")
        assert config.image_encoder == "dualpath-resnet50" and config.text_encoder == "dualpath-textcnn"
        assert config.image_options == {"pretrained": True, "trunk_bn_momentum": 0.001}
        assert config.loss_options["ranking"] == {"form": "paper", "margin": 1.0, "reduction": "mean"}
        assert config.text_augment and config.negatives is None  # the dataset's own sampler (hint)
        for stage in config.stages:
            assert (stage.optimizer, stage.momentum, stage.nesterov, stage.weight_decay, stage.lr) == (
                "sgd", 0.9, True, 1e-4, 0.1)
        if run == "instance-then-ranking":
            assert config.stages[0].lr_mult == {"image.trunk": 0.0} and config.stages[1].lr_mult == {}
