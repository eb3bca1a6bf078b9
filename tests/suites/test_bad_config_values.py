"""Invalid values are refused when a config is read: by ``train`` and by ``run --dry-run``.

A corpus in the style of tests/datasets/test_bad_input.py: one case, one expected line. Each
case is a run-config fragment; it is tried as a suite's run (``itr-bench run --dry-run``, key
``runs[0].KEY``) and as a ``train`` config (key ``KEY``). Nothing is trained or written.
"""

import pytest

from itr_bench.cli import main

SUITE = """
[suite]
name = "{suite}"
datasets = ["{dataset}"]
seeds = [0]

[defaults]
image_encoder = "dualpath-image"
text_encoder = "dualpath-textcnn"
device = "cpu"
{run}

[[runs]]
name = "{name}"

[[runs.stages]]
{stage}
"""

TRAIN = """
[run]
name = "{name}"
dataset = "synthetic"
image_encoder = "dualpath-image"
text_encoder = "dualpath-textcnn"
device = "cpu"
{run}

[[stages]]
{stage}
"""


def stage(fragment=""):
    """A valid stage with ``fragment`` added (or replacing its epochs or losses line)."""
    lines = {"epochs": "epochs = 1", "losses": "losses = { instance = 1.0 }"}
    key = fragment.split("=")[0].strip()
    return "\n".join([line for name, line in lines.items() if name != key] + [fragment])

#: case -> (run-level TOML, stage-level TOML, expected "KEY: cause").
VALUES = {
    "negative grad_clip": ("", "grad_clip = -1", "stages[0].grad_clip: must be positive, got -1.0"),
    "zero grad_clip": ("", "grad_clip = 0", "stages[0].grad_clip: must be positive, got 0.0"),
    "nan grad_clip": ("", "grad_clip = nan", "stages[0].grad_clip: must be a finite number, got nan"),
    "nan lr": ("", "lr = nan", "stages[0].lr: must be a finite number, got nan"),
    "inf lr": ("", "lr = inf", "stages[0].lr: must be a finite number, got inf"),
    "zero lr": ("", "lr = 0", "stages[0].lr: must be positive, got 0.0"),
    "negative lr": ("", "lr = -0.1", "stages[0].lr: must be positive, got -0.1"),
    "nan momentum": ("", "momentum = nan", "stages[0].momentum: must be a finite number, got nan"),
    "momentum 1": ("", "momentum = 1.0", "stages[0].momentum: must be in [0, 1), got 1.0"),
    "negative momentum": ("", "momentum = -0.5", "stages[0].momentum: must be in [0, 1), got -0.5"),
    "nesterov without momentum": ("", "momentum = 0.0", "stages[0].nesterov: Nesterov SGD needs momentum > 0"),
    "inf weight decay": ("", "weight_decay = inf", "stages[0].weight_decay: must be a finite number, got inf"),
    "negative weight decay": ("", "weight_decay = -1e-4", "stages[0].weight_decay: must be zero or positive"),
    "nan lr_decay": ("", "lr_decay = nan", "stages[0].lr_decay: must be a finite number"),
    "zero lr_decay": ("", "lr_decay = 0.0", "stages[0].lr_decay: must be in (0, 1], got 0.0"),
    "growing lr_decay": ("", "lr_decay = 10.0", "stages[0].lr_decay: must be in (0, 1], got 10.0"),
    "nan loss weight": ("", "losses = { instance = nan }", "stages[0].losses.instance: must be a finite number"),
    "inf loss weight": ("", "losses = { instance = inf }", "stages[0].losses.instance: must be a finite number"),
    "negative loss weight": ("", "losses = { instance = -1.0 }", "stages[0].losses.instance: must be zero or positive"),
    "only zero loss weights": ("", "losses = { instance = 0.0 }",
                               "stages[0].losses: a stage needs at least one loss with a positive weight"),
    "nan term weight": ("", "term_weights = { instance_text = nan }",
                        "stages[0].term_weights.instance_text: must be a finite number"),
    "inf lr_mult": ("", 'lr_mult = { "image.trunk" = inf }', "stages[0].lr_mult.image.trunk: must be a finite number"),
    "zero epochs": ("", "epochs = 0", "stages[0].epochs: must be positive, got 0"),
    "lr step 0": ("", "lr_steps = [0]", "stages[0].lr_steps[0]: must be positive, got 0"),
    "zero embed_dim": ("embed_dim = 0", "", "embed_dim: must be in [1, 65536], got 0"),
    "huge embed_dim": ("embed_dim = 10000000", "", "embed_dim: must be in [1, 65536], got 10000000"),
    "huge image_size": ("image_size = 100000", "", "image_size: must be in [8, 4096], got 100000"),
    "tiny image_size": ("image_size = 4", "", "image_size: must be in [8, 4096], got 4"),
    "zero batch_size": ("batch_size = 0", "", "batch_size: must be positive, got 0"),
    "zero eval_every": ("eval_every = 0", "", "eval_every: must be positive, got 0"),
    "zero samples_per_identity": ("samples_per_identity = 0", "", "samples_per_identity: must be positive, got 0"),
    "negative workers": ("workers = -1", "", "workers: must be in [0, 1024], got -1"),
    "misspelled loss in loss_options": ("loss_options = { rankng = { margin = 0.2 } }", "",
                                        "loss_options.rankng: unknown loss 'rankng': did you mean 'ranking'?"),
    "misspelled option of a loss": ("loss_options = { instance = { tmperature = 1.0 } }", "",
                                    "loss_options.instance.tmperature: loss 'instance' (plugin 'itr_bench_losses') takes no option "
                                    "'tmperature'"),
    "misspelled text option": ('text_options = { word2vek = "train" }', "",
                               "text_options.word2vek: text encoder 'dualpath-textcnn' (plugin 'itr_bench_dualpath') takes no "
                               "option 'word2vek', "
                               "did you mean 'word2vec' or"),
    "misspelled image option": ("image_options = { backbon = 'resnet18' }", "",
                                "image_options.backbon: image encoder 'dualpath-image' (plugin 'itr_bench_dualpath') takes no "
                                "option 'backbon', "
                                "did you mean 'backbone'?"),
    "misspelled ranking option": ("loss_options = { ranking = { margn = 0.5 } }", "",
                                  "loss_options.ranking.margn: loss 'ranking' (plugin 'itr_bench_losses') takes no "
                                  "option 'margn', did you mean 'margin'?"),
    "wrong-typed loss option": ('loss_options = { instance = { image_weight = "heavy" } }', "",
                                "loss_options.instance.image_weight: loss 'instance' (plugin 'itr_bench_losses'): "
                                "expected a number, got 'heavy' (a string)"),
    "wrong-typed image option": ('image_options = { width = "half" }', "",
                                 "image_options.width: image encoder 'dualpath-image' (plugin 'itr_bench_dualpath'): "
                                 "expected a number, got 'half' (a string)"),
    "wrong-typed text option": ("text_options = { blocks = [1, 1.5] }", "",
                                "text_options.blocks[1]: text encoder 'dualpath-textcnn' (plugin 'itr_bench_dualpath'): "
                                "expected an integer, got 1.5 (a number)"),
    "misspelled negative sampler option": ('negatives = "hardest"\nnegative_options = { candidate = 8 }', "",
                                           "negative_options.candidate: negative sampler 'hardest' (plugin "
                                           "'itr_bench_losses') takes no option 'candidate', did you mean 'candidates'?"),
    "wrong-typed dataset option": ('dataset_options = { train = "many" }', "",
                                   "dataset_options.train: dataset 'synthetic' (plugin 'itr_bench_datasets'): expected "
                                   "an integer, got 'many' (a string)"),
    "misspelled dataset option": ("dataset_options = { trian = 32 }", "",
                                  "dataset_options.trian: dataset 'synthetic' (plugin 'itr_bench_datasets') takes no option "
                                  "'trian'"),
}

