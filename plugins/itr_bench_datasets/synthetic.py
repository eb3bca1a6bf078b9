"""An embedded dataset needing no files: coloured shapes in spatial relations, with captions.

Every scene is two objects (colour, shape, size) on one axis (left/right or above/below).
Scenes are distinct across the whole dataset, and a scene and its mirror (the same objects
swapped) are different scenes with different captions. Each split is built from groups
(:func:`scene_groups`): a scene, its mirror, the same shapes in other colours and the same
colours in other shapes, each with its mirror, so within a split relation, colour and shape
words are all needed to rank (a scorer blind to one kind of word is capped by
:func:`blind_ceiling`). Captions vary synonyms, word order (``A left of B`` / ``B right of
A``), templates and whether sizes are mentioned, so a caption can fit a few images and R@1
stays below 100 for short runs.

Captions name left and right, so a horizontally flipped image would be the mirror scene
under the original caption: the dataset declares ``flip_safe = False`` and training views
do not flip it.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Annotated, Any, ClassVar

import numpy as np
from annotated_types import Ge
from PIL import Image, ImageDraw

from itr_bench.api import Dataset, Protocol, Sample, Split, TextSpec
from itr_bench.errors import ConfigError

from .read_once import SplitsReadOnce

#: Bump when the rendering or the captions change (the cache key includes it).
VERSION = 2

COLOURS: Mapping[str, tuple[int, int, int]] = {
    "red": (220, 45, 45),
    "green": (40, 170, 70),
    "blue": (45, 85, 230),
    "yellow": (235, 215, 40),
    "purple": (145, 60, 200),
    "orange": (245, 135, 25),
}
SHAPE_WORDS: Mapping[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge"),
    "diamond": ("diamond", "rhombus"),
}
SIZE_WORDS: Mapping[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big", "huge"),
}
#: axis -> (words for "first object is before the second", words for the inverse).
RELATION_WORDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "horizontal": (
        ("left of", "to the left of", "on the left of"),
        ("right of", "to the right of", "on the right of"),
    ),
    "vertical": (("above", "over", "on top of"), ("below", "under", "beneath")),
}
TEMPLATES: tuple[str, ...] = (
    "{a} {rel} {b}",
    "there is {a} {rel} {b}",
    "{a} placed {rel} {b}",
    "an image of {a} {rel} {b}",
    "{a} sits {rel} {b}",
)
SIZE_FRACTION = {"small": 0.17, "large": 0.29}


@dataclass(frozen=True)
class Thing:
    colour: str
    shape: str
    size: str


@dataclass(frozen=True)
class Scene:
    """``first`` is left of (horizontal) or above (vertical) ``second``."""

    first: Thing
    second: Thing
    axis: str


def all_scenes() -> list[Scene]:
    things = [Thing(c, s, z) for c in COLOURS for s in SHAPE_WORDS for z in SIZE_WORDS]
    return [Scene(a, b, axis) for axis in RELATION_WORDS for a, b in itertools.permutations(things, 2)]


def mirror(scene: Scene) -> Scene:
    """The same objects swapped: the scene a horizontal (or vertical) flip would show."""
    return Scene(scene.second, scene.first, scene.axis)


def _pair(scene: Scene) -> list[Scene]:
    return [scene, mirror(scene)]


def _variant(scene: Scene, rng: np.random.Generator, field: str, used: set[Scene]) -> list[Scene]:
    """``scene`` with both objects' ``field`` (colour or shape) changed, and its mirror; [] when
    every such pair is taken."""
    values = list(COLOURS if field == "colour" else SHAPE_WORDS)
    old = (getattr(scene.first, field), getattr(scene.second, field))
    options = [
        Scene(replace(scene.first, **{field: a}), replace(scene.second, **{field: b}), scene.axis)
        for a in values for b in values if a != old[0] and b != old[1]
    ]
    options = [o for o in options if o.first != o.second and o not in used and mirror(o) not in used]
    return _pair(options[int(rng.integers(len(options)))]) if options else []


def scene_groups(seed: int) -> Iterator[list[Scene]]:
    """Groups of distinct scenes, in pairs: a scene and its mirror, then the same shapes in
    other colours and the same colours in other shapes, each followed by its mirror.

    Splits are cut from whole groups and a cut keeps whole pairs (for even sizes), so every
    scene of a split has its mirror there, and its recoloured and reshaped twins when the
    group fits.
    """
    scenes = all_scenes()
    rng = np.random.default_rng([seed, VERSION])
    used: set[Scene] = set()
    for index in rng.permutation(len(scenes)):
        base = scenes[int(index)]
        if base in used or mirror(base) in used:
            continue
        group = _pair(base)
        used.update(group)
        for field in ("colour", "shape"):
            twins = _variant(base, rng, field, used)
            used.update(twins)
            group += twins
        yield group


#: What a scorer blind to one kind of word can still tell apart: scenes with one key look
#: alike to it (relation words also carry the axis and, as captions name either object
#: first, the order).
BLIND_KEYS: Mapping[str, Callable[[Scene], Hashable]] = {
    "relation": lambda s: frozenset((s.first, s.second)),
    "colour": lambda s: (s.first.shape, s.first.size, s.second.shape, s.second.size, s.axis),
    "shape": lambda s: (s.first.colour, s.first.size, s.second.colour, s.second.size, s.axis),
}


def blind_ceiling(scenes: Sequence[Scene], blind_to: str) -> float:
    """The best expected text-to-image R@1 (a fraction) of a scorer that ignores ``blind_to``
    words, on a split with one image per scene and equally many captions each.

    Such a scorer sees the same caption distribution for every scene of one key, so a caption's
    best guess is right with probability ``1 / (scenes sharing its key)``; the ceiling is the
    mean of that over the split. It is an upper bound: captions that omit sizes lower it more.
    """
    key = BLIND_KEYS[blind_to]
    counts = Counter(key(s) for s in scenes)
    return sum(1 / counts[key(s)] for s in scenes) / len(scenes)


def pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def describe(thing: Thing, rng: np.random.Generator, with_size: bool) -> str:
    words = [pick(rng, SIZE_WORDS[thing.size])] if with_size else []
    words += [thing.colour, pick(rng, SHAPE_WORDS[thing.shape])]
    phrase = " ".join(words)
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def caption(scene: Scene, rng: np.random.Generator) -> str:
    forward, inverse = RELATION_WORDS[scene.axis]
    with_size = rng.random() < 0.7
    first, second = describe(scene.first, rng, with_size), describe(scene.second, rng, with_size)
    if rng.random() < 0.5:
        a, rel, b = first, pick(rng, forward), second
    else:
        a, rel, b = second, pick(rng, inverse), first
    return pick(rng, TEMPLATES).format(a=a, rel=rel, b=b)


def render(scene: Scene, size: int, rng: np.random.Generator) -> bytes:
    """PNG bytes of the scene with jittered positions, sizes and background."""
    scale = 2  # draw at 2x and downsample: cheap anti-aliasing
    canvas = size * scale
    background = tuple(int(v) for v in rng.integers(20, 90, size=3))
    image = Image.new("RGB", (canvas, canvas), background)
    draw = ImageDraw.Draw(image)
    along = (0.27, 0.73)  # centre of first / second object along the axis, as fractions
    for thing, centre in zip((scene.first, scene.second), along):
        radius = canvas * SIZE_FRACTION[thing.size] * rng.uniform(0.85, 1.1) / 2 * 1.6
        main = (centre + rng.uniform(-0.05, 0.05)) * canvas
        cross = rng.uniform(0.3, 0.7) * canvas
        x, y = (main, cross) if scene.axis == "horizontal" else (cross, main)
        _draw_shape(draw, thing.shape, x, y, radius, COLOURS[thing.colour])
    image = image.resize((size, size), Image.Resampling.BILINEAR)
    noise = rng.integers(-12, 13, size=(size, size, 3))
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)  # fast; the noise barely compresses
    return buffer.getvalue()


def _draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, r: float, fill: tuple[int, int, int]
) -> None:
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    elif shape == "square":
        draw.rectangle((x - r * 0.85, y - r * 0.85, x + r * 0.85, y + r * 0.85), fill=fill)
    else:
        points = SHAPE_POINTS[shape]
        draw.polygon([(x + dx * r, y + dy * r) for dx, dy in points], fill=fill)


SHAPE_POINTS: Mapping[str, tuple[tuple[float, float], ...]] = {
    "triangle": ((0.0, -1.0), (0.95, 0.8), (-0.95, 0.8)),
    "diamond": ((0.0, -1.0), (0.75, 0.0), (0.0, 1.0), (-0.75, 0.0)),
}


class Synthetic(SplitsReadOnce, Dataset):
    """Coloured shapes in spatial relations, generated in memory from a seed (no files).

    With ``renderings=K > 1`` it is the identity variant: each scene is an identity drawn K
    times with jitter, each drawing with its own captions, evaluated by identity (as person
    search); splits then hold ``train``/``val``/``test`` identities.

    Args:
        train: training scenes (identities when renderings > 1).
        val: validation scenes.
        test: test scenes.
        image_size: image side in pixels.
        captions_per_image: captions written for each image.
        renderings: drawings per scene; above 1, the identity variant.
        seed: seed of the scenes, drawings and captions.
    """

    text: ClassVar[TextSpec] = TextSpec(separators=" -.,()", lowercase=False, max_words=32)
    hints: ClassVar[Mapping[str, Any]] = {"dropout": 0.5}
    generated: ClassVar[bool] = True  # no files: its options are its data identity
    #: Captions say left and right: a flipped image would contradict its caption.
    flip_safe: ClassVar[bool] = False

    def __init__(
        self,
        root: Any = None,
        *,
        train: Annotated[int, Ge(1)] = 1000,
        val: Annotated[int, Ge(1)] = 200,
        test: Annotated[int, Ge(1)] = 200,
        image_size: Annotated[int, Ge(16)] = 64,
        captions_per_image: Annotated[int, Ge(1)] = 5,
        renderings: Annotated[int, Ge(1)] = 1,
        seed: Annotated[int, Ge(0)] = 0,
    ) -> None:
        # ``root`` is accepted and ignored: the registry calls every dataset factory with one.
        self.options = {
            "train": int(train),
            "val": int(val),
            "test": int(test),
            "image_size": int(image_size),
            "captions_per_image": int(captions_per_image),
            "renderings": int(renderings),
            "seed": int(seed),
        }
        available = len(all_scenes())
        if train + val + test > available:  # the one limit the signature cannot state
            raise ConfigError(
                f"synthetic: train+val+test must be 1..{available} scenes each > 0, got {train}/{val}/{test}"
            )

    @property
    def protocol(self) -> Protocol:
        return Protocol.IDENTITY if self.options["renderings"] > 1 else Protocol.IMAGE_CAPTION

    def scenes(self, split: str) -> list[Scene]:
        """The scenes of ``split``, one per image (per identity for the identity variant)."""
        return self._scenes[split]

    @cached_property
    def _scenes(self) -> dict[str, list[Scene]]:
        """Each split cut from whole groups of :func:`scene_groups`; a group is never shared."""
        groups, chosen = scene_groups(self.options["seed"]), {}
        for name in ("train", "val", "test"):
            scenes: list[Scene] = []
            while len(scenes) < self.options[name]:
                group = next(groups, None)
                if group is None:
                    raise ConfigError(f"synthetic: train+val+test = {sum(self.options[s] for s in chosen)}"
                                      f" scenes do not fit in whole groups; ask for fewer")
                scenes += group[: self.options[name] - len(scenes)]
            chosen[name] = scenes
        return chosen

    def read_splits(self) -> dict[str, Split]:
        o = self.options
        splits = {}
        for name in ("train", "val", "test"):
            samples = []
            for identity, scene in enumerate(self._scenes[name]):
                for k in range(o["renderings"]):
                    rng = np.random.default_rng(
                        [o["seed"], VERSION, ("train", "val", "test").index(name), identity, k]
                    )
                    image_id = f"{name}-{identity:05d}-{k}"
                    captions = tuple(caption(scene, rng) for _ in range(o["captions_per_image"]))
                    samples.append(Sample(render(scene, o["image_size"], rng), captions, identity, image_id))
            splits[name] = Split(name, samples, self.protocol)
        return splits

    def fingerprint(self) -> str:
        key = json.dumps({"version": VERSION, **self.options}, sort_keys=True)
        return f"synthetic-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def synthetic_identity(
    root: Any = None,
    *,
    train: Annotated[int, Ge(1)] = 250,
    val: Annotated[int, Ge(1)] = 50,
    test: Annotated[int, Ge(1)] = 50,
    image_size: Annotated[int, Ge(16)] = 64,
    captions_per_image: Annotated[int, Ge(1)] = 2,
    renderings: Annotated[int, Ge(1)] = 4,
    seed: Annotated[int, Ge(0)] = 0,
) -> Synthetic:
    """:class:`Synthetic` as an identity set: each scene drawn several times, matched by identity.

    Args:
        train: training identities.
        val: validation identities.
        test: test identities.
        image_size: image side in pixels.
        captions_per_image: captions written for each drawing.
        renderings: jittered drawings per identity.
        seed: seed of the scenes, drawings and captions.
    """
    return Synthetic(root, train=train, val=val, test=test, image_size=image_size,
                     captions_per_image=captions_per_image, renderings=renderings, seed=seed)
