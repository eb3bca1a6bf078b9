"""Reading a sample's image, resizing it once and encoding it for the cache.

Every image becomes 8-bit RGB by one rule (:func:`to_rgb`), whatever mode PIL reads it in:

- EXIF orientation is applied first (a phone photo stored sideways is shown upright);
- high bit depths are *scaled* to 0-255, never clipped: 16-bit greyscale (``I;16*``) by
  255/65535; 32-bit integers (``I``, as PIL reads 16-bit PNGs) by 255/65535 when every value
  lies in 0-65535, else stretched from their own minimum to maximum; floats (``F``) by 255 when
  every value lies in 0-1, else stretched likewise;
- transparency (``RGBA``, ``LA``, ``PA``, a palette's transparent colour) is composited over
  white, so what was invisible does not show the colour hidden under it;
- every other mode (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ...) takes PIL's own conversion.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..api import Sample
from ..errors import ConfigError


def image_bytes(sample: Sample) -> bytes:
    """The encoded image of ``sample`` (read from disk when it is a path)."""
    if isinstance(sample.image, bytes):
        return sample.image
    path = Path(sample.image)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: image file is missing (image {sample.image_id})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read image: {exc.strerror or exc}") from None


def open_image(sample: Sample) -> Image.Image:
    """The decoded RGB image of ``sample``; an undecodable file names itself."""
    data = image_bytes(sample)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return to_rgb(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        where = sample.image if isinstance(sample.image, Path) else f"image {sample.image_id} (in-memory)"
        raise ConfigError(f"{where}: cannot decode image: {exc}") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` upright, as 8-bit RGB, by the rule of the module docstring."""
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        return Image.fromarray(_scaled_to_bytes(image), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _scaled_to_bytes(image: Image.Image) -> np.ndarray:
    """A one-channel image of more than 8 bits as uint8, scaled (not clipped) to 0-255."""
    values = np.asarray(image).astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or image.mode == "I" and low >= 0 and high <= 65535:
        low, high = 0.0, 65535.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    span = high - low or 1.0
    scaled = (np.nan_to_num(values, nan=low, posinf=high, neginf=low) - low) * (255.0 / span)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)  # the clip only catches rounding


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size``, keeping the aspect ratio (bicubic, as the paper)."""
    width, height = image.size
    scale = size / min(width, height)
    new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
    if new_size == image.size:
        return image
    return image.resize(new_size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
