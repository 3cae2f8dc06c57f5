"""preprocess_image follows docs/preprocessing.md on real Fashion-MNIST images in every file form."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from exporter.runtime import (
    BlankImageError,
    ObjectTooSmallError,
    PreprocessError,
    UnreadableImageError,
    preprocess_image,
)
from exporter.runtime.preprocess import MAX_WORKING_EDGE, MIN_CONTRAST, MIN_OBJECT_FRACTION, TRIM_THRESHOLD
from tests.runtime_fixtures import load_images, load_labels
from tests.web_images import UPLOAD_CASES

# Test-set indices: an ankle boot, a pullover, a trouser, a shirt, a coat.
SAMPLES = (0, 1, 2, 4, 10)
ORIENTATION_TAG = 0x0112
# Pillow transpose that turns the upright image into what a camera stores for each EXIF
# orientation, so that applying the tag brings it back upright.
STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def garment(index: int, scale: int = 1) -> Image.Image:
    """Return test image ``index`` as an L image, enlarged ``scale`` times without smoothing."""
    image = Image.fromarray(load_images()[index])
    return image.resize((28 * scale, 28 * scale), Image.Resampling.NEAREST) if scale > 1 else image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def on_canvas(image: Image.Image, size: tuple[int, int], offset: tuple[int, int], fill: int = 0) -> Image.Image:
    canvas = Image.new("L", size, fill)
    canvas.paste(image, offset)
    return canvas


def shifted_difference(result: np.ndarray, reference: np.ndarray) -> float:
    """Return the max abs difference after the best shift of at most one pixel each way."""
    return min(
        float(np.abs(np.roll(result, (dy, dx), axis=(0, 1)) - reference).max())
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def test_preprocess_output_contract():
    result = preprocess_image(garment(0))

    assert result.shape == (28, 28)
    assert result.dtype == np.float32
    assert result.min() >= 0
    assert result.max() == pytest.approx(255)


def test_preprocess_centred_raw_image_unchanged():
    """A raw image whose garment already fills 28 px, peaks at 255 and sits where step 9 puts it comes back as is."""
    images = load_images()[:500]
    checked = 0
    for index, image in enumerate(images):
        mask = image > TRIM_THRESHOLD
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        fills = max(height, width) == 28
        placed = rows[0] == (28 - height + 1) // 2 and cols[0] == (28 - width + 1) // 2
        # The background must be 0 and the box must hold every non-zero pixel.
        clean = image.max() == 255 and np.count_nonzero(image) == np.count_nonzero(
            image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        )
        # Step 5 reads the background from the border, where a garment touching it can win the median.
        border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
        dark_border = np.median(border) == 0
        if not (fills and placed and clean and dark_border):
            continue
        checked += 1
        np.testing.assert_allclose(preprocess_image(Image.fromarray(image)), image, atol=1e-4, err_msg=f"image {index}")
    assert checked >= 50, f"only {checked} test images met the preconditions"


def test_preprocess_raw_images_close_to_themselves():
    """Most raw test images differ from their preprocessed form by little more than one pixel of placement."""
    images = load_images()[:300]
    differences = [shifted_difference(preprocess_image(Image.fromarray(image)), image) for image in images]

    assert np.median(differences) <= 1.0


@pytest.mark.parametrize("index", SAMPLES)
def test_preprocess_dark_on_white_same_as_light_on_dark(index):
    light = on_canvas(garment(index, 4), (160, 140), (20, 10), fill=0)
    dark = Image.fromarray(255 - np.asarray(light))

    np.testing.assert_allclose(preprocess_image(dark), preprocess_image(light), atol=1e-3)


@pytest.mark.parametrize("index", SAMPLES)
def test_preprocess_off_centre_same_as_centred(index):
    centred = on_canvas(garment(index, 4), (140, 140), (14, 14))
    corner = on_canvas(garment(index, 4), (400, 300), (3, 181))

    np.testing.assert_allclose(preprocess_image(corner), preprocess_image(centred), atol=1e-4)


@pytest.mark.parametrize("index", SAMPLES)
def test_preprocess_transparent_png_composited_on_white(index):
    """Black pixels whose alpha is the garment composite to the dark-on-white picture of it."""
    shape = np.asarray(on_canvas(garment(index, 3), (100, 90), (5, 2)))
    rgba = np.zeros(shape.shape + (4,), dtype=np.uint8)
    rgba[..., 3] = shape
    transparent = encode(Image.fromarray(rgba, "RGBA"))
    dark_on_white = Image.fromarray(255 - shape)

    result = preprocess_image(transparent)

    np.testing.assert_allclose(result, preprocess_image(dark_on_white), atol=1e-3)
    assert result.max() == pytest.approx(255)


@pytest.mark.parametrize("orientation", sorted(STORED_FOR_ORIENTATION))
def test_preprocess_exif_orientation_applied_once(orientation, tmp_path):
    upright = on_canvas(garment(0, 8), (240, 240), (8, 8)).convert("RGB")
    stored = upright.transpose(STORED_FOR_ORIENTATION[orientation])
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    path = tmp_path / f"photo-{orientation}.jpg"
    stored.save(path, format="JPEG", quality=95, exif=exif)

    result = preprocess_image(path)
    expected = preprocess_image(encode(upright, "JPEG", quality=95))
    ignored_tag = preprocess_image(encode(stored, "JPEG", quality=95))

    assert np.abs(result - expected).mean() < 2.0
    assert np.abs(ignored_tag - expected).mean() > 10.0


def test_preprocess_exif_image_object_not_rotated_twice(tmp_path):
    upright = on_canvas(garment(0, 8), (240, 240), (8, 8)).convert("RGB")
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    path = tmp_path / "photo.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(path, format="JPEG", quality=95, exif=exif)

    with Image.open(path) as opened:
        once = preprocess_image(opened)
        twice = preprocess_image(Image.open(io.BytesIO(encode(opened, "JPEG", quality=95, exif=opened.getexif()))))

    np.testing.assert_allclose(once, preprocess_image(path), atol=1e-4)
    assert np.abs(twice - once).mean() < 2.0


def test_preprocess_6000x4000_photo_bounded(tmp_path):
    """A 6000×4000 JPEG is scaled to 1,024 px first and still gives the small picture's tensor."""
    big = Image.new("RGB", (6000, 4000), (250, 250, 250))
    dark = Image.fromarray(255 - np.asarray(garment(0, 125))).convert("RGB")  # 3,500 px garment
    big.paste(dark, (1200, 250))
    path = tmp_path / "large.jpg"
    big.save(path, format="JPEG", quality=90)
    small = on_canvas(garment(0, 4), (168, 112), (20, 4))

    result = preprocess_image(path)

    assert result.shape == (28, 28)
    assert max(big.size) > MAX_WORKING_EDGE
    assert np.abs(result - preprocess_image(small)).mean() < 3.0


