"""The page as a whole in real Chromium: it starts on every backend without policy violations,
stays on its own origin, shows samples with their true labels, switches backends, and explains
every failure (missing files, file://, unknown backend) in the page."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.browser import StaticServer, csp_violations, open_site, result_run, upload, wait_for_result

pytestmark = pytest.mark.browser

BACKENDS = ["ort", "tfjs-graph", "tfjs-layers"]
BACKEND_LABELS = {
    "ort": "ONNX Runtime Web (wasm)",
    "tfjs-graph": "TensorFlow.js (graph model)",
    "tfjs-layers": "TensorFlow.js (layers model)",
}

# Records each change of a control's disabled state, to show the page locks its controls.
RECORD_DISABLED = """
window.__disabledChanges = [];
document.addEventListener('DOMContentLoaded', () => {
  const button = document.getElementById('classify-drawing');
  // One entry per change, even when the browser delivers several in one callback.
  new MutationObserver((records) => records.forEach((record) => window.__disabledChanges.push(record.oldValue === null)))
    .observe(button, { attributes: true, attributeFilter: ['disabled'], attributeOldValue: true });
});
"""


def click_sample(page, position: int = 0) -> dict:
    run = result_run(page)
    page.locator(".sample").nth(position).click()
    return wait_for_result(page, run)


def choose_backend(page, name: str) -> dict:
    run = result_run(page)
    page.check(f"input[name='backend'][value='{name}']")
    return wait_for_result(page, run)


def samples_of(site_dir) -> list[dict]:
    return json.loads((site_dir / "samples" / "samples.json").read_text())["samples"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_page_starts_cleanly(web_page, site_server, backend):
    open_site(web_page, site_server.url, backend)
    result = click_sample(web_page)
    recorder = web_page.recorder

    assert result["state"] == "done"
    assert result["backend"] == backend
    assert BACKEND_LABELS[backend] in web_page.text_content("#run-info")
    assert float(result["inferenceMs"]) >= 0
    assert recorder.failed_responses == []
    assert recorder.console_errors == []
    assert csp_violations(web_page) == []
    assert recorder.page_errors == []


def test_page_requests_stay_on_origin(web_page, site_server, fashion_test_set):
    images, _ = fashion_test_set
    open_site(web_page, site_server.url)
    click_sample(web_page)
    for backend in BACKENDS[1:]:
        choose_backend(web_page, backend)
    buffer = io.BytesIO()
    Image.fromarray(255 - images[0]).save(buffer, format="PNG")
    upload(web_page, buffer.getvalue(), "upload.png", "image/png")

    requests = web_page.recorder.requests
    outside = [
        url for url in requests if not (url.startswith(site_server.url) or url.startswith(f"blob:{site_server.origin}/"))
    ]
    assert len(requests) > 10
    assert outside == []
    assert any(url.endswith(".wasm") for url in requests)
    assert any(url.endswith("tf.fesm.min.js") for url in requests)


def test_page_loads_only_chosen_runtime(web_page, site_server):
    open_site(web_page, site_server.url, "tfjs-graph")
    requests = web_page.recorder.requests

    assert not any("/vendor/ort/" in url for url in requests)
    assert not any("/models/model.onnx" in url for url in requests)


@pytest.mark.parametrize("position", [0, 7, 19])
def test_page_sample_shows_true_label(web_page, site_server, site_dir, keras_probabilities, position):
    sample = samples_of(site_dir)[position]
    open_site(web_page, site_server.url)
    result = click_sample(web_page, position)

    assert result["source"] == "sample"
    assert int(result["trueIndex"]) == sample["label"]
    assert f"True label: {sample['label_name']}" in web_page.text_content("#truth")
    # Samples skip preprocessing, so the page must agree with Keras on the raw test image.
    assert int(result["classIndex"]) == int(keras_probabilities[sample["index"]].argmax())


def test_page_backend_switch_reruns_last_input(web_page, site_server):
    open_site(web_page, site_server.url, "ort")
    first = click_sample(web_page, 3)
    second = choose_backend(web_page, "tfjs-graph")

    assert second["backend"] == "tfjs-graph"
    assert second["source"] == "sample"
    assert second["classIndex"] == first["classIndex"]
    np.testing.assert_allclose(json.loads(second["probabilities"]), json.loads(first["probabilities"]), atol=1e-5)
    assert "TensorFlow.js" in web_page.text_content("#run-info")


def test_page_backend_from_url(web_page, site_server):
    open_site(web_page, site_server.url, "tfjs-layers")

    assert web_page.is_checked("input[name='backend'][value='tfjs-layers']")


def test_page_unknown_backend_in_url(web_page, site_server):
    web_page.goto(site_server.url + "index.html?backend=webgpu")
    web_page.wait_for_selector("body[data-state='error']", state="attached")

    assert 'Unknown backend "webgpu"' in web_page.text_content("#message")


def test_page_controls_disabled_while_busy(web_page, site_server):
    web_page.add_init_script(RECORD_DISABLED)
    open_site(web_page, site_server.url)
    web_page.evaluate("window.__disabledChanges.length = 0")
    click_sample(web_page)

    assert web_page.evaluate("window.__disabledChanges") == [True, False]


def test_page_low_confidence_notice(web_page, site_server, fashion_test_set, keras_probabilities):
    images, _ = fashion_test_set
    open_site(web_page, site_server.url)
    confident = int(keras_probabilities.max(axis=1).argmax())
    ambiguous = np.flatnonzero(keras_probabilities.max(axis=1) < 0.35)[:5]

    buffer = io.BytesIO()
    Image.fromarray(images[confident]).save(buffer, format="PNG")
    sure = upload(web_page, buffer.getvalue(), "sure.png", "image/png")
    assert max(json.loads(sure["probabilities"])) >= 0.5
    assert not web_page.is_visible("#low-confidence")

    for index in ambiguous:
        buffer = io.BytesIO()
        Image.fromarray(images[index]).save(buffer, format="PNG")
        unsure = upload(web_page, buffer.getvalue(), "unsure.png", "image/png")
        if max(json.loads(unsure["probabilities"])) < 0.5:
            break
    else:
        pytest.fail(f"none of test images {ambiguous.tolist()} stayed below 50% after preprocessing")
    assert web_page.is_visible("#low-confidence")
    assert "may not be clothing" in web_page.text_content("#low-confidence")


def test_page_file_name_is_text_not_html(web_page, site_server):
    open_site(web_page, site_server.url)
    name = '<img src=x id=injected onerror="document.title=1">.png'
    upload(web_page, b"not an image", name, "image/png")

    assert name in web_page.text_content("#message")
    assert web_page.locator("#injected").count() == 0


def test_page_has_strict_csp(web_page, site_server):
    open_site(web_page, site_server.url)
    policy = web_page.get_attribute("meta[http-equiv='Content-Security-Policy']", "content")

    assert "script-src 'self' 'wasm-unsafe-eval'" in policy
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy.replace("'wasm-unsafe-eval'", "")


def test_page_file_url_explains_how_to_serve(web_page, site_dir):
    web_page.goto((site_dir / "index.html").as_uri())
    web_page.wait_for_selector("#message:not([hidden])")

    assert "python -m http.server" in web_page.text_content("#message")
    assert web_page.get_attribute("body", "data-state") == "error"


MISSING_FILES = [
    ("vendor/ort/ort-wasm-simd-threaded.wasm", "ort"),
    ("vendor/ort/ort.wasm.bundle.min.mjs", "ort"),
    ("vendor/tfjs/tf.fesm.min.js", "tfjs-graph"),
    ("models/model.onnx", "ort"),
    ("models/tfjs-graph/model.json", "tfjs-graph"),
    ("models/tfjs-layers/model.json", "tfjs-layers"),
    ("metadata.json", "ort"),
    ("samples/samples.json", "ort"),
    ("main.js", "ort"),
]


@pytest.mark.parametrize(("missing", "backend"), MISSING_FILES, ids=[path for path, _ in MISSING_FILES])
def test_page_missing_file_shows_message(web_page, site_dir, tmp_path, missing, backend):
    site = tmp_path / "site"
    shutil.copytree(site_dir, site)
    (site / missing).unlink()

    with StaticServer(site) as server:
        web_page.goto(server.url + f"index.html?backend={backend}")
        web_page.wait_for_selector("body[data-state='error']", state="attached")
        message = web_page.text_content("#message")

    assert missing.rsplit("/", 1)[-1] in message
    assert web_page.is_visible("#message")
