"""The contracts plugins implement: datasets, encoders, losses and experiment trackers.

The core only ever talks to components through these types, so it never needs to know a
concrete model, loss or dataset. Factories are called as described in ``hookspecs.py``.
"""

from __future__ import annotations

import abc
import enum
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, runtime_checkable
from typing import Protocol as TypingProtocol

import torch
from torch import Tensor, nn

from .errors import ItrBenchError
from .loss_contract import FORMER_GATHERING, GATHERING, BatchLayout, Gathering, Inputs, Negatives  # noqa: F401
from .options import Search

# ============================================================================================
# Data
# ============================================================================================


class Protocol(str, enum.Enum):
    """How a split is evaluated."""

    #: A caption matches exactly its own image (Flickr, COCO); both directions are scored.
    IMAGE_CAPTION = "image-caption"
    #: A caption matches every image of the same identity (CUHK-PEDES); text to image only.
    IDENTITY = "identity"


@dataclass(frozen=True)
class TextSpec:
    """How a dataset's captions are cut into words (the paper's rules differ per dataset).

    The paper splits on ``- space . , ( )`` (plus ``?`` for COCO), matches words case-sensitively
    and keeps at most 32 words (56 for CUHK-PEDES).
    """

    separators: str = " -.,()"
    lowercase: bool = False
    max_words: int = 32


@dataclass(frozen=True)
class Sample:
    """One image with its captions."""

    #: Path to an encoded image file, or the encoded bytes themselves.
    image: Path | bytes
    captions: tuple[str, ...]
    #: The class for instance-style losses: the image (Flickr/COCO) or the person (CUHK-PEDES).
    instance_id: int
    #: A stable key for the image (its file name), used in error messages and caches.
    image_id: str


@dataclass(frozen=True)
class Split:
    """A list of samples plus how it is evaluated."""

    name: str
    samples: Sequence[Sample]
    protocol: Protocol = Protocol.IMAGE_CAPTION
    #: Evaluate on ``folds`` equal consecutive parts of the images and average (COCO 1K: 5).
    folds: int = 1

    @property
    def num_captions(self) -> int:
        return sum(len(s.captions) for s in self.samples)

    @property
    def num_instances(self) -> int:
        return len({s.instance_id for s in self.samples})


class Dataset(abc.ABC):
    """A retrieval dataset read from a local root; nothing is ever downloaded.

    Subclasses set ``text`` (tokenisation rules) and may set ``hints``: the hyperparameters
    the paper used for this dataset (``dropout``, ...), which encoders may read from their
    :class:`EncoderContext`. The hint ``negatives`` names the registered negative sampler a
    loss with :attr:`BatchLayout.ANCHORS_THEN_NEGATIVES` uses on this dataset unless the run
    names one.

    ``flip_safe`` says whether a horizontally flipped image still fits its captions. A dataset
    whose captions name left and right sets it False, and the training view then crops without
    flipping (a flipped image would be trained against a caption that now lies).
    """

    text: ClassVar[TextSpec] = TextSpec()
    hints: ClassVar[Mapping[str, Any]] = {}
    flip_safe: ClassVar[bool] = True
    #: The name results, records and leaderboards carry; None: the name it was registered
    #: under. A dataset that reads the user's own data sets it from an option, so their
    #: results are labelled with their data and not with the loader's name.
    name: str | None = None

    @abc.abstractmethod
    def splits(self) -> Mapping[str, Split]:
        """The splits by name (``train``, ``val``, ``test``; more are allowed)."""

    def split(self, name: str) -> Split:
        from .errors import did_you_mean

        splits = self.splits()
        if name not in splits:
            raise ItrBenchError(f"{type(self).__name__} has no split {name!r}: {did_you_mean(name, splits)}")
        return splits[name]

    #: True for a dataset that generates its samples and reads no files (the synthetic one): its
    #: fingerprint alone identifies its data (:mod:`itr_bench.data.identity`), so it is not
    #: rendered just to fingerprint it.
    generated: ClassVar[bool] = False

    def fingerprint(self) -> str:
        """A string that changes when the source data or the options change (cache key). The
        run's data identity adds every sample's captions and image file stamps to it."""
        return type(self).__qualname__

    def label(self, registered: str) -> str:
        """The name results carry: :attr:`name` when set, else ``registered``.

        It becomes part of leaderboard file names, hence the rule of :mod:`itr_bench.names`.
        """
        from .names import check_name

        return registered if self.name is None else check_name(self.name, f"dataset {registered!r}", "name")


