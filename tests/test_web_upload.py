"""Uploads in real Chromium: each kind of hard file gives the right class, every way in
(picker, drop, paste) works, and bad files give a message in the page instead of a result."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from tests.browser import UPLOAD_WAYS, confident_index, open_site, upload
from tests.web_images import UPLOAD_CASES, dark_on_white

pytestmark = pytest.mark.browser


@pytest.fixture
def ready_page(web_page, site_server):
    open_site(web_page, site_server.url)
    return web_page


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda case: case.name)
def test_upload_gives_right_class(ready_page, fashion_test_set, keras_probabilities, case):
    images, labels = fashion_test_set
    index = confident_index(keras_probabilities, labels, case.label)

    result = upload(ready_page, case.make(images[index]), case.file_name, case.mime_type)

    assert result["state"] == "done", ready_page.text_content("#message")
    assert result["source"] == "upload"
    assert int(result["classIndex"]) == case.label, f"test image {index}: {result['label']}"


@pytest.mark.parametrize("how", UPLOAD_WAYS)
def test_upload_each_way_in(ready_page, fashion_test_set, keras_probabilities, how):
    images, labels = fashion_test_set
    index = confident_index(keras_probabilities, labels, 1)

    result = upload(ready_page, dark_on_white(images[index]), "trouser.png", "image/png", how)

    assert result["state"] == "done", ready_page.text_content("#message")
    assert int(result["classIndex"]) == 1


def test_upload_shows_model_input(ready_page, fashion_test_set, keras_probabilities):
    images, labels = fashion_test_set
    index = confident_index(keras_probabilities, labels, 1)

    upload(ready_page, dark_on_white(images[index]), "trouser.png", "image/png")
    pixels = ready_page.evaluate(
        "Array.from(document.getElementById('model-input').getContext('2d').getImageData(0, 0, 28, 28).data)"
    )
    shown = pixels[0::4]  # red channel of a gray image
    # The page rounds half up (Math.round); Python's round() would round half to even.
    expected = [math.floor(value + 0.5) for value in ready_page.evaluate("window.classifier.lastInput")]

    assert shown == expected


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

BAD_FILES = [
    ("empty", b"", "empty.png", "image/png", "is empty (0 bytes)"),
    ("text", b"just some words\n", "notes.txt", "text/plain", "is not a PNG, JPEG, WebP or GIF image"),
    ("text-named-png", b"just some words\n", "fake.png", "image/png", "is not a PNG, JPEG, WebP or GIF image"),
    ("truncated-png", PNG_SIGNATURE + b"\x00\x00\x00\rIHDR\x00\x00", "broken.png", "image/png", "could not decode"),
    ("corrupt-jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "broken.jpg", "image/jpeg", "could not decode"),
]


@pytest.mark.parametrize(("data", "name", "mime_type", "expected"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_upload_bad_file_shows_message(ready_page, data, name, mime_type, expected):
    result = upload(ready_page, data, name, mime_type)
    message = ready_page.text_content("#message")

    assert result["state"] == "error"
    assert "classIndex" not in result
    assert expected in message
    assert name in message
    assert ready_page.is_visible("#message")


def test_upload_animated_gif_uses_first_frame(ready_page, fashion_test_set, keras_probabilities):
    images, labels = fashion_test_set
    trouser = Image.fromarray(255 - images[confident_index(keras_probabilities, labels, 1)])
    bag = Image.fromarray(255 - images[confident_index(keras_probabilities, labels, 8)])
    buffer = io.BytesIO()
    trouser.save(buffer, format="GIF", save_all=True, append_images=[bag], duration=100, loop=0)

    result = upload(ready_page, buffer.getvalue(), "animated.gif", "image/gif")

    assert result["state"] == "done"
    assert int(result["classIndex"]) == 1


def test_upload_blank_image_says_nothing_to_classify(ready_page):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (250, 250, 250)).save(buffer, format="PNG")
    result = upload(ready_page, buffer.getvalue(), "blank.png", "image/png")
    message = ready_page.text_content("#message")

    assert result["state"] == "error"
    assert "Nothing to classify: the image is blank" in message
    assert "Choose a picture of one garment" in message
    assert "draw" not in message.lower()


def test_upload_after_error_clears_message(ready_page, fashion_test_set, keras_probabilities):
    images, labels = fashion_test_set
    index = confident_index(keras_probabilities, labels, 1)

    upload(ready_page, b"", "empty.png", "image/png")
    result = upload(ready_page, dark_on_white(images[index]), "trouser.png", "image/png")

    assert result["state"] == "done"
    assert not ready_page.is_visible("#message")


def model_input_pixels(page) -> list[int]:
    return page.evaluate(
        "Array.from(document.getElementById('model-input').getContext('2d').getImageData(0, 0, 28, 28).data)"
    )


@pytest.mark.parametrize(("data", "name"), [(b"", "empty.png"), (None, "speck.png")], ids=["unreadable", "too-small"])
def test_upload_error_clears_previous_images(ready_page, fashion_test_set, keras_probabilities, data, name):
    """After a failed upload, neither the preview nor "What the model sees" shows the previous image."""
    images, labels = fashion_test_set
    index = confident_index(keras_probabilities, labels, 1)
    if data is None:
        speck = Image.new("L", (400, 400), 255)
        speck.paste(0, (200, 200, 203, 203))
        buffer = io.BytesIO()
        speck.save(buffer, format="PNG")
        data = buffer.getvalue()

    upload(ready_page, dark_on_white(images[index]), "trouser.png", "image/png")
    shown_before = ready_page.is_visible("#upload-preview")
    input_before = max(model_input_pixels(ready_page))
    result = upload(ready_page, data, name, "image/png")

    assert shown_before
    assert input_before > 0
    assert result["state"] == "error"
    assert not ready_page.is_visible("#upload-preview")
    assert max(model_input_pixels(ready_page)) == 0
    assert ready_page.evaluate("window.classifier.lastInput") is None
