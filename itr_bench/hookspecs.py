"""The extension points of itr-bench. These docstrings are the reference for plugin authors.

A plugin is a module (or object) with functions marked ``@itr_bench.hookimpl`` whose names
are the hooks below. Third-party plugins are found through the ``itr_bench`` entry-point
group::

    [project.entry-points.itr_bench]
    my_loss = "my_package.plugin"

Every ``register_*`` hook receives a ``register`` callback and may call it any number of
times, once per component::

    register(name, factory, *, description=None, **metadata)

``name`` is lower case (``[a-z0-9][a-z0-9_.+-]*``) and unique within its kind: registering a
name another plugin already registered is an error naming both plugins. ``factory`` is a
callable (usually a class) that builds the component; what it is called with is described
per hook. ``description`` defaults to the first line of the factory's docstring; it is shown
by ``itr-bench list``. Extra keyword ``metadata`` is stored with the component.

The factory's keyword parameters after its fixed arguments (the context, the root) are the
component's options, declared once: the annotation is the type, the default the default, the
line under ``Args:`` in the docstring the help, and ``Annotated[float, annotated_types.Ge(0)]``
a range (``itr_bench.options``). ``itr-bench list KIND --options`` shows them and every option a
config gives is checked against them (unknown name, wrong type, out of range) before anything
is built; a factory registered with ``itr_bench.lazy("module:attr")`` is read from its source
for that, without importing it.

Hooks are called lazily, when a registry is first needed, never at import time. Each hook is
called once per implementing plugin, through pluggy, so that ``register`` files what a plugin
registers under that plugin's name: plugins come in pluggy's order (``tryfirst``, then the most
recently registered first, ``trylast`` last) and hook wrappers (``wrapper=True``) run around each
plugin's call, seeing whose call it is (``register.plugin``) and what it registered
(``register.registered``). ``ITR_BENCH_TRACE_PLUGINS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "itr_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


@hookspec
def register_image_encoders(register: Any) -> None:
    """Register image encoders.

    :param register: ``register(name, factory, *, description=None, **metadata)``.

    The factory is called as ``factory(context, **options)`` with an
    :class:`itr_bench.api.EncoderContext` and the options from the run config, and returns an
    :class:`itr_bench.api.ImageEncoder`: an ``nn.Module`` mapping images ``(B, 3, H, W)`` to
    ``(B, D)`` (or an :class:`itr_bench.api.EncoderOutput`).

    Metadata the core reads (encoders of both kinds): ``lr_mult={group prefix: multiplier}``,
    the component's own learning-rate multipliers under every stage's; and
    ``weights=callable(options) -> list[itr_bench.pretrained.PretrainedWeights]``, the
    pretrained weights the options would load, so a run missing them (or freezing a group
    that starts random) is refused at plan time and ``itr-bench fetch-weights`` can fetch them.
    """


@hookspec
def register_text_encoders(register: Any) -> None:
    """Register text encoders.

    :param register: ``register(name, factory, *, description=None, **metadata)``.

    The factory is called as ``factory(context, **options)`` with an
    :class:`itr_bench.api.EncoderContext` (which carries the training captions, so word-level
    encoders can build their vocabulary from the training split only) and returns an
    :class:`itr_bench.api.TextEncoder`: an ``nn.Module`` with a ``tokenizer`` that maps token
    ids ``(B, L)`` to ``(B, D)`` (or an :class:`itr_bench.api.EncoderOutput`).
    """


# --------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------


@hookspec
def register_losses(register: Any) -> None:
    """Register losses.

    :param register: ``register(name, factory, *, description=None, **metadata)``.

    The factory is called as ``factory(context, **options)`` with an
    :class:`itr_bench.api.LossContext` and returns an :class:`itr_bench.api.Loss` (an
    ``nn.Module`` whose ``forward(image, text, instance_ids)`` returns a dict of named loss
    terms). Subclassing :class:`itr_bench.api.Loss` gives input validation for free.
    ``layout="anchors-then-negatives"`` (or ``{option: {value: layout}}`` when an option picks
    the class) declares the loss's batch layout for ``--dry-run`` where its source does not
    state it (:mod:`itr_bench.loss_contract`).
    """


@hookspec
def register_negative_samplers(register: Any) -> None:
    """Register negative samplers: who fills the negative half of a paired batch.

    :param register: ``register(name, factory, *, description=None, **metadata)``.

    The factory is called as ``factory(**options)`` with the run's ``negative_options`` and
    returns an :class:`itr_bench.api.NegativeSampler`. A loss whose ``layout`` is
    ``BatchLayout.ANCHORS_THEN_NEGATIVES`` trains on batches whose slot ``B/2 + k`` holds the
    pair the sampler chose for anchor k; the run names the sampler (``negatives``) or the
    dataset's hint ``negatives`` does.
    """


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@hookspec
def register_datasets(register: Any) -> None:
    """Register datasets.

    :param register: ``register(name, factory, *, description=None, **metadata)``.

    The factory is called as ``factory(root, **options)`` with the local root folder (a
    ``pathlib.Path``, or ``None`` for datasets that need no files) and returns an
    :class:`itr_bench.api.Dataset`. A dataset reads local files only: nothing may be
    downloaded at run or test time.
    """


# --------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------


@hookspec
def register_suites(register: Any) -> None:
    """Register benchmark suites.

    :param register: ``register(name, factory, *, description=None, **metadata)``.

    The factory is called with no arguments and returns the suite definition: a mapping in
    the same shape as a suite TOML file (``suite``, ``defaults``, ``runs``), or a path to
    such a file.
    """


@hookspec
def register_trackers(register: Any) -> None:
    """Register experiment trackers: where a run's curves go (TensorBoard, MLflow, W&B, ...).

    :param register: ``register(name, factory, *, description=None, **metadata)``.

    The factory is called as ``factory()`` on the first process of a run chosen with
    ``--report-to NAME`` (or a suite's ``report_to``) and returns an
    :class:`itr_bench.api.Tracker`, told about the run (:class:`itr_bench.api.TrackedRun`), fed
    training scalars at the logging interval, validation metrics per evaluation, and at the end
    the test metrics and the flattened run config. Choosing trackers never changes a run's
    identity or its numbers.

    Metadata the core reads: ``requires={"module": "pip requirement"}``, the modules the tracker
    imports; one that is missing refuses the run before anything trains, with one line naming
    the requirement to install (``pip install 'itr-bench[tensorboard]'``).
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``itr-bench`` command line.

    :param cli: the root :class:`click.Group`; add commands with ``@cli.command()``.

    Called once when the CLI starts, after the built-in commands exist. A command name that
    already exists is an error.
    """
