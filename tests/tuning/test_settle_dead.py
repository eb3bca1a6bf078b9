"""Settling the trials a dead process left RUNNING, one case at a time (no training, no timing):
a trial killed while it trained is failed and retried under its parameters; one killed inside its
draw (before it named its host) is failed and not retried, since a partial draw queued again
would run a configuration that was never drawn."""

from __future__ import annotations

import socket

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from itr_bench.store.locking import FolderLock
from itr_bench.tuning.study import HOST, OUTCOME, RETRY_OF, settle_dead

SPACE = {"lr": FloatDistribution(0.01, 0.2, log=True), "temperature": FloatDistribution(0.005, 0.5, log=True)}


@pytest.fixture
def study(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'tune.db'}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return storage, optuna.create_study(storage=storage, study_name="s", sampler=optuna.samplers.RandomSampler(0))


def settle(storage, study, tmp_path, value=None):
    return settle_dead(storage, study, lambda n: tmp_path / f"trial-{n:04d}", lambda trial: value)


def test_a_trial_killed_while_training_is_retried_under_its_parameters(study, tmp_path):
    storage, study = study
    trial = study.ask(SPACE)
    trial.set_user_attr(HOST, socket.gethostname())
    assert settle(storage, study, tmp_path) == [trial.number]
    killed, retry = study.get_trials(deepcopy=False)
    assert killed.state == TrialState.FAIL and killed.user_attrs[OUTCOME] == "killed"
    assert retry.state == TrialState.WAITING and retry.user_attrs[RETRY_OF] == killed.number
    assert study.ask(SPACE).params == killed.params  # the retry is drawn next, all of it fixed


def test_a_trial_killed_inside_its_draw_is_not_retried_with_part_of_it(study, tmp_path):
    storage, study = study
    # what ask leaves when the process dies between storing its first parameter and its second
    trial_id = storage.create_new_trial(storage.get_study_id_from_name(study.study_name))
    storage.set_trial_param(trial_id, "lr", SPACE["lr"].to_internal_repr(0.05), SPACE["lr"])
    [number] = settle(storage, study, tmp_path)
    [killed] = study.get_trials(deepcopy=False)
    assert killed.number == number and killed.state == TrialState.FAIL and killed.user_attrs[OUTCOME] == "killed"
    fresh = study.ask(SPACE)
    assert set(fresh.params) == set(SPACE) and RETRY_OF not in fresh.user_attrs  # a fresh draw, not lr 0.05 fixed


def test_a_dead_trial_whose_record_was_written_is_told_complete(study, tmp_path):
    storage, study = study
    trial = study.ask(SPACE)
    trial.set_user_attr(HOST, socket.gethostname())
    settle(storage, study, tmp_path, value=12.5)
    [done] = study.get_trials(deepcopy=False)
    assert done.state == TrialState.COMPLETE and done.value == 12.5


def test_another_hosts_trial_and_a_live_one_are_left_alone(study, tmp_path):
    storage, study = study
    elsewhere = study.ask(SPACE)
    elsewhere.set_user_attr(HOST, socket.gethostname() + "-other")
    alive = study.ask(SPACE)
    alive.set_user_attr(HOST, socket.gethostname())
    with FolderLock(tmp_path / f"trial-{alive.number:04d}"):
        assert settle(storage, study, tmp_path) == []
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.RUNNING] * 2
