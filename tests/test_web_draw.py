"""Drawing in real Chromium: strokes from mouse, touch and pen give a prediction, and the
brush size, undo and clear controls do what they say."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.browser import SUB_PATH, new_recorded_page, open_site, result_run, wait_for_result

pytestmark = pytest.mark.browser

# A pair of trousers in pad coordinates (280×280): a waistband and two legs.
TROUSERS = [
    [(90, 40), (190, 40)],
    [(95, 45), (85, 250)],
    [(185, 45), (195, 250)],
]


@pytest.fixture
def ready_page(web_page, site_server):
    open_site(web_page, site_server.url)
    return web_page


def pad_origin(page) -> tuple[float, float]:
    box = page.locator("#pad").bounding_box()
    return box["x"], box["y"]


def draw_stroke(page, points) -> dict:
    """Draw one mouse stroke through ``points`` (pad pixels); return the result it triggers."""
    left, top = pad_origin(page)
    run = result_run(page)
    page.mouse.move(left + points[0][0], top + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(left + x, top + y, steps=10)
    page.mouse.up()
    return wait_for_result(page, run)


def set_brush(page, size: int) -> None:
    page.fill("#brush-size", str(size))


def ink_pixels(page) -> int:
    pixels = page.evaluate("Array.from(document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data)")
    return int((np.array(pixels[0::4]) < 128).sum())


def model_input(page) -> np.ndarray:
    return np.array(page.evaluate("window.classifier.lastInput"), dtype=np.float32)


def test_draw_stroke_gives_prediction(ready_page):
    result = draw_stroke(ready_page, [(60, 60), (140, 200), (220, 80)])
    probabilities = np.array(json.loads(result["probabilities"]))

    assert result["state"] == "done"
    assert result["source"] == "drawing"
    assert 0 <= int(result["classIndex"]) < 10
    assert int(result["classIndex"]) == int(probabilities.argmax())
    assert probabilities.shape == (10,)
    assert abs(probabilities.sum() - 1) < 1e-5
    assert model_input(ready_page).max() == pytest.approx(255, abs=1e-3)


def test_draw_trousers_classified_as_trouser(ready_page):
    set_brush(ready_page, 40)
    for stroke in TROUSERS:
        result = draw_stroke(ready_page, stroke)

    assert result["label"] == "Trouser"


def test_draw_brush_size_sets_stroke_width(ready_page):
    set_brush(ready_page, 4)
    draw_stroke(ready_page, [(40, 140), (240, 140)])
    thin = ink_pixels(ready_page)
    ready_page.click("#clear")
    set_brush(ready_page, 40)
    draw_stroke(ready_page, [(40, 140), (240, 140)])
    thick = ink_pixels(ready_page)

    assert thick > 5 * thin


def test_draw_undo_removes_last_stroke(ready_page):
    draw_stroke(ready_page, [(60, 60), (220, 220)])
    one_stroke = model_input(ready_page)
    draw_stroke(ready_page, [(220, 60), (60, 220)])
    two_strokes = model_input(ready_page)

    run = result_run(ready_page)
    ready_page.click("#undo")
    result = wait_for_result(ready_page, run)

    assert not np.array_equal(one_stroke, two_strokes)
    assert result["state"] == "done"
    np.testing.assert_array_equal(model_input(ready_page), one_stroke)


def test_draw_undo_all_strokes_empties_result(ready_page):
    draw_stroke(ready_page, [(60, 60), (220, 220)])
    run = result_run(ready_page)
    ready_page.click("#undo")
    result = wait_for_result(ready_page, run)

    assert result["state"] == "idle"
    assert "classIndex" not in result
    assert ink_pixels(ready_page) == 0


@pytest.mark.parametrize("draw_first", [False, True], ids=["untouched", "cleared"])
def test_draw_blank_canvas_says_draw_something_first(ready_page, draw_first):
    if draw_first:
        draw_stroke(ready_page, [(60, 60), (220, 220)])
        ready_page.click("#clear")
    run = result_run(ready_page)
    ready_page.click("#classify-drawing")
    result = wait_for_result(ready_page, run)

    assert result["state"] == "error"
    assert "draw something first" in ready_page.text_content("#message")


def test_draw_with_pen(ready_page):
    """Chromium's DevTools protocol sends real pointer events with pointerType "pen"."""
    left, top = pad_origin(ready_page)
    session = ready_page.context.new_cdp_session(ready_page)
    run = result_run(ready_page)
    points = [(60, 60), (100, 120), (140, 180), (200, 230)]
    for i, (x, y) in enumerate(points):
        kind = "mousePressed" if i == 0 else "mouseMoved"
        session.send("Input.dispatchMouseEvent", {"type": kind, "x": left + x, "y": top + y, "button": "left", "buttons": 1, "clickCount": 1, "pointerType": "pen", "force": 0.5})
    session.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": left + 200, "y": top + 230, "button": "left", "clickCount": 1, "pointerType": "pen"})
    result = wait_for_result(ready_page, run)

    assert result["state"] == "done"
    assert ink_pixels(ready_page) > 0


