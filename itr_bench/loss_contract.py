"""What a loss declares about itself, readable without torch: the enums of :class:`itr_bench.api.Loss`
and what plan time can know from a registration.

:class:`~itr_bench.api.Loss` states its contract in four class attributes (``inputs``,
``reduction``, ``gathering``, ``layout``; see its docstring). The engine reads them from the built
loss. ``itr-bench run --dry-run`` must refuse a run that cannot train before any data is
prepared, so this module answers from the registration alone, never importing the loss module:

* a ``layout=`` given when registering (a :class:`BatchLayout` value, or ``{option: {value:
  layout}}`` when an option picks it, as the ranking loss's ``form`` does);
* else the loss class's own ``layout = BatchLayout.X`` line read from its source (``PAIRS`` when
  the class derives from ``Loss`` directly and sets none);
* else nothing: only the built loss knows, and the run is checked when it is built.

A dataset's ``hints`` are read the same way (its class-level ``hints = {...}``), so plan time also
knows whether the dataset names a negative sampler.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, RegistryError
from .lazy_import import LazyFactory
from .options import REQUIRED, read_class_body


class Inputs(str, enum.Enum):
    """Which view of the encoder outputs a loss consumes.

    Retrieval is scored on the L2-normalised ``embedding``. A loss should train on that tensor
    (``NORMALIZED`` or ``EMBEDDING``) unless its reference feeds it something else: only then
    ``FEATURES``, whose ReLU (for the paper's encoders) gives the embedding's negative
    coordinates no gradient from that loss.
    """

    #: L2-normalised ``embedding`` (cosine-similarity losses); no dropout.
    NORMALIZED = "normalized"
    #: The ``embedding`` itself, not normalised (losses that use its norm, e.g. CMPM's scalar
    #: projections); no dropout.
    EMBEDDING = "embedding"
    #: The encoder's classifier input ``features`` (the paper's encoders: ReLU + dropout of the
    #: embedding, for its instance loss; a plain-tensor encoder: the embedding itself).
    FEATURES = "features"


class Gathering(str, enum.Enum):
    """How a loss behaves under data parallelism: whether its terms need other processes' samples.

    (Not to be confused with the *negative sampler* that fills a paired batch, the run's
    ``negatives``; see :class:`BatchLayout`.)
    """

    #: Each sample's term depends on that sample only: no features need to cross processes.
    LOCAL = "local"
    #: Terms compare against other samples of the batch: features are gathered from every
    #: process (with gradients) so the global batch is the negative pool.
    GATHERED = "gathered"


#: The former name of :class:`Gathering` (deprecated; plugins written against it keep working).
Negatives = Gathering
#: The loss attribute that declares its :class:`Gathering`, and its former, deprecated name.
GATHERING, FORMER_GATHERING = "gathering", "negatives"


def declared_gathering(loss: Any) -> Any:
    """What the loss declares as its :class:`Gathering`, as written: its ``gathering``, or
    ``negatives`` where a plugin written before the rename sets that one (on its class, or on the
    instance in ``__init__`` when an option picks it)."""
    own = vars(loss)
    for name in (GATHERING, FORMER_GATHERING):
        if name in own:
            return own[name]
    return getattr(type(loss), GATHERING, Gathering.GATHERED)


def gathering_of(loss: Any) -> Gathering:
    """The loss's :class:`Gathering` (:func:`declared_gathering`)."""
    return Gathering(declared_gathering(loss))


class BatchLayout(str, enum.Enum):
    """How a loss reads the batch it is given."""

    #: Every pair is an anchor; whatever negatives the loss uses come from the batch itself.
    PAIRS = "pairs"
    #: The first half are anchors and the pair in slot ``B/2 + k`` is anchor k's negative: the
    #: engine fills that half with the run's :class:`~itr_bench.api.NegativeSampler` (so a run
    #: with such a loss and no sampler is refused). Both halves are real pairs with their own ids.
    ANCHORS_THEN_NEGATIVES = "anchors-then-negatives"


#: The registration metadata key of a loss's declared layout.
LAYOUT = "layout"


def declared_layout(info: Any, options: Mapping[str, Any]) -> BatchLayout | None:
    """The layout the registered loss ``info`` will have when built with ``options``, or None
    when only the built loss can tell."""
    declared = info.metadata.get(LAYOUT)
    if declared is None:
        return _class_layout(info.factory)
    if isinstance(declared, Mapping):
        for option, table in declared.items():
            value = options.get(option, _default(info, option))
            if value in table:
                return BatchLayout(table[value])
        return None
    return BatchLayout(declared)


def check_declared_layout(info: Any, options: Mapping[str, Any], loss: Any) -> None:
    """A layout declared for plan time (:func:`declared_layout`) is the built loss's; a declaration
    that says otherwise would let plan time pass runs the build refuses, or the reverse."""
    declared = declared_layout(info, options)
    built = BatchLayout(getattr(loss, LAYOUT, BatchLayout.PAIRS))
    if declared is not None and declared is not built:
        raise RegistryError(f"{info.label} declares layout {declared.value!r} for options {dict(options)}, but the "
                            f"built loss has {built.value!r}; fix the registration's layout= or the class's layout")


def _default(info: Any, option: str) -> Any:
    found = info.options.get(option)
    return None if found is None or found.default is REQUIRED else found.default


def _live(factory: Any) -> Any:
    """The factory object itself when it is at hand without an import (a plain factory, or a lazy
    one whose module was imported already), else the :class:`LazyFactory` to read from source."""
    if isinstance(factory, LazyFactory):
        return factory.loaded() or factory
    return getattr(factory, "func", factory)


def _class_layout(factory: Any) -> BatchLayout | None:
    factory = _live(factory)
    if not isinstance(factory, LazyFactory):
        layout = getattr(factory, LAYOUT, None) if isinstance(factory, type) else None
        return None if layout is None else BatchLayout(layout)
    body = read_class_body(factory.target)
    if body is None:
        return None
    bases, values = body
    node = values.get(LAYOUT)
    if node is None:
        return BatchLayout.PAIRS if LAYOUT not in values and bases == ["Loss"] else None
    if isinstance(node, ast.Attribute) and node.attr in BatchLayout.__members__:
        return BatchLayout[node.attr]
    if isinstance(node, ast.Constant) and node.value in {m.value for m in BatchLayout}:
        return BatchLayout(node.value)
    return None


def declared_hints(info: Any) -> Mapping[str, Any] | None:
    """A registered dataset's class-level ``hints``, or None when only the built dataset knows
    (a factory function, hints computed from the data)."""
    factory = _live(info.factory)
    if not isinstance(factory, LazyFactory):
        hints = getattr(factory, "hints", None) if isinstance(factory, type) else None
        return hints if isinstance(hints, Mapping) else None
    body = read_class_body(factory.target)
    if body is None:
        return None
    bases, values = body
    if "hints" not in values:
        return {} if bases == ["Dataset"] else None
    try:
        hints = ast.literal_eval(values["hints"]) if values["hints"] is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return hints if isinstance(hints, Mapping) else None


def check_paired(config: Any, users: list[str], sampler: str | None, names: list[str], where: str,
                 path: str = "") -> None:
    """A run whose losses ``users`` read anchor k's negative from slot B/2+k must name a negative
    sampler (``sampler``: the run's, else the dataset's hint), feed anchors from the epoch sampler
    and have an even batch; otherwise one :class:`ConfigError` line."""
    if not users:
        return
    prefix = f"{path}." if path else ""
    if sampler is None:
        raise ConfigError(f"{where}: {prefix}negatives: loss {users[0]!r} takes anchor k's negative from slot B/2+k "
                          f"of the batch, and neither the run nor dataset {config.dataset!r} names a "
                          f"negative sampler; set negatives to one of: {', '.join(names)}")
    if config.sampler != "epoch":
        raise ConfigError(f"{where}: {prefix}sampler: loss {users[0]!r} needs anchors from the epoch sampler to pair "
                          f"with negatives; set sampler = \"epoch\"")
    if config.batch_size % 2:
        raise ConfigError(f"{where}: {prefix}batch_size: loss {users[0]!r} pairs the batch's halves, so batch_size "
                          f"must be even, got {config.batch_size}")


def check_plan(config: Any, registry: Any, where: str, path: str = "") -> None:
    """:func:`check_paired` from the registrations alone, when they tell (see the module docstring)."""
    users = sorted({loss for stage in config.stages for loss in stage.losses
                    if declared_layout(registry.get("loss", loss), config.loss_options.get(loss, {}))
                    is BatchLayout.ANCHORS_THEN_NEGATIVES})
    if not users:
        return
    sampler = config.negatives
    if sampler is None:
        hints = declared_hints(registry.get("dataset", config.dataset))
        if hints is None:
            return  # the dataset's hints are known once it is built; checked then
        sampler = hints.get("negatives")
    check_paired(config, users, sampler, registry.names("negative_sampler"), where, path)
