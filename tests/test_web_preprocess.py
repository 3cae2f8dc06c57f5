"""The browser's preprocessing (web/preprocess.js) against the Python reference
(exporter/runtime/preprocess.py) on the same upload fixtures, in real Chromium.

Each fixture is uploaded through the page's file picker, and the 28×28 input that the page
fed the model (``window.classifier.lastInput``) is compared with ``preprocess_image`` on the
same bytes.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from exporter.runtime.preprocess import (
    MIN_CONTRAST,
    BlankImageError,
    ObjectTooSmallError,
    preprocess_image,
)
from tests.browser import confident_index, open_site, upload
from tests.web_images import UPLOAD_CASES

pytestmark = pytest.mark.browser

# Float rounding only: both sides compute in float64 from the same 8-bit pixels.
EXACT = 1e-3
# (max |Δ|, mean |Δ|) on the 0..255 scale for inputs where the two sides start from slightly
# different pixels. A difference of under one grey level before the trim can move the trimmed
# box by one pixel, which shifts the whole resampling grid, so the max is far above the mean.
LOOSE = {
    # Above 1,024 px each side scales with its own filter: Chromium's high-quality bitmap
    # resize against Pillow's box filter (docs/preprocessing.md, step 2).
    "large": (12.0, 1.0),
    # Chromium's 2D canvas stores colour premultiplied by alpha in 8 bits, so half-transparent
    # pixels come back rounded (see test_preprocess_transparent_is_canvas_rounding).
    "transparent": (20.0, 1.5),
}


@pytest.fixture
def ready_page(web_page, site_server):
    open_site(web_page, site_server.url)
    return web_page


def browser_input(page, data: bytes, case) -> np.ndarray:
    result = upload(page, data, case.file_name, case.mime_type)
    assert result["state"] == "done", page.text_content("#message")
    return np.array(page.evaluate("window.classifier.lastInput"), dtype=np.float32).reshape(28, 28)


def fixture_bytes(case, fashion_test_set, keras_probabilities) -> bytes:
    images, labels = fashion_test_set
    return case.make(images[confident_index(keras_probabilities, labels, case.label)])


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda case: case.name)
def test_preprocess_matches_python(ready_page, fashion_test_set, keras_probabilities, case):
    data = fixture_bytes(case, fashion_test_set, keras_probabilities)

    difference = np.abs(browser_input(ready_page, data, case) - preprocess_image(data))

    max_bound, mean_bound = LOOSE.get(case.name, (EXACT, EXACT))
    where = np.unravel_index(difference.argmax(), difference.shape)
    assert difference.max() <= max_bound, f"max |Δ| {difference.max():.4g} at {where}"
    assert difference.mean() <= mean_bound, f"mean |Δ| {difference.mean():.4g}"


def test_preprocess_transparent_is_canvas_rounding(ready_page, fashion_test_set, keras_probabilities):
    """With the canvas's premultiplied rounding applied first, the reference agrees exactly."""
    case = next(case for case in UPLOAD_CASES if case.name == "transparent")
    data = fixture_bytes(case, fashion_test_set, keras_probabilities)
    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"), dtype=np.float64)
    alpha = rgba[..., 3:]
    premultiplied = np.round(rgba[..., :3] * alpha / 255)
    restored = np.where(alpha > 0, np.round(premultiplied * 255 / np.maximum(alpha, 1)), 0)
    as_canvas = Image.fromarray(np.concatenate([restored, alpha], axis=-1).astype(np.uint8), "RGBA")

    difference = np.abs(browser_input(ready_page, data, case) - preprocess_image(as_canvas))

    assert difference.max() <= EXACT


def test_preprocess_drawing_matches_python(ready_page):
    """A drawing goes through the same steps as an upload: compare on the canvas's own pixels."""
    pad = ready_page.locator("#pad").bounding_box()
    run = ready_page.evaluate("document.getElementById('result').dataset.run")
    ready_page.mouse.move(pad["x"] + 60, pad["y"] + 50)
    ready_page.mouse.down()
    for x, y in [(90, 200), (140, 120), (200, 230), (220, 60)]:
        ready_page.mouse.move(pad["x"] + x, pad["y"] + y, steps=8)
    ready_page.mouse.up()
    ready_page.wait_for_selector(f"#result:not([data-run='{run}'])", state="attached")
    pixels = ready_page.evaluate(
        "Array.from(document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data)"
    )
    drawing = Image.fromarray(np.array(pixels, dtype=np.uint8).reshape(280, 280, 4), "RGBA")

    browser = np.array(ready_page.evaluate("window.classifier.lastInput"), dtype=np.float32).reshape(28, 28)
    difference = np.abs(browser - preprocess_image(drawing))

    assert difference.max() <= EXACT


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def noisy_paper() -> bytes:
    """An empty white sheet photographed: 253 ± 2 grey levels of noise."""
    return png(253 + np.random.default_rng(5).integers(-2, 3, size=(300, 400)))


