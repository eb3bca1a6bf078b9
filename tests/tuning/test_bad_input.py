"""Bad tuning input: one line naming the file, key or flag, exit 2, before anything trains."""

from __future__ import annotations

import optuna
import pytest
from tiny_tune import one_line, write_suite

CASES = {
    "range outside the declared range": (
        {"space": '"loss_options.infonce.temperature" = { low = -1.0, high = 0.5 }'}, (),
        ["tune.space.'loss_options.infonce.temperature'", "outside the option's declared range"]),
    "log range with a bound <= 0": (
        {"space": '"stages.0.weight_decay" = { low = 0.0, high = 0.01, log = true }'}, (),
        ["tune.space.'stages.0.weight_decay'", "log range needs bounds > 0"]),
    "shared range outside the config's limits": (
        {"space": '"stages.0.momentum" = { low = 0.5, high = 1.5 }'}, (),
        ["stages.0.momentum", "= 1.5", "stages[0].momentum: must be in [0, 1)"]),
    "unknown key in [tune]": ({"tune": "trails = 3"}, (), ["tune.trails: unknown key", "did you mean 'trials'"]),
    "unknown dotted key": (
        {"space": '"stages.0.lrr" = { low = 0.01, high = 0.1 }'}, (), ["'lrr' is not a stage key"]),
    "a budget key": ({"space": '"stages.0.epochs" = { low = 1, high = 3 }'}, (),
                     ["a trial cannot change 'stages.0.epochs'"]),
    "unknown loss option": ({"space": '"loss_options.infonce.temprature" = { low = 0.01, high = 0.1 }'}, (),
                            ["has no option 'temprature'", "did you mean 'temperature'"]),
    "trial seed among the final seeds": ({}, ("--seeds", "0,100"), ["tune.seed: 100 is one of the seeds"]),
    "storage that cannot be opened": ({}, ("--storage", "nosuchdb://x/y"),
                                      ["--storage nosuchdb://x/y: cannot open the study storage"]),
    "pruner": ({"tune": 'pruner = "hyperband"'}, (), ["tune.pruner: 'hyperband' is not one of 'none', 'median'"]),
    "a second trial seed among the final seeds": ({"seed": "[100, 1]"}, (), ["tune.seed: 1 is one of the seeds"]),
    "a repeated trial seed": ({"seed": "[100, 100]"}, (), ["tune.seed: [100, 100] repeats a seed"]),
    "no trial seed": ({"seed": "[]"}, (), ["tune.seed: an empty list"]),
    "a trial seed that is not a number": ({"seed": '[100, "x"]'}, (), ["tune.seed: expected an integer >= 0"]),
    "pruning a trial on several seeds": ({"seed": "[100, 101]", "tune": 'pruner = "median"'}, (),
                                         ["tune.pruner: 'median' prunes on one seed's evaluations"]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_before_any_training(cli, cache, tmp_path, case):
    edits, flags, expected = CASES[case]
    suite = write_suite(tmp_path / "mini.toml", cache, **edits)
    code, _, err = cli("tune", suite, "--store", tmp_path / "runs", *flags)
    line = one_line(err)
    assert code == 2 and all(text in line for text in expected), line
    assert not list(tmp_path.glob("runs/**/trial-*")) and not list(tmp_path.glob("runs/**/record.json"))
    if "--storage" not in flags:
        assert str(suite) in line


def test_a_study_made_by_another_config_is_refused(cli, cache, tmp_path):
    suite = write_suite(tmp_path / "mini.toml", cache)
    store = tmp_path / "runs"
    (store / "mini").mkdir(parents=True)
    url = f"sqlite:///{store / 'mini' / 'tune.db'}"
    optuna.create_study(storage=url, study_name="mini/synthetic/infonce",
                        direction="maximize").set_user_attr("itr_bench_fingerprint", "0123456789abcdef")
    code, _, err = cli("tune", suite, "--store", store)
    line = one_line(err)
    assert code == 2 and "--storage" in line and "was created by another suite config" in line, line
    assert not list(store.glob("**/trial-*"))
