"""Turn an image file into the model's input: float32 [28, 28], 0..255, light garment on dark.

The steps and constants follow docs/preprocessing.md, which the web page (web/preprocess.js)
implements too, so that both give the same tensor for the same file. Pillow decodes, applies
EXIF orientation and bounds the working size; NumPy does the arithmetic after that.

    python -c "from exporter.runtime.preprocess import preprocess_image; print(preprocess_image('shoe.png'))"
"""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from exporter.contract import IMAGE_SIZE

# Step 2: images whose longest edge exceeds this many pixels are scaled down before any other work.
MAX_WORKING_EDGE = 1024
# Step 6: an image whose brightest pixel is less than this many grey levels (0..255) above the
# background is blank. Without it, sensor noise on a photo of an empty sheet is stretched to 255.
MIN_CONTRAST = 32
# Step 7: a pixel belongs to the garment when it is above this value after background removal (0..255).
TRIM_THRESHOLD = 32
# Step 7: the trimmed box's longest edge must be at least this fraction of the image's longest
# edge. A smaller object is a speck or a far-away garment, and enlarging it to 28 px gives the
# model nothing it was trained on. 4% is 11 px on the page's 280 px drawing pad.
MIN_OBJECT_FRACTION = 0.04
# Step 1: the formats the page decodes too; Pillow would open more (BMP, TIFF, …).
SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")

ImageSource = Union[str, "os.PathLike[str]", bytes, Image.Image]


class PreprocessError(ValueError):
    """An image that cannot be turned into the model's input."""


class UnreadableImageError(PreprocessError):
    """A file that is missing, unreadable, or not a PNG, JPEG, WebP or GIF image."""


class BlankImageError(PreprocessError):
    """An image in which no pixel differs enough from the background to be a garment."""


class ObjectTooSmallError(PreprocessError):
    """An image whose object covers too little of it to be enlarged to the model's input."""


def preprocess_image(source: ImageSource) -> np.ndarray:
    """Decode an image and return the model's input for it.

    Args:
        source: a file path, the file's bytes, or an already opened PIL image.

    Returns:
        float32 array of shape (28, 28), row-major, values 0..255, 0 is background and the
        garment is light, as the Fashion-MNIST IDX files store it.

    Raises:
        UnreadableImageError: the file is missing or is not a readable PNG, JPEG, WebP or GIF.
        BlankImageError: after background removal no pixel is ``MIN_CONTRAST`` or more.
        ObjectTooSmallError: the object's longest edge is below ``MIN_OBJECT_FRACTION`` of
            the image's longest edge.
        TypeError: ``source`` is none of the types above.
    """
    if not isinstance(source, (str, os.PathLike, bytes, Image.Image)):
        raise TypeError(
            f"expected a file path, bytes or a PIL image, got {type(source).__name__}"
        )
    name = _describe(source)
    image = _decode(source)
    original_size = image.size
    image = _bound_size(image)
    gray = _to_gray(_flatten_alpha(_rgba_array(image)))
    gray = _normalize(gray, name)
    box = _trim(gray)
    _check_object_size(box.shape, gray.shape, original_size, name)
    return _centre(_fit(box))


