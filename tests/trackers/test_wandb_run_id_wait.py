"""A resume right after a kill: W&B's service process of the killed run may still hold the run id for a
moment; the W&B tracker waits for it rather than failing the resumed run."""

import pytest
from itr_bench_trackers import wandb_tracker


class FakeWandb:
    def __init__(self, busy_times):
        self.busy_times, self.calls = busy_times, 0

    def init(self, **options):
        self.calls += 1
        if self.calls <= self.busy_times:
            raise RuntimeError(f"run ID {options['id']} is in use")
        return "run"


def test_waits_while_the_run_id_is_in_use(monkeypatch):
    monkeypatch.setattr(wandb_tracker.time, "sleep", lambda seconds: None)
    fake = FakeWandb(busy_times=3)
    assert wandb_tracker.init_when_free(fake, {"id": "abc"}) == "run" and fake.calls == 4


def test_other_errors_and_a_run_id_held_too_long_are_raised(monkeypatch):
    monkeypatch.setattr(wandb_tracker.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(wandb_tracker, "RUN_ID_WAIT_SECONDS", -1.0)
    with pytest.raises(RuntimeError, match="in use"):
        wandb_tracker.init_when_free(FakeWandb(busy_times=1), {"id": "abc"})

    class Broken:
        def init(self, **options):
            raise ValueError("bad project name")

    with pytest.raises(ValueError, match="bad project"):
        wandb_tracker.init_when_free(Broken(), {"id": "abc"})
