"""Every committed suite names the run its leaderboard compares with: never a run chosen by the
alphabet (tests/core/test_example_plugin.py: an each_loss suite's built-in reference)."""


def test_every_committed_suite_names_its_baseline(registry):
    from pathlib import Path

    from itr_bench.config import read_toml

    root = Path(__file__).resolve().parents[2]
    suites = sorted((root / "plugins" / "itr_bench_dualpath" / "suites").glob("*.toml"))
    suites += sorted((root / "leaderboards" / "configs").glob("*.toml"))
    assert len(suites) >= 6
    for path in suites:
        data = read_toml(path)
        names = [run.get("name") for run in data["runs"]]
        assert data["suite"].get("baseline") in names or (
            data["runs"][0].get("each_loss") and data["suite"].get("baseline") == "ranking"), path


def test_registered_descriptions_state_the_suites_seed_counts(registry):
    """A description that names a seed count names the suite's own (the quickstart's said 3, ran 4)."""
    import re

    from itr_bench.suites.plan import load_suite

    checked = 0
    for info in registry.list("suite"):
        said = re.search(r"(\d+) seeds", info.description or "")
        if said:
            data, _ = load_suite(info.name, registry)
            assert int(said.group(1)) == len(data["suite"]["seeds"]), info.name
            checked += 1
    assert checked >= 1