def test_preprocess_gif_first_frame():
    first, second = (on_canvas(garment(i, 2), (64, 64), (4, 4)) for i in (0, 1))
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2

    result = preprocess_image(data)

    np.testing.assert_allclose(result, preprocess_image(first), atol=1e-3)
    assert np.abs(result - preprocess_image(second)).mean() > 10.0


def test_preprocess_webp_lossless_same_as_png():
    image = on_canvas(garment(2, 3), (90, 100), (3, 9))

    webp = preprocess_image(encode(image, "WEBP", lossless=True))

    np.testing.assert_allclose(webp, preprocess_image(encode(image, "PNG")), atol=1e-4)


@pytest.mark.parametrize("scale", [2, 50], ids=["small", "above-max-edge"])
def test_preprocess_16_bit_png_scaled_not_clipped(scale):
    image = on_canvas(garment(4, scale), (28 * scale + 4, 28 * scale + 4), (2, 2))
    sixteen = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    data = encode(sixteen)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")

    # Pillow's box filter rounds the 8-bit and the 16-bit picture differently, hence the tolerance.
    np.testing.assert_allclose(preprocess_image(data), preprocess_image(image), atol=0.5)


def test_preprocess_path_bytes_and_image_agree(tmp_path):
    image = on_canvas(garment(4, 2), (70, 60), (9, 1))
    path = tmp_path / "shirt.png"
    image.save(path)

    from_path = preprocess_image(path)

    np.testing.assert_array_equal(from_path, preprocess_image(str(path)))
    np.testing.assert_array_equal(from_path, preprocess_image(path.read_bytes()))
    np.testing.assert_array_equal(from_path, preprocess_image(image))