def _describe(source: ImageSource) -> str:
    """Name the source in messages: its path, or what kind of object it is."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, bytes):
        return f"<{len(source):,} bytes>"
    return "<PIL image>"


def _decode(source: ImageSource) -> Image.Image:
    """Step 1: decode the first frame to a PIL image with EXIF orientation applied once."""
    if isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source)
    # exif_transpose applies the Orientation tag and returns a copy without it, so a second
    # call (or a later caller) cannot rotate the image again.
    return ImageOps.exif_transpose(image)


def _open(source: str | os.PathLike[str] | bytes) -> Image.Image:
    """Open and fully load a file or byte string, mapping every failure to one error type."""
    name = _describe(source)
    fix = "use a PNG, JPEG, WebP or GIF file"
    if source == b"" or _is_empty_file(source):
        raise UnreadableImageError(f"{name}: the file is empty (0 bytes); {fix}")
    try:
        # Between Image.MAX_IMAGE_PIXELS and twice that, Pillow only warns about a possible
        # decompression bomb. Such an image (89 to 179 Mpx with Pillow's default) still fits in
        # memory as 8-bit pixels, step 2 scales it down before any float work, and the page
        # decodes it too, so it is processed without the warning. Above that Pillow raises.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            if image.format not in SUPPORTED_FORMATS:
                raise UnreadableImageError(
                    f"{name}: {image.format} images are not supported; {fix}"
                )
            image.seek(0)  # GIF and animated WebP: the first frame, as the page shows it
            image.load()
    except UnreadableImageError:
        raise  # the format check above; the ValueError clause below would wrap it again
    except FileNotFoundError:
        raise UnreadableImageError(f"{name}: file not found; check the path") from None
    except IsADirectoryError:
        raise UnreadableImageError(f"{name}: is a folder, not an image file; {fix}") from None
    except PermissionError:
        raise UnreadableImageError(
            f"{name}: permission denied; make the file readable"
        ) from None
    except UnidentifiedImageError:
        raise UnreadableImageError(
            f"{name}: not a readable PNG, JPEG, WebP or GIF image; {fix}"
        ) from None
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise UnreadableImageError(
            f"{name}: the image has more than {limit:,} pixels, the most that Pillow decodes "
            f"(a guard against decompression bombs); scale it down to at most "
            f"{MAX_WORKING_EDGE:,} px on the longest edge, which is all the model uses"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow raises OSError for truncated files ("image file is truncated") and
        # SyntaxError or ValueError for some corrupt headers and chunks.
        raise UnreadableImageError(
            f"{name}: not a readable PNG, JPEG, WebP or GIF image ({error}); {fix}"
        ) from None
    return image


def _is_empty_file(source: str | os.PathLike[str] | bytes) -> bool:
    """Return True for a path that names an existing regular file of 0 bytes."""
    if isinstance(source, bytes):
        return False
    try:
        return os.path.isfile(source) and os.path.getsize(source) == 0
    except OSError:
        return False


def _bound_size(image: Image.Image) -> Image.Image:
    """Step 2: scale down so the longest edge is at most MAX_WORKING_EDGE, with a box filter."""
    width, height = image.size
    longest = max(width, height)
    if longest <= MAX_WORKING_EDGE:
        return image
    size = (
        max(1, _round_half_up(width * MAX_WORKING_EDGE / longest)),
        max(1, _round_half_up(height * MAX_WORKING_EDGE / longest)),
    )
    if image.mode.startswith("I;16"):
        image = image.convert("I")  # keeps all 16 bits; _rgba_array scales them to 0..255
    elif image.mode not in ("RGBA", "RGB", "L", "LA", "I"):
        image = image.convert("RGBA")
    # Pillow resizes RGBA and LA with premultiplied alpha, so transparent pixels add no colour.
    return image.resize(size, Image.Resampling.BOX)


def _rgba_array(image: Image.Image) -> np.ndarray:
    """Return the image as float64 RGBA, shape (height, width, 4), values 0..255."""
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grayscale PNG: Pillow's convert would clip to 255 instead of scaling.
        gray = np.asarray(image, dtype=np.float64) / 257.0
        rgba = np.empty(gray.shape + (4,), dtype=np.float64)
        rgba[..., :3] = np.clip(gray, 0.0, 255.0)[..., None]
        rgba[..., 3] = 255.0
        return rgba
    return np.asarray(image.convert("RGBA"), dtype=np.float64)


def _flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """Step 3: composite onto white, c = c·a + 255·(1 − a); returns RGB (height, width, 3)."""
    alpha = rgba[..., 3:4] / 255.0
    return rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    """Step 4: ITU-R BT.601 luma, kept as float; returns (height, width)."""
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _border_median(gray: np.ndarray) -> float:
    """Return the median of the one-pixel border, each border pixel counted once."""
    height, width = gray.shape
    if height <= 2 or width <= 2:
        return float(np.median(gray))
    border = np.concatenate(
        [gray[0, :], gray[-1, :], gray[1:-1, 0], gray[1:-1, -1]]
    )
    # An even count takes the mean of the two middle values, as numpy.median does.
    return float(np.median(border))


def _normalize(gray: np.ndarray, name: str) -> np.ndarray:
    """Steps 5 and 6: make the background dark, subtract it, and stretch the maximum to 255."""
    background = _border_median(gray)
    if background > 127.5:
        gray = 255.0 - gray
        background = 255.0 - background
    gray = np.maximum(0.0, gray - background)
    peak = float(gray.max())
    if peak < MIN_CONTRAST:
        raise BlankImageError(
            f"{name}: nothing to classify: the image is blank (its brightest pixel differs "
            f"from the background by {peak:.1f} grey levels, the minimum is {MIN_CONTRAST}); "
            "use a picture of one garment on a plain background"
        )
    return gray * 255.0 / peak


def _trim(gray: np.ndarray) -> np.ndarray:
    """Step 7: crop to the bounding box of the pixels above TRIM_THRESHOLD."""
    rows = np.flatnonzero((gray > TRIM_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((gray > TRIM_THRESHOLD).any(axis=0))
    # Step 6 stretched the maximum to 255, so at least one pixel is above the threshold.
    assert rows.size and cols.size, "no pixel above TRIM_THRESHOLD after stretching"
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _check_object_size(
    box_shape: tuple[int, int],
    image_shape: tuple[int, int],
    original_size: tuple[int, int],
    name: str,
) -> None:
    """Step 7: reject a box whose longest edge is below MIN_OBJECT_FRACTION of the image's."""
    if max(box_shape) >= MIN_OBJECT_FRACTION * max(image_shape):
        return
    # Step 2 may have scaled the image down: report the box in the file's own pixels.
    original_width, original_height = original_size
    scale = max(original_size) / max(image_shape)
    box_height, box_width = (max(1, _round_half_up(edge * scale)) for edge in box_shape)
    about = "about " if scale != 1 else ""
    raise ObjectTooSmallError(
        f"{name}: the object is too small to classify: it covers {about}{box_width:,}×{box_height:,} px "
        f"of a {original_width:,}×{original_height:,} image, and its longest edge must be at "
        f"least {MIN_OBJECT_FRACTION:.0%} of the image's; crop the image closer or draw larger"
    )