# ============================================================================================
# Encoders
# ============================================================================================


class EncoderOutput(NamedTuple):
    """What an encoder returns when the retrieval embedding and classifier input differ.

    The paper compares L2-normalised pre-ReLU BN outputs (``embedding``) but feeds the shared
    instance classifier the ReLU + dropout of it (``features``). Encoders that return a plain
    tensor use it for both.
    """

    embedding: Tensor
    features: Tensor


def as_encoder_output(output: Tensor | EncoderOutput) -> EncoderOutput:
    """Normalise an encoder's return value to an :class:`EncoderOutput`."""
    if isinstance(output, EncoderOutput):
        return output
    return EncoderOutput(output, output)


@dataclass(frozen=True)
class EncoderContext:
    """What an encoder factory may need to know about the run."""

    #: The common embedding size D, or None for the encoder's natural width.
    embed_dim: int | None = None
    #: Captions of the training split only (word-level encoders build their vocabulary here).
    train_captions: Sequence[str] = ()
    text: TextSpec = TextSpec()
    image_size: int = 224
    #: The dataset's hints (see :class:`Dataset`).
    hints: Mapping[str, Any] = field(default_factory=dict)
    #: The run seed: every random choice an encoder makes while it is built (weights, word
    #: vectors trained on the captions, ...) must derive from it, so seed k is one fixed draw.
    seed: int = 0


@runtime_checkable
class Tokenizer(TypingProtocol):
    """Turns captions into a ``(B, L)`` LongTensor of token ids (0 is padding)."""

    max_length: int

    def __call__(self, captions: Sequence[str]) -> Tensor: ...