def test_preprocess_luma_weights():
    """A red half and a green half keep the BT.601 ratio 0.299 : 0.587 after stretching to 255."""
    rgb = np.zeros((40, 40, 3), dtype=np.uint8)
    rgb[10:30, 10:20, 0] = 255
    rgb[10:30, 20:30, 1] = 255

    result = preprocess_image(Image.fromarray(rgb))

    # The 20×20 box is enlarged to 28×28: red fills columns 0..13, green 14..27.
    assert result[14, 5] == pytest.approx(255 * 0.299 / 0.587, abs=1e-3)
    assert result[14, 20] == pytest.approx(255, abs=1e-3)


@pytest.mark.parametrize(
    ("width", "height", "fitted"),
    [
        (56, 5, (3, 28)),  # 2.5 rounds half up to 3, as Math.round does
        (56, 3, (2, 28)),  # 1.5 rounds to 2
        (56, 1, (1, 28)),  # 0.5 rounds to 1, and the edge is never below 1
        (100, 1, (1, 28)),  # 0.28 is raised to the minimum of 1
        (3, 7, (28, 12)),  # enlarging: 3·28/7 = 12
        (28, 28, (28, 28)),
        (900, 300, (9, 28)),  # 9.33 rounds to 9
    ],
)
def test_preprocess_fit_size_and_centre(width, height, fitted):
    """A solid rectangle becomes a solid block of the fitted size at (ceil((28 − w) / 2), ceil((28 − h) / 2))."""
    image = on_canvas(Image.new("L", (width, height), 255), (width + 20, height + 20), (10, 10))
    fitted_height, fitted_width = fitted
    top, left = (28 - fitted_height + 1) // 2, (28 - fitted_width + 1) // 2

    result = preprocess_image(image)

    block = result[top : top + fitted_height, left : left + fitted_width]
    np.testing.assert_allclose(block, 255, atol=1e-3)
    assert np.count_nonzero(result > 1e-3) == fitted_height * fitted_width


def test_preprocess_area_average_keeps_mean():
    """Area averaging keeps the mean brightness of the trimmed box, here shrinking 56×40 to 28×20."""
    rng = np.random.default_rng(7)
    box = rng.uniform(40, 255, size=(40, 56))
    box[[0, -1], :] = 255  # pixels above the trim threshold on every edge keep the box whole
    box[:, [0, -1]] = 255
    image = np.zeros((60, 80), dtype=np.float64)
    image[10:50, 12:68] = box
    pil = Image.fromarray(np.round(image).astype(np.uint8))

    result = preprocess_image(pil)

    box_pixels = np.round(image).astype(np.uint8)[10:50, 12:68].astype(np.float64)
    assert result[4:24, :].mean() == pytest.approx(box_pixels.mean() * 255 / box_pixels.max(), rel=1e-5)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (50, 50), 255),
        Image.new("L", (50, 50), 0),
        Image.new("RGB", (50, 40), (90, 140, 200)),
        Image.new("RGBA", (30, 30), (0, 0, 0, 0)),
    ],
    ids=["white", "black", "flat-colour", "transparent"],
)
def test_preprocess_blank_image_rejected(image):
    with pytest.raises(BlankImageError, match="nothing to classify"):
        preprocess_image(image)


@pytest.mark.parametrize(("background", "garment_value"), [(120, 250), (135, 10)])
def test_preprocess_polarity_threshold(background, garment_value):
    """A border median up to 127.5 is a dark background, above it a light one to invert."""
    image = np.full((40, 40), background, dtype=np.uint8)
    image[10:30, 12:28] = garment_value

    result = preprocess_image(Image.fromarray(image))

    np.testing.assert_allclose(result[:, 6:22], 255, atol=1e-3)  # 20×16 fitted to 28×22
    assert np.count_nonzero(result) == 28 * 22


def test_preprocess_border_median_counts_corners_once():
    """36 border pixels: 4 light corners, 13 more light and 19 dark, so the background is dark."""
    image = np.zeros((10, 10), dtype=np.uint8)
    border = [(0, c) for c in range(1, 9)] + [(9, c) for c in range(1, 9)]
    border += [(r, 0) for r in range(1, 9)] + [(r, 9) for r in range(1, 9)]
    for row, col in [(0, 0), (0, 9), (9, 0), (9, 9)] + border[:13]:
        image[row, col] = 255
    image[3:7, 3:7] = 200

    result = preprocess_image(Image.fromarray(image))

    # Counting the corners twice would make the median light and invert the picture.
    assert result[14, 14] == pytest.approx(200, abs=1e-3)
    assert result[7, 15] == pytest.approx(0, abs=1e-3)