def faint_square(contrast: int) -> bytes:
    """A square ``contrast`` grey levels darker than its light background."""
    pixels = np.full((80, 80), 200)
    pixels[20:60, 25:55] = 200 - contrast
    return png(pixels)


def speck() -> bytes:
    """A 3×3 px dark speck on a 400×400 white image."""
    pixels = np.full((400, 400), 255)
    pixels[200:203, 200:203] = 0
    return png(pixels)


def bar(edge: int) -> bytes:
    """A light 5 px wide bar, ``edge`` px tall, on a black 400×300 image (4% of 400 is 16 px)."""
    pixels = np.zeros((300, 400))
    pixels[100 : 100 + edge, 150:155] = 255
    return png(pixels)


# name: (file bytes, the Python error or None when accepted, a phrase of the page's message)
LIMIT_CASES = {
    "noisy-paper": (noisy_paper(), BlankImageError, "Nothing to classify: the image is blank"),
    "contrast-below-min": (faint_square(MIN_CONTRAST - 1), BlankImageError, f"the minimum is {MIN_CONTRAST}"),
    "contrast-at-min": (faint_square(MIN_CONTRAST), None, None),
    "speck": (speck(), ObjectTooSmallError, "it covers 3×3 px of a 400×400 image"),
    "bar-below-min": (bar(15), ObjectTooSmallError, "it covers 5×15 px of a 400×300 image"),
    "bar-at-min": (bar(16), None, None),
}

PREPROCESS_BLOB = """async (bytes) => {
  try {
    return { input: Array.from(await window.classifier.preprocess(new Blob([new Uint8Array(bytes)]))) };
  } catch (error) {
    return { error: `${error.name}: ${error.message}` };
  }
}"""


@pytest.mark.parametrize("name", LIMIT_CASES)
def test_preprocess_limits_match_python(ready_page, name):
    """The page and the Python runtime reject the same faint and tiny images, and accept the same ones."""
    data, python_error, phrase = LIMIT_CASES[name]

    browser = ready_page.evaluate(PREPROCESS_BLOB, list(data))

    if python_error is None:
        assert "error" not in browser, browser.get("error")
        difference = np.abs(np.array(browser["input"], dtype=np.float32).reshape(28, 28) - preprocess_image(data))
        assert difference.max() <= EXACT
    else:
        with pytest.raises(python_error):
            preprocess_image(data)
        assert browser.get("error", "").startswith("ImageInputError: "), browser
        assert phrase in browser["error"]


def encoded(format: str, mode: str = "RGB", **options) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (123, 45), "white").save(buffer, format=format, **options)
    return buffer.getvalue()


HEADER_CASES = {
    "png": ("PNG", encoded("PNG")),
    "gif": ("GIF", encoded("GIF", "L")),
    "jpeg": ("JPEG", encoded("JPEG")),
    "jpeg-exif": ("JPEG", encoded("JPEG", exif=Image.Exif().tobytes())),
    "webp-lossy": ("WebP", encoded("WEBP", quality=80)),
    "webp-lossless": ("WebP", encoded("WEBP", lossless=True)),
    "webp-extended": ("WebP", encoded("WEBP", "RGBA", quality=80)),
}

READ_HEADER = """async ([bytes, format]) => {
  const { readHeaderSize } = await import('./preprocess.js');
  return readHeaderSize(new Uint8Array(bytes), format);
}"""


@pytest.mark.parametrize("name", HEADER_CASES)
def test_preprocess_reads_header_size(ready_page, name):
    """The header size decides whether a file is scaled down while decoding, before any pixel."""
    format, data = HEADER_CASES[name]

    size = ready_page.evaluate(READ_HEADER, [list(data), format])

    assert size == {"width": 123, "height": 45}