class _Encoder(nn.Module):
    """Shared part of the encoder contracts."""

    #: Width D of the output.
    output_dim: int
    #: Prefix of this encoder's parameter groups (``image`` / ``text``).
    group_prefix: ClassVar[str] = ""

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by group name, for per-module learning-rate multipliers.

        Names are dotted (``image.trunk``, ``image.head``); a multiplier set for ``image``
        applies to every ``image.*`` group. The default is a single group.
        """
        return {self.group_prefix: [p for p in self.parameters()]}

    def provenance(self) -> dict[str, Any]:
        """What this encoder did while it was built that a run record must state (JSON-friendly).

        For example where its initial word vectors came from and the seed they were trained
        with. The default states nothing beyond the run config.
        """
        return {}

    def features_view(self) -> str:
        """What the ``features`` view is, in a few words, for run records and leaderboards.

        A reader must see what a ``FEATURES`` loss trained on (the paper's encoders: ``ReLU +
        dropout 0.75``). The default, for encoders returning a plain tensor, is the embedding.
        """
        return "embedding"

    def weight_sources(self) -> dict[str, str]:
        """Group -> the file its pretrained weights were loaded from, or ``"random"``.

        Run records list each file with its sha256. The default, an empty dict, declares
        nothing; encoders that may load pretrained weights report every such group.
        """
        return {}

    def test_time_embedding(self, inputs: Tensor) -> Tensor:
        """The embedding used for evaluation with test-time augmentation switched on.

        The default is the plain embedding; encoders override it (the paper sums an image's
        features with its horizontal flip, and a sentence's over every start position).
        """
        return as_encoder_output(self(inputs)).embedding


class ImageEncoder(_Encoder):
    """Images ``(B, 3, H, W)`` -> ``(B, D)`` or :class:`EncoderOutput`."""

    group_prefix = "image"


class TextEncoder(_Encoder):
    """Token ids ``(B, L)`` from ``self.tokenizer`` -> ``(B, D)`` or :class:`EncoderOutput`."""

    group_prefix = "text"
    tokenizer: Tokenizer
    #: What :meth:`augment_ids` does to training text, named for run records ("none": nothing).
    text_augmentation: ClassVar[str] = "none"

    def augment_ids(self, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Training-time text augmentation on a batch of token ids; the default changes nothing.

        The paper's text CNN overrides it with the random sentence shift. It receives the whole
        global batch, so data-parallel processes augment identically.
        """
        return ids


# ============================================================================================
# Losses
# ============================================================================================


@dataclass(frozen=True)
class LossContext:
    """What a loss factory may need to know about the run."""

    embed_dim: int
    #: Number of training instances (classes of the instance loss).
    num_instances: int = 0


class Loss(nn.Module, abc.ABC):
    """Base class of losses: validates inputs, then calls :meth:`compute`.

    ``forward(image, text, instance_ids)`` takes ``(B, D)`` image and text tensors (the view
    named by ``inputs``) and ``(B,)`` integer instance ids, and returns a dict of named scalar
    terms. The objective sums every term (after its weight).

    The contract a loss states, in four class attributes the engine reads (the defaults below):

    * ``inputs`` (:class:`Inputs`): which view of the encoder outputs it is given.
    * ``reduction`` (``"mean"`` or ``"sum"``): how its terms combine the batch's samples. A
      ``LOCAL`` loss must set it (``itr_bench.testing`` checks it; the engine assumes ``"mean"``
      when it is absent): under data parallelism a mean over equal shards is already the global
      mean, a sum is multiplied by the world size. A loss whose reduction is an option sets
      ``self.reduction`` in ``__init__``; no default here, so a forgotten one is caught.
    * ``gathering`` (:class:`Gathering`): ``GATHERED`` when its terms compare samples with each
      other (features are gathered from every process, with gradients), ``LOCAL`` when each
      sample's term is its own. (Its former name ``negatives``, with the enum ``Negatives``,
      still works and is deprecated: the run's ``negatives`` is the negative sampler.)
    * ``layout`` (:class:`BatchLayout`): ``PAIRS``, or ``ANCHORS_THEN_NEGATIVES`` when slot
      ``B/2 + k`` holds anchor k's negative, chosen by the run's negative sampler.

    ``itr-bench run --dry-run`` knows the layout before anything is built (and so refuses a run
    that needs a sampler and names none): it reads the class's own ``layout = ...`` line from its
    source, or, for a factory whose options pick the class, the ``layout=`` given at
    registration (``register("ranking", factory, layout={"form": {"paper":
    "anchors-then-negatives", "vsepp-sum": "pairs"}})``); see :mod:`itr_bench.loss_contract`.
    A declared layout must match the built loss's, or the build is refused.
    """

    inputs: ClassVar[Inputs] = Inputs.NORMALIZED
    reduction: str  # no default: see above
    gathering: ClassVar[Gathering] = Gathering.GATHERED
    layout: ClassVar[BatchLayout] = BatchLayout.PAIRS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that sets the former ``negatives`` gets that as its ``gathering`` (with a
        DeprecationWarning); ``negatives`` stays readable as the class's ``gathering``."""
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if FORMER_GATHERING in own and GATHERING not in own:
            warnings.warn(f"{cls.__qualname__}: the loss attribute 'negatives' is now 'gathering' "
                          "(itr_bench.api.Gathering); 'negatives' is deprecated", DeprecationWarning, stacklevel=2)
            cls.gathering = own[FORMER_GATHERING]
        cls.negatives = cls.gathering  # the former name, for code that reads it

    #: The former name of ``gathering`` (deprecated), kept equal to it on every subclass.
    negatives: ClassVar[Gathering] = Gathering.GATHERED

    def forward(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        check_loss_inputs(type(self).__name__, image, text, instance_ids)
        terms = self.compute(image, text, instance_ids)
        if not isinstance(terms, Mapping):
            raise ItrBenchError(f"{type(self).__name__}.compute returned {type(terms).__name__}, not a dict of "
                                "named scalar tensors")
        for term, value in terms.items():
            if not isinstance(value, Tensor):
                raise ItrBenchError(f"{type(self).__name__} term {term!r} is a {type(value).__name__}, not a "
                                    "tensor (a float carries no gradient: return a torch scalar)")
            if value.dim() != 0:
                raise ItrBenchError(f"{type(self).__name__} term {term!r} is not a scalar: shape {tuple(value.shape)}")
        return terms

    @abc.abstractmethod
    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        """The named loss terms for validated inputs."""

    def diagnostics(self) -> Mapping[str, Tensor]:
        """Scalars about the last batch that explain the loss but are not terms of it (e.g. the
        share of active hinges), as detached 0-d tensors; experiment trackers show them. Keep
        them cheap and free of random draws: they are computed at every step and read only at
        the logging interval. The default reports nothing."""
        return {}


def check_loss_inputs(owner: str, image: Tensor, text: Tensor, instance_ids: Tensor) -> None:
    """Raise one clear error for wrong shapes, mismatched batches or non-finite inputs."""
    if image.dim() != 2 or text.dim() != 2:
        raise ItrBenchError(
            f"{owner}: expected (B, D) image and text, got {tuple(image.shape)} and {tuple(text.shape)}"
        )
    if image.shape != text.shape:
        raise ItrBenchError(f"{owner}: image {tuple(image.shape)} and text {tuple(text.shape)} differ in shape")
    if instance_ids.shape != (image.shape[0],):
        raise ItrBenchError(
            f"{owner}: instance_ids has shape {tuple(instance_ids.shape)}, expected ({image.shape[0]},)"
        )
    if instance_ids.dtype.is_floating_point or instance_ids.dtype == torch.bool:
        raise ItrBenchError(f"{owner}: instance_ids must be integers, got {instance_ids.dtype}")
    if not (torch.isfinite(image).all() and torch.isfinite(text).all()):
        raise ItrBenchError(f"{owner}: image or text embeddings contain NaN or inf")


# ============================================================================================
# Negative samplers
# ============================================================================================


@dataclass(frozen=True)
class TrainingPairs:
    """Training image-caption pairs as the feed trains them.

    ``images`` and ``captions`` index the training split (image i's caption c); ``token_ids`` are
    the caption's ids after the text encoder's training augmentation, so a pair that was scored
    is re-encoded exactly as it was seen.
    """

    images: Tensor
    captions: Tensor
    token_ids: Tensor

    def __len__(self) -> int:
        return len(self.images)

    def take(self, index: Tensor) -> "TrainingPairs":
        """The pairs at ``index`` (any integer index, repeats allowed)."""
        return TrainingPairs(self.images[index], self.captions[index], self.token_ids[index])


@runtime_checkable
class NegativePool(TypingProtocol):
    """What the engine offers a :class:`NegativeSampler` for one global batch.

    Random draws must use ``generator`` (the run's seeded feed generator, identical on every
    data-parallel process), so every process chooses the same negatives for the global batch.
    """

    #: ``(N,)`` instance id of every training image.
    instance_ids: Tensor
    generator: torch.Generator

    def pairs(self, images: Tensor) -> TrainingPairs:
        """A random caption of each training image in ``images``, augmented as in training."""
        ...

    def anchor_embeddings(self) -> Tensor:
        """``(A, D)`` L2-normalised image embeddings of the anchors (their training views),
        computed with the model in eval mode and without gradients."""
        ...

    def text_embeddings(self, pairs: TrainingPairs) -> Tensor:
        """``(n, D)`` L2-normalised text embeddings of ``pairs``, eval mode, no gradients, in chunks."""
        ...


class NegativeSampler(abc.ABC):
    """Chooses anchor k's negative pair for losses with :attr:`BatchLayout.ANCHORS_THEN_NEGATIVES`.

    Factories are called as ``factory(**options)`` (the run's ``negative_options``). The engine
    puts the chosen pairs in the second half of the batch, where they are encoded with gradients
    like any pair and keep their own instance ids.
    """

    @abc.abstractmethod
    def choose(self, anchors: TrainingPairs, pool: NegativePool) -> TrainingPairs:
        """One negative pair per anchor, in anchor order."""


# ============================================================================================
# Experiment trackers
# ============================================================================================


#: How a tracked run ended (:meth:`Tracker.finish`).
FINISHED, FAILED, KILLED = "finished", "failed", "killed"


@dataclass(frozen=True)
class TrackedRun:
    """What a tracker is told about the run it follows."""

    #: The run folder: files that belong to this run alone (event files, offline logs) go here.
    folder: Path
    #: Shared by the runs of one suite (``<store>/<suite>``; the run folder for a lone ``train``):
    #: where a tracker keeps what spans runs, such as a database holding a suite's experiment.
    root: Path
    #: The experiment the run belongs to: the suite's name, or ``itr-bench`` for a lone run.
    experiment: str
    #: The run's name within its experiment: ``dataset/run/seed-N``.
    name: str
    #: ``suite``, ``dataset``, ``run``, ``loss`` (the losses, ``+``-joined), ``seed``, ``commit``.
    tags: Mapping[str, str] = field(default_factory=dict)


class Tracker(abc.ABC):
    """Follows one run for an experiment tracker (TensorBoard, MLflow, W&B, ...).

    Factories are called as ``factory()`` (see ``register_trackers`` in ``hookspecs.py``) on the
    first process only. The engine calls :meth:`start` once per process that trains the run
    (again after a resume, with the id :meth:`start` returned before), then :meth:`log_scalars`
    and :meth:`log_eval` with increasing global steps, then :meth:`finish` once. Keys are
    ``train/...``, ``val/...`` and ``test/...`` paths; values are Python floats. Calls come at the
    trainer's logging interval and training waits for them: keep them cheap, buffer if you like.
    """

    @abc.abstractmethod
    def start(self, run: TrackedRun, resume_id: str | None, first_step: int) -> str:
        """Open the tracker's run (``resume_id``: continue that one) and return its id.

        The id is kept in the run folder (``trackers.json``) and given back after a resume.
        ``first_step`` is the first step this process trains: after a resume, the run retrains
        from its last checkpoint, so steps from ``first_step`` on that a killed process had sent
        come again (the same values, as the same batches and draws are replayed). Keep one value
        per step: replace the earlier ones, or drop the repeats. Steps before ``first_step`` are
        never sent again, so store what the log calls are given promptly (flush before returning,
        or within a second): a ``kill -9`` must not lose what a checkpoint already covers.
        """

    @abc.abstractmethod
    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Training scalars at global optimizer ``step`` (loss terms, learning rates, ...)."""

    def log_eval(self, step: int, epoch: int, metrics: Mapping[str, float]) -> None:
        """Validation metrics and collapse measures after ``epoch`` (1-based), at ``step``."""
        self.log_scalars(step, metrics)

    @abc.abstractmethod
    def finish(self, status: str, test: Mapping[str, float], hyperparameters: Mapping[str, Any]) -> None:
        """Close the run: ``status`` is ``finished``, ``failed`` or ``killed``; ``test`` the test
        metrics (empty unless finished); ``hyperparameters`` the run config flattened to dotted
        keys with scalar values."""