def test_preprocess_border_median_even_count_averages():
    """18 border pixels at 100 and 18 at 160 give the median 130, a light background."""
    image = np.full((10, 10), 100, dtype=np.uint8)
    image[0, :] = 160
    image[1:9, 9] = 160
    image[4:6, 4:6] = 0

    result = preprocess_image(Image.fromarray(image))

    # The trimmed box is rows 1..9 and columns 0..8, so the dark block lands near (12, 15).
    assert result[12, 15] == pytest.approx(255, abs=1e-3)


def test_preprocess_stretch_comes_before_trim():
    """Step 6 stretches a faint garment to 255 before step 7 applies the threshold."""
    faint = np.full((64, 64), 4, dtype=np.uint8)
    faint[10:54, 20:44] = 4 + MIN_CONTRAST  # 24 wide, 44 tall: fitted to 15×28

    result = preprocess_image(Image.fromarray(faint))

    np.testing.assert_allclose(result[:, 7:22], 255, atol=1e-3)
    assert np.count_nonzero(result) == 28 * 15


def noisy_sheet(level: int, noise: int, size: tuple[int, int] = (300, 400)) -> Image.Image:
    """An empty sheet photographed: ``level`` plus uniform noise of ±``noise`` grey levels."""
    rng = np.random.default_rng(3)
    pixels = level + rng.integers(-noise, noise + 1, size=size)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    "image",
    [noisy_sheet(253, 2), noisy_sheet(250, 12), noisy_sheet(3, 2), noisy_sheet(128, 10)],
    ids=["white-2", "white-12", "black-2", "grey-10"],
)
def test_preprocess_noisy_blank_sheet_rejected(image):
    with pytest.raises(BlankImageError, match="nothing to classify: the image is blank"):
        preprocess_image(image)


@pytest.mark.parametrize(("contrast", "blank"), [(MIN_CONTRAST - 1, True), (MIN_CONTRAST, False)])
def test_preprocess_min_contrast_boundary(contrast, blank):
    image = np.full((60, 60), 200, dtype=np.uint8)
    image[15:45, 20:40] = 200 - contrast  # dark on light: inverted, then `contrast` above background

    if blank:
        with pytest.raises(BlankImageError, match=f"by {contrast:.1f} grey levels, the minimum is {MIN_CONTRAST}"):
            preprocess_image(Image.fromarray(image))
    else:
        assert preprocess_image(Image.fromarray(image)).max() == pytest.approx(255)


def test_preprocess_speck_rejected_as_too_small():
    """A 3×3 px speck on a 400×400 white image is not enlarged to a 28×28 garment."""
    image = np.full((400, 400), 255, dtype=np.uint8)
    image[200:203, 200:203] = 0

    with pytest.raises(ObjectTooSmallError) as caught:
        preprocess_image(Image.fromarray(image))

    message = str(caught.value)
    assert "the object is too small to classify: it covers 3×3 px of a 400×400 image" in message
    assert "crop the image closer or draw larger" in message
    assert isinstance(caught.value, PreprocessError)


@pytest.mark.parametrize(("edge", "rejected"), [(15, True), (16, False)])
def test_preprocess_min_object_fraction_boundary(edge, rejected):
    """On a 400 px image the limit is 4% of 400 = 16 px of the box's longest edge."""
    assert MIN_OBJECT_FRACTION * 400 == 16
    image = np.zeros((300, 400), dtype=np.uint8)
    image[100 : 100 + edge, 150:155] = 255

    if rejected:
        with pytest.raises(ObjectTooSmallError, match=f"covers 5×{edge} px of a 400×300 image"):
            preprocess_image(Image.fromarray(image))
    else:
        assert preprocess_image(Image.fromarray(image)).shape == (28, 28)


def test_preprocess_too_small_reports_file_pixels(tmp_path):
    """Above 1,024 px the sizes in the message are the file's, not the scaled-down image's."""
    image = np.full((2000, 3000), 255, dtype=np.uint8)
    image[1000:1060, 1500:1540] = 0  # 40×60 px, below 4% of 3,000 = 120 px
    path = tmp_path / "far-away.png"
    Image.fromarray(image).save(path)

    with pytest.raises(ObjectTooSmallError, match=r"far-away.png: .* covers about \d+×\d+ px of a 3,000×2,000 image") as caught:
        preprocess_image(path)
    width, height = (int(edge) for edge in str(caught.value).split("about ")[1].split(" px")[0].split("×"))
    assert abs(width - 40) <= 6
    assert abs(height - 60) <= 6


