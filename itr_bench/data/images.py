"""Reading a sample's image, resizing it once and encoding it for the cache."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

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
        return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        where = sample.image if isinstance(sample.image, Path) else f"image {sample.image_id} (in-memory)"
        raise ConfigError(f"{where}: cannot decode image: {exc}") from None


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