def _fit(box: np.ndarray) -> np.ndarray:
    """Step 8: area-average the box so its longest edge is 28 pixels, keeping the aspect ratio."""
    height, width = box.shape
    longest = max(height, width)
    out_height = max(1, _round_half_up(height * IMAGE_SIZE / longest))
    out_width = max(1, _round_half_up(width * IMAGE_SIZE / longest))
    rows = _area_weights(height, out_height)  # (out_height, height)
    cols = _area_weights(width, out_width)  # (out_width, width)
    return rows @ box @ cols.T


def _area_weights(size_in: int, size_out: int) -> np.ndarray:
    """Return the (size_out, size_in) matrix whose row i averages the input span of output i.

    Output pixel i covers input coordinates [i·s, (i + 1)·s) with s = size_in / size_out, and
    each input pixel j contributes its overlap with that span divided by s. The same formula
    enlarges (s < 1) and shrinks (s > 1).
    """
    scale = size_in / size_out
    starts = np.arange(size_out) * scale
    ends = starts + scale
    pixels = np.arange(size_in)
    overlap = np.minimum(ends[:, None], pixels[None, :] + 1) - np.maximum(
        starts[:, None], pixels[None, :]
    )
    return np.clip(overlap, 0.0, None) / scale


def _centre(fitted: np.ndarray) -> np.ndarray:
    """Step 9: paste into a 28×28 zero image at (ceil((28 − w) / 2), ceil((28 − h) / 2))."""
    height, width = fitted.shape
    top = (IMAGE_SIZE - height + 1) // 2
    left = (IMAGE_SIZE - width + 1) // 2
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    canvas[top : top + height, left : left + width] = fitted
    return canvas


def _round_half_up(value: float) -> int:
    """Round .5 up, as JavaScript's Math.round does, unlike Python's round-half-to-even."""
    return math.floor(value + 0.5)