#: the suite's seeds replace a run's seed, so these are tried by ``train`` (and as suite seeds below).
SEEDS = {
    "negative seed": ("seed = -1", "", "seed: must be in [0, 4294967295], got -1"),
    "seed beyond 32 bits": ("seed = 4294967296", "", "seed: must be in [0, 4294967295], got 4294967296"),
}

#: tiny settings, so that even a regression that let a bad name through would train in seconds
TINY = """dataset_options = { train = 16, val = 8, test = 8, image_size = 16 }
image_options = { backbone = "resnet18", width = 0.0625 }
text_options = { width = 0.0625, blocks = [1, 1, 1, 1] }
image_size = 16
untrained_baseline = false"""

#: case -> (suite name, dataset, run name, expected "KEY: cause"), for names that become path parts.
NAMES = {
    "run escapes the store": ("bad", "synthetic", "../../../x", "runs[0].name: '../../../x' is not a valid name"),
    "absolute run": ("bad", "synthetic", "{tmp}/abs", "runs[0].name: '{tmp}/abs' is not a valid name"),
    "run with a separator": ("bad", "synthetic", "a/b", "runs[0].name: 'a/b' is not a valid name"),
    "run named ..": ("bad", "synthetic", "..", "runs[0].name: '..' is not a valid name"),
    "suite escapes the store": ("../../x", "synthetic", "r", "suite.name: '../../x' is not a valid name"),
    "absolute suite": ("{tmp}/abs", "synthetic", "r", "suite.name: '{tmp}/abs' is not a valid name"),
    "dataset escapes the store": ("bad", "../x", "r", "suite.datasets: '../x' is not a valid name"),
}


def one_line(capsys, code, path, fragment):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("itr-bench: error: ") and "Traceback" not in err, err
    assert f"{path}: {fragment}" in err, err