def test_preprocess_every_test_image_accepted():
    """No real Fashion-MNIST test image is blank or too small for the checks of steps 6 and 7."""
    failures = []
    for index, image in enumerate(load_images()):
        try:
            preprocess_image(Image.fromarray(image))
        except PreprocessError as error:
            failures.append(f"image {index}: {error}")

    assert failures == []


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda case: case.name)
def test_preprocess_upload_fixtures_accepted(case):
    """Every upload fixture of the browser tests, made from the first image of its class, passes."""
    index = int(np.flatnonzero(load_labels() == case.label)[0])

    result = preprocess_image(case.make(load_images()[index]))

    assert result.shape == (28, 28)
    assert result.max() > TRIM_THRESHOLD


def test_preprocess_blank_error_names_file(tmp_path):
    path = tmp_path / "white.png"
    Image.new("L", (20, 20), 255).save(path)

    with pytest.raises(BlankImageError, match="white.png: nothing to classify"):
        preprocess_image(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"shopping list: socks, a coat\n", "not a readable PNG, JPEG, WebP or GIF"),
        ("random.jpg", bytes(range(256)) * 8, "not a readable PNG, JPEG, WebP or GIF"),
        ("picture.bmp", None, "BMP images are not supported"),
        ("truncated.png", None, "not a readable PNG"),
    ],
)
def test_preprocess_unreadable_file_rejected(tmp_path, name, content, message):
    path = tmp_path / name
    if name == "picture.bmp":
        garment(0).save(path, format="BMP")
    elif name == "truncated.png":
        full = encode(on_canvas(garment(0, 4), (200, 200), (30, 30)))
        path.write_bytes(full[: len(full) // 2])
    else:
        path.write_bytes(content)

    with pytest.raises(UnreadableImageError, match=message) as caught:
        preprocess_image(path)
    assert str(caught.value).startswith(str(path))
    assert isinstance(caught.value, PreprocessError) and isinstance(caught.value, ValueError)


def test_preprocess_unsupported_format_message_once(tmp_path):
    path = tmp_path / "picture.bmp"
    garment(0).save(path, format="BMP")

    with pytest.raises(UnreadableImageError) as caught:
        preprocess_image(path)

    assert str(caught.value) == f"{path}: BMP images are not supported; use a PNG, JPEG, WebP or GIF file"


def large_garment_png(tmp_path, size: int):
    """A PNG of ``size``×``size`` px with a garment dark on white, the kind a scanner makes."""
    page = Image.new("L", (size, size), 255)
    page.paste(Image.fromarray(255 - np.asarray(garment(0, size // 40))), (size // 10, size // 10))
    path = tmp_path / f"scan-{size}.png"
    page.save(path)
    return path


def test_preprocess_decompression_bomb_warning_silenced(tmp_path, monkeypatch, recwarn):
    """An image between Pillow's pixel limit and twice it is processed without Pillow's warning."""
    path = large_garment_png(tmp_path, 1200)  # 1.44 Mpx
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)

    result = preprocess_image(path)

    assert result.shape == (28, 28)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_preprocess_decompression_bomb_error_one_message(tmp_path, monkeypatch):
    """An image above twice Pillow's pixel limit gets one message with the limit and the fix."""
    path = large_garment_png(tmp_path, 1200)  # 1.44 Mpx
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500_000)

    with pytest.raises(UnreadableImageError) as caught:
        preprocess_image(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: the image has more than 1,000,000 pixels")
    assert message.endswith("scale it down to at most 1,024 px on the longest edge, which is all the model uses")
    assert "DOS attack" not in message


def test_preprocess_missing_file_and_folder(tmp_path):
    with pytest.raises(UnreadableImageError, match="not found"):
        preprocess_image(tmp_path / "missing.png")
    with pytest.raises(UnreadableImageError, match="is a folder"):
        preprocess_image(tmp_path)


def test_preprocess_empty_bytes_and_wrong_type():
    with pytest.raises(UnreadableImageError, match="empty"):
        preprocess_image(b"")
    with pytest.raises(TypeError, match="list"):
        preprocess_image([1, 2, 3])
