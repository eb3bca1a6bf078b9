"""Every image mode PIL reads becomes RGB by one rule: scaled, not clipped (issue 30, case 4)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from itr_bench.api import Sample
from itr_bench.data.images import open_image


def decoded(image: Image.Image, fmt: str = "PNG", **save) -> np.ndarray:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return np.asarray(open_image(Sample(buffer.getvalue(), ("x",), 0, "x")))


def ramp16() -> np.ndarray:
    return np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)


def test_16_bit_greyscale_png_is_scaled_not_saturated():
    pixels = decoded(Image.fromarray(ramp16()))
    assert pixels[..., 0].min() == 0 and pixels[..., 0].max() == 255
    assert (pixels[..., 0] == 255).mean() < 0.05  # was 98.8% white when clipped
    assert pixels[0, 1, 0] == round(1040 * 255 / 65535)


def test_32_bit_integer_image_holding_16_bit_values_is_scaled():
    pixels = decoded(Image.fromarray(ramp16().astype(np.int32)), fmt="TIFF")
    assert pixels[..., 0].max() == 255 and (pixels[..., 0] == 255).mean() < 0.05


def test_float_image_in_0_1_is_scaled_by_255():
    pixels = decoded(Image.fromarray(np.full((4, 4), 0.5, np.float32)), fmt="TIFF")
    assert (pixels == 128).all()


def test_float_image_outside_0_1_is_stretched_from_its_minimum_to_maximum():
    values = np.array([[-2.0, 0.0], [2.0, 6.0]], np.float32)
    pixels = decoded(Image.fromarray(values), fmt="TIFF")
    assert pixels[..., 0].tolist() == [[0, 64], [128, 255]]


def test_palette_image_keeps_its_colours():
    image = Image.new("P", (4, 4))
    image.putpalette([255, 0, 0] * 256)
    assert (decoded(image) == [255, 0, 0]).all()


def test_palette_transparent_colour_is_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([10, 20, 30] * 256)
    assert (decoded(image, transparency=0) == 255).all()


def test_cmyk_takes_pils_conversion():
    assert (decoded(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), fmt="JPEG", quality=100)[..., 0] > 240).all()


@pytest.mark.parametrize("mode, colour", [("LA", (0, 0)), ("RGBA", (0, 0, 0, 0))])
def test_fully_transparent_pixels_are_white_not_the_hidden_colour(mode, colour):
    assert (decoded(Image.new(mode, (4, 4), colour)) == 255).all()


def test_half_transparent_black_is_mid_grey():
    assert (abs(decoded(Image.new("RGBA", (4, 4), (0, 0, 0, 128))).astype(int) - 127) <= 1).all()


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (8, 4), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 4, 4))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    pixels = decoded(image, fmt="JPEG", quality=100, exif=exif)
    assert pixels.shape[:2] == (8, 4)
    assert pixels[:4, :, 0].mean() > 200 and pixels[4:, :, 0].mean() < 50  # the white half is now on top