def tree(folder):
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize("case", VALUES)
def test_run_dry_run_refuses(tmp_path, capsys, case):
    run, fragment_, fragment = VALUES[case]
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.format(suite="bad", dataset="synthetic", name="r", run=run, stage=stage(fragment_)))
    code = main(["run", str(path), "--dry-run", "--store", str(tmp_path / "store")])
    one_line(capsys, code, path, f"run 'r': runs[0].{fragment}")
    assert tree(tmp_path) == [path]


@pytest.mark.parametrize("case", {**VALUES, **SEEDS})
def test_train_refuses(tmp_path, capsys, case):
    run, fragment_, fragment = {**VALUES, **SEEDS}[case]
    path = tmp_path / "bad.toml"
    path.write_text(TRAIN.format(name="r", run=run, stage=stage(fragment_)))
    code = main(["train", str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    one_line(capsys, code, path, fragment)
    assert tree(tmp_path) == [path]


@pytest.mark.parametrize("case", NAMES)
def test_unsafe_names_are_refused_before_anything_is_written(tmp_path, capsys, case):
    suite, dataset, name, fragment = (part.format(tmp=tmp_path) for part in NAMES[case])
    path = tmp_path / "deep" / "er" / "bad.toml"
    path.parent.mkdir(parents=True)
    path.write_text(SUITE.format(suite=suite, dataset=dataset, name=name, run=TINY, stage=stage()))
    for extra in (["--dry-run"], []):
        code = main(["run", str(path), "--store", str(tmp_path / "deep" / "er" / "store"), "--no-progress", *extra])
        one_line(capsys, code, path, fragment)
        assert tree(tmp_path) == [tmp_path / "deep", tmp_path / "deep" / "er", path]


def test_train_refuses_an_unsafe_run_name(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(TRAIN.format(name="../../x", run="", stage=stage()))
    code = main(["train", str(path), "--out", str(tmp_path / "out")])
    one_line(capsys, code, path, "name: '../../x' is not a valid name")


@pytest.mark.parametrize("option, fragment", [("image_size=100000", "image_size: must be in [8, 4096], got 100000"),
                                              ("embed_dim=NaN", "embed_dim: expected an integer or nothing, got nan (a number)"),
                                              ("batch_size=0", "batch_size: must be positive, got 0")])
def test_set_on_the_command_line_is_checked_too(tmp_path, capsys, option, fragment):
    """The error names the flag and its value, not the suite file that did not say it."""
    path = tmp_path / "ok.toml"
    path.write_text(SUITE.format(suite="ok", dataset="synthetic", name="r", run="", stage=stage()))
    code = main(["run", str(path), "--dry-run", "--store", str(tmp_path / "store"), "--set", option])
    one_line(capsys, code, f"--set {option}", fragment)


@pytest.mark.parametrize("seeds, fragment", [("[-1]", "run 'r': runs[0].seed: must be in [0, 4294967295], got -1"),
                                             ("[0, 4294967296]", "run 'r': runs[0].seed: must be in [0, 4294967295]")])
def test_suite_seeds_are_checked(tmp_path, capsys, seeds, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.format(suite="bad", dataset="synthetic", name="r", run="", stage=stage())
                    .replace("seeds = [0]", f"seeds = {seeds}"))
    code = main(["run", str(path), "--dry-run", "--store", str(tmp_path / "store")])
    one_line(capsys, code, path, fragment)


def test_a_good_suite_still_passes_dry_run(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text(SUITE.format(suite="ok", dataset="synthetic", name="r",
                                 run="loss_options = { ranking = { margin = 0.2 } }\nembed_dim = 64",
                                 stage=stage("grad_clip = 2.0\nmomentum = 0.0\nnesterov = false")))
    assert main(["run", str(path), "--dry-run", "--store", str(tmp_path / "store")]) == 0
    assert "todo  synthetic/r/seed-0" in capsys.readouterr().out


def test_every_numeric_config_field_declares_its_limits():
    """Each int or float field (or the numbers of a table or list) states its limits in its
    annotation, where the one checker (itr_bench.options.value_problem) reads them."""
    import dataclasses
    import types
    import typing

    from itr_bench.config import RunConfig, StageConfig
    from itr_bench.options import constraints

    def numbers(kind):
        """The declarations of the numbers inside ``kind`` (``Annotated[int, ...]`` for ``list[...]``)."""
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin is typing.Annotated:
            return [kind] if args[0] in (int, float) else numbers(args[0])
        if kind in (int, float):
            return [kind]
        return [n for arg in args if arg is not type(None) for n in numbers(arg)] if origin in (
            list, dict, typing.Union, types.UnionType) else []

    checked = 0
    for cls in (RunConfig, StageConfig):
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            for number in numbers(hints[f.name]):
                assert constraints(number), f"{cls.__name__}.{f.name} declares no limits"
                checked += 1
    assert checked >= 20
