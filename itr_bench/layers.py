"""The core's floors, lowest first, and its public surface: declared once, checked by
tests/core/test_layers.py.

A module may import from its own floor and the floors below it, never from a floor above: the
store never asks the engine, the engine never asks a command. Each sub-package is one floor, and
its folder says which; the modules at the top of the package sit on the floor named here (the
contracts plugins see, the run's config, the two entry points). A new module joins the floor of
its folder; a new top-level module must be added to a floor below, or the test fails.

Public modules keep their import path and their names between versions: they are what plugins
and the scaffold templates import (``itr-bench new-plugin``) and what the plugin docs show.
Every other module is internal: it may move or change without notice, and a plugin under
``plugins/`` that imports one fails the test.
"""

from __future__ import annotations

#: (floor, its members), lowest first. A member is a module or a sub-package (all its modules).
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # what plugins implement and call: contracts, declarations, the registry and its hooks
    ("contracts", ("itr_bench", "itr_bench.errors", "itr_bench.names", "itr_bench.options",
                   "itr_bench.lazy_import", "itr_bench.hookspecs", "itr_bench.loss_contract", "itr_bench.api",
                   "itr_bench.registry", "itr_bench.plugins", "itr_bench.network", "itr_bench.weights",
                   "itr_bench.layers")),
    # ranks, declared metrics, collapse: pure functions of scores and embeddings
    ("metrics", ("itr_bench.metrics",)),
    # a run as declared: its config, overrides, budget, trackers, the pretrained weights it needs,
    # and what makes two configs the same run
    ("config", ("itr_bench.config", "itr_bench.overrides", "itr_bench.budget", "itr_bench.trackers",
                "itr_bench.pretrained", "itr_bench.run_identity")),
    # what a run leaves on disk: atomic writes, locks, the record, per-query results, folder state
    ("store", ("itr_bench.store",)),
    # a dataset prepared into the cache: identity, images, words, subsets, checks
    ("data", ("itr_bench.data",)),
    # the prepared cache fed to a loop: placement, device tensor, streaming workers, batches
    ("feed", ("itr_bench.feed",)),
    # one run: model, objective, training stages, evaluation, checkpoints, provenance
    ("engine", ("itr_bench.engine",)),
    # a suite planned into runs, and the executors that run them
    ("suites", ("itr_bench.suites",)),
    # records read into leaderboards and statistics
    ("results", ("itr_bench.results",)),
    # itr-bench report: runs side by side on the same queries
    ("report", ("itr_bench.report",)),
    # itr-bench tune: equal-budget searches over suites
    ("tuning", ("itr_bench.tuning",)),
    # the command line: one module per command, and the group that gathers them
    ("commands", ("itr_bench.commands", "itr_bench.cli")),
    # the test kit plugin authors load in pytest; it drives components the way the engine does
    ("kit", ("itr_bench.testing",)),
)

#: Modules whose import path and names third parties may rely on, and why each is public.
PUBLIC: dict[str, str] = {
    "itr_bench": "hookimpl, lazy, Search and __version__: what every plugin module imports",
    "itr_bench.api": "the contracts plugins implement (Loss, Dataset, encoders, Tracker, ...)",
    "itr_bench.errors": "ItrBenchError and ConfigError: a plugin's one-line user errors",
    "itr_bench.hookspecs": "the extension points; their docstrings are the plugin reference",
    "itr_bench.lazy_import": "lazy(): factories registered by import path",
    "itr_bench.testing": "the pytest kit for plugin authors (check_loss, check_dataset, ...)",
    "itr_bench.data.text": "words, vocabulary and text shifts for text encoders (encoder-text template)",
    "itr_bench.weights": "read_weights(): reading a checkpoint safely (encoder-image template)",
    "itr_bench.pretrained": "PretrainedWeights: the weights= metadata of a component (hookspecs)",
    "itr_bench.network": "require_network(): a plugin's download refused when the network is off",
    "itr_bench.names": "check_name(): the rule for names that become parts of a path (a dataset's own)",
    "itr_bench.cli": "the itr-bench command (python -m itr_bench.cli under torchrun); run, not imported",
}