def test_draw_with_touch(chromium, site_server):
    page = new_recorded_page(chromium, has_touch=True)
    try:
        open_site(page, site_server.url)
        left, top = pad_origin(page)
        session = page.context.new_cdp_session(page)
        run = result_run(page)
        points = [(60, 200), (100, 150), (150, 100), (220, 60)]
        for i, (x, y) in enumerate(points):
            kind = "touchStart" if i == 0 else "touchMove"
            session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": left + x, "y": top + y, "id": 1}]})
        session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        result = wait_for_result(page, run)

        assert result["state"] == "done"
        assert ink_pixels(page) > 0
    finally:
        page.context.close()


def test_draw_clear_keeps_sample_result(ready_page):
    draw_stroke(ready_page, [(60, 60), (220, 220)])
    run = result_run(ready_page)
    ready_page.locator(".sample").first.click()
    sample = wait_for_result(ready_page, run)
    ready_page.click("#clear")

    assert sample["source"] == "sample"
    assert ready_page.get_attribute("#result", "data-run") == sample["run"]
    assert ready_page.get_attribute("#result", "data-source") == "sample"
    assert ink_pixels(ready_page) == 0


def test_draw_smallest_brush_accepted(ready_page):
    """Preprocessing's minimum object size lets a drawing with the smallest brush through."""
    set_brush(ready_page, int(ready_page.get_attribute("#brush-size", "min")))
    for stroke in TROUSERS:
        result = draw_stroke(ready_page, stroke)

    assert result["state"] == "done", ready_page.text_content("#message")
    assert result["source"] == "drawing"


def test_draw_dot_too_small_says_draw_larger(ready_page):
    set_brush(ready_page, int(ready_page.get_attribute("#brush-size", "min")))
    result = draw_stroke(ready_page, [(140, 140)])
    message = ready_page.text_content("#message")

    assert result["state"] == "error"
    assert "The drawing is too small to classify" in message
    assert "of the 280×280 pad" in message
    assert "Draw larger." in message
    assert "photo" not in message


def test_draw_before_ready_ignored(web_page, site_server):
    """A stroke while metadata.json is still loading is not drawn and causes no error."""
    held = []
    web_page.route(f"**{SUB_PATH}metadata.json", lambda route: held.append(route))
    web_page.goto(site_server.url + "index.html", wait_until="domcontentloaded")
    while not held:
        web_page.wait_for_timeout(50)  # the page requests metadata.json from its module script

    left, top = pad_origin(web_page)
    web_page.mouse.move(left + 60, top + 60)
    web_page.mouse.down()
    web_page.mouse.move(left + 220, top + 220, steps=10)
    web_page.mouse.up()
    loading_ink = ink_pixels(web_page)
    controls_disabled = web_page.evaluate("[...document.querySelectorAll('[data-busy-disable]')].map((c) => c.disabled)")
    held[0].continue_()
    web_page.wait_for_selector("body:not([data-state='loading'])", state="attached")
    web_page.wait_for_selector("body[data-busy='false']", state="attached")

    assert loading_ink == 0
    assert controls_disabled
    assert all(controls_disabled)
    assert web_page.evaluate("document.body.dataset.state") == "ready"
    assert not web_page.is_visible("#message"), web_page.text_content("#message")
    assert web_page.get_attribute("#result", "data-state") != "error"
    assert web_page.recorder.page_errors == []
    assert web_page.recorder.console_errors == []
