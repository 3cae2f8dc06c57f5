"""The page's model-variant selector in real Chromium, on a copy of the short build that
``verify`` has measured.

Every variant in variants.json loads in its backend and classifies test images as Keras does.
The page starts with the default, and ``?variant=`` and the backend switch pick the right model.
A missing or invalid file gives a message in the page.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from exporter.export import quantize
from exporter.report.run import VARIANTS_JSON
from tests.browser import StaticServer, open_site, result_run, wait_for_result
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

ALL_VARIANTS = (*quantize.FLOAT32_VARIANTS, *quantize.QUANTIZED_VARIANTS)
# 257 images spread over the whole test set (every 39th).
INDICES = np.arange(0, 10_000, 39)
# On a 30-epoch build, verify found the int8 and uint8 variants agreeing with float32 on 99.7% of
# the 10,000 test images. 98% leaves room for a 257-image sample and a 3-epoch model.
MIN_AGREEMENT = 0.98
KIB = 1024

PREDICT = """async ([backend, base64, n, variant]) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const probabilities = await window.classifier.predictBatch(backend, new Float32Array(bytes.buffer), n, variant);
  return Array.from(probabilities);
}"""


@pytest.fixture(scope="module")
def variants_site(short_build, fashion_mnist_dir, tmp_path_factory):
    """A copy of the short build's site with the variants.json that ``python -m exporter verify`` writes.

    verify runs every variant in Chromium to measure it. It runs in a subprocess because
    Playwright's sync API cannot start while the session's ``chromium`` fixture runs. A variant
    below its accuracy floor makes verify exit 1, but only after it wrote variants.json. The page
    must offer such a variant all the same, so exit code 1 is no failure here.
    """
    out = tmp_path_factory.mktemp("web-variants") / "build"
    shutil.copytree(short_build, out)
    command = [sys.executable, "-m", "exporter", "verify", "--out", str(out), "--data-dir", str(fashion_mnist_dir)]
    verify = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    site = out / "site"
    assert verify.returncode in (0, 1), verify.stderr
    assert (site / VARIANTS_JSON).is_file(), f"verify did not write variants.json: {verify.stderr}"
    return site


@pytest.fixture(scope="module")
def variants_document(variants_site) -> dict:
    return json.loads((variants_site / VARIANTS_JSON).read_text())


@pytest.fixture(scope="module")
def variants_server(variants_site):
    with StaticServer(variants_site) as server:
        yield server


def open_page(page, base_url: str, query: str = "") -> None:
    """Open the page with ``query`` (e.g. ``?variant=onnx-int8``) and wait until it is ready."""
    page.goto(base_url + "index.html" + query)
    page.wait_for_selector("body:not([data-state='loading'])", state="attached")
    assert page.evaluate("document.body.dataset.state") == "ready", page.text_content("#message")


def open_failing_page(page, base_url: str, query: str = "") -> str:
    """Open the page with ``query``, wait until it fails to start, and return its message."""
    page.goto(base_url + "index.html" + query)
    page.wait_for_selector("body[data-state='error']", state="attached")
    assert page.is_visible("#message")
    return page.text_content("#message")


def click_sample(page, position: int = 0) -> dict:
    run = result_run(page)
    page.locator(".sample").nth(position).click()
    return wait_for_result(page, run)


def choose_variant(page, name: str) -> dict:
    run = result_run(page)
    page.select_option("#variant", name)
    return wait_for_result(page, run)


def checked_backend(page) -> str:
    return page.evaluate("document.querySelector('input[name=\"backend\"]:checked').value")


def entry_named(document: dict, name: str) -> dict:
    return next(entry for entry in document["variants"] if entry["name"] == name)


def variant_for_backend(document: dict, backend: str) -> str:
    """Return the variant the page runs when ``backend`` is chosen: the default if it runs there, else float32."""
    if entry_named(document, document["default"])["backend"] == backend:
        return document["default"]
    return next(variant.name for variant in quantize.FLOAT32_VARIANTS if variant.backend == backend)


def test_variants_json_lists_every_variant(variants_document):
    names = [entry["name"] for entry in variants_document["variants"]]

    assert names == [variant.name for variant in ALL_VARIANTS]
    assert variants_document["default"] in names


def test_variants_selector_starts_with_default(web_page, variants_server, variants_document):
    default = entry_named(variants_document, variants_document["default"])
    open_page(web_page, variants_server.url)
    options = web_page.locator("#variant option").all_text_contents()
    default_option = options[[entry["name"] for entry in variants_document["variants"]].index(default["name"])]

    assert web_page.is_visible("#variant")
    assert web_page.input_value("#variant") == default["name"]
    assert checked_backend(web_page) == default["backend"]
    assert web_page.evaluate("window.classifier.variant") == default["name"]
    assert len(options) == len(variants_document["variants"])
    assert default_option.endswith("(default)")
    assert sum(option.endswith("(default)") for option in options) == 1
    assert f"{default['gzip_bytes'] / KIB:.1f} KiB gzip" in default_option
    assert f"{default['accuracy'] * 100:.2f}% test accuracy" in default_option

    result = click_sample(web_page)
    assert result["variant"] == default["name"]
    assert result["backend"] == default["backend"]
    assert default["name"] in web_page.text_content("#run-info")


def test_variants_options_show_size_and_accuracy(web_page, variants_server, variants_document):
    open_page(web_page, variants_server.url)
    options = web_page.locator("#variant option")

    for position, entry in enumerate(variants_document["variants"]):
        text = options.nth(position).text_content()
        assert options.nth(position).get_attribute("value") == entry["name"]
        assert text.startswith(f"{entry['name']}: {entry['gzip_bytes'] / KIB:.1f} KiB gzip, ")
        assert f"{entry['accuracy'] * 100:.2f}% test accuracy" in text, text


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=lambda variant: variant.name)
def test_variants_each_classifies_test_images(web_page, variants_server, fashion_test_set, keras_probabilities, variant):
    images, _ = fashion_test_set
    batch = images[INDICES].astype(np.float32)
    open_page(web_page, variants_server.url, f"?variant={variant.name}")

    assert web_page.input_value("#variant") == variant.name
    assert checked_backend(web_page) == variant.backend
    assert any(url.endswith(variant.path) for url in web_page.recorder.requests), f"{variant.path} was never requested"

    encoded = base64.b64encode(batch.tobytes()).decode()
    output = web_page.evaluate(PREDICT, [None, encoded, len(INDICES), variant.name])
    browser = np.array(output, dtype=np.float32).reshape(len(INDICES), 10)
    agreement = float((browser.argmax(axis=1) == keras_probabilities[INDICES].argmax(axis=1)).mean())
    assert agreement >= MIN_AGREEMENT, f"{variant.name} agrees with Keras on only {agreement:.1%} of {len(INDICES)} images"
    np.testing.assert_allclose(browser.sum(axis=1), 1.0, atol=1e-3)

    result = click_sample(web_page, 5)
    assert result["variant"] == variant.name
    assert result["backend"] == variant.backend
    assert web_page.recorder.page_errors == []


def test_variants_selector_switches_model(web_page, variants_server):
    open_page(web_page, variants_server.url, "?variant=onnx-float32")
    first = click_sample(web_page, 3)
    second = choose_variant(web_page, "tfjs-graph-uint8")

    assert first["variant"] == "onnx-float32"
    assert second["variant"] == "tfjs-graph-uint8"
    assert second["backend"] == "tfjs-graph"
    assert second["source"] == "sample"
    assert checked_backend(web_page) == "tfjs-graph"
    assert web_page.evaluate("window.classifier.variant") == "tfjs-graph-uint8"
    assert "tfjs-graph-uint8 on TensorFlow.js (graph model)" in web_page.text_content("#run-info")


@pytest.mark.parametrize("backend", ["ort", "tfjs-graph", "tfjs-layers"])
def test_variants_backend_switch_picks_variant(web_page, variants_server, variants_document, backend):
    expected = variant_for_backend(variants_document, backend)
    start = "onnx-int8" if backend == "tfjs-layers" else "tfjs-layers-float32"  # on another backend
    open_page(web_page, variants_server.url, f"?variant={start}")
    click_sample(web_page)

    run = result_run(web_page)
    web_page.check(f"input[name='backend'][value='{backend}']")
    result = wait_for_result(web_page, run)

    assert result["backend"] == backend
    assert result["variant"] == expected
    assert web_page.input_value("#variant") == expected


@pytest.mark.parametrize("backend", ["ort", "tfjs-graph", "tfjs-layers"])
def test_variants_backend_from_url(web_page, variants_server, variants_document, backend):
    expected = variant_for_backend(variants_document, backend)
    open_site(web_page, variants_server.url, backend)

    assert checked_backend(web_page) == backend
    assert web_page.input_value("#variant") == expected


def test_variants_predict_batch_keeps_float32_default(web_page, variants_server, variants_site, fashion_test_set, keras_probabilities):
    """Without a variant name, predictBatch runs metadata.json's float32 model, whatever the page shows."""
    images, _ = fashion_test_set
    batch = images[INDICES].astype(np.float32)
    open_page(web_page, variants_server.url, "?variant=onnx-int8")

    encoded = base64.b64encode(batch.tobytes()).decode()
    browser = np.array(web_page.evaluate(PREDICT, ["ort", encoded, len(INDICES), None]), dtype=np.float32)
    difference = np.abs(browser.reshape(len(INDICES), 10) - keras_probabilities[INDICES])

    assert difference.max() <= 1e-5
    assert any(url.endswith(quantize.FLOAT32_VARIANTS[0].path) for url in web_page.recorder.requests)


def test_variants_predict_batch_rejects_bad_variant(web_page, variants_server):
    open_page(web_page, variants_server.url)

    with pytest.raises(Exception, match='The variant "onnx-int8" runs on the ort backend, not on tfjs-graph'):
        web_page.evaluate("window.classifier.predictBatch('tfjs-graph', new Float32Array(784), 1, 'onnx-int8')")
    with pytest.raises(Exception, match='Unknown variant "onnx-int4"'):
        web_page.evaluate("window.classifier.predictBatch(null, new Float32Array(784), 1, 'onnx-int4')")


def test_variants_requests_stay_on_origin(web_page, variants_server, variants_document):
    open_page(web_page, variants_server.url)
    click_sample(web_page)
    for entry in variants_document["variants"]:
        if entry["name"] != web_page.input_value("#variant"):
            choose_variant(web_page, entry["name"])

    requests = web_page.recorder.requests
    outside = [
        url for url in requests if not (url.startswith(variants_server.url) or url.startswith(f"blob:{variants_server.origin}/"))
    ]
    assert outside == []
    for entry in variants_document["variants"]:
        assert any(url.endswith(entry["path"]) for url in requests), f"{entry['path']} was never requested"
    assert web_page.recorder.failed_responses == []
    assert web_page.recorder.console_errors == []


def copy_site(variants_site, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(variants_site, site)
    return site


@pytest.mark.parametrize("variant", quantize.QUANTIZED_VARIANTS, ids=lambda variant: variant.name)
def test_variants_missing_file_in_url(web_page, variants_site, tmp_path, variant):
    site = copy_site(variants_site, tmp_path)
    (site / variant.path).unlink()

    with StaticServer(site) as server:
        message = open_failing_page(web_page, server.url, f"?variant={variant.name}")

    assert variant.path in message


def test_variants_missing_weights_shard(web_page, variants_site, tmp_path):
    variant = next(item for item in quantize.QUANTIZED_VARIANTS if item.name == "tfjs-graph-uint8")
    site = copy_site(variants_site, tmp_path)
    shard = quantize.variant_files(site, variant)[1]
    shard.unlink()

    with StaticServer(site) as server:
        message = open_failing_page(web_page, server.url, f"?variant={variant.name}")

    assert variant.path in message
    assert shard.name in message


def test_variants_missing_default_file(web_page, variants_site, variants_document, tmp_path):
    default = entry_named(variants_document, variants_document["default"])
    site = copy_site(variants_site, tmp_path)
    (site / default["path"]).unlink()

    with StaticServer(site) as server:
        message = open_failing_page(web_page, server.url)

    assert default["path"] in message


def test_variants_selector_missing_file(web_page, variants_site, variants_document, tmp_path):
    """A variant whose file is gone fails with a message, and the page stays usable."""
    default = variants_document["default"]
    broken = next(variant for variant in quantize.QUANTIZED_VARIANTS if variant.name != default)
    site = copy_site(variants_site, tmp_path)
    (site / broken.path).unlink()

    with StaticServer(site) as server:
        open_page(web_page, server.url)
        click_sample(web_page)
        failed = choose_variant(web_page, broken.name)
        message = web_page.text_content("#message")
        recovered = choose_variant(web_page, default)

    assert failed["state"] == "error"
    assert broken.path in message
    assert recovered["state"] == "done"
    assert recovered["variant"] == default
    assert web_page.is_hidden("#message")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?variant=onnx-int4", 'Unknown variant "onnx-int4". Use one of: onnx-float32, '),
        ("?backend=tfjs-graph&variant=onnx-int8", 'The variant "onnx-int8" in the URL runs on the ort backend, not on tfjs-graph.'),
    ],
    ids=["unknown", "other-backend"],
)
def test_variants_bad_url(web_page, variants_server, query, expected):
    message = open_failing_page(web_page, variants_server.url, query)

    assert expected in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda document: document | {"format_version": 2}, "format_version 2 is not 1"),
        (lambda document: document | {"default": "onnx-int4"}, 'the default "onnx-int4" is not among the variants'),
        (
            lambda document: document | {"variants": [entry | {"backend": "webgpu"} for entry in document["variants"]]},
            'onnx-float32: backend "webgpu" is not one of ort, tfjs-graph, tfjs-layers',
        ),
    ],
    ids=["format-version", "default", "backend"],
)
def test_variants_invalid_json(web_page, variants_site, variants_document, tmp_path, change, expected):
    site = copy_site(variants_site, tmp_path)
    (site / VARIANTS_JSON).write_text(json.dumps(change(variants_document)))

    with StaticServer(site) as server:
        message = open_failing_page(web_page, server.url)

    assert "variants.json does not match this page" in message
    assert expected in message


@pytest.fixture
def server_without_variants(site_dir, tmp_path):
    """Serve a copy of the short build's site with variants.json removed, as an older site has none."""
    site = copy_site(site_dir, tmp_path)
    (site / VARIANTS_JSON).unlink()
    with StaticServer(site) as server:
        yield server


def test_variants_unmeasured_build_defaults_to_float32(site_dir):
    """Without the report, the build still lists its variants, unmeasured, with float32 as the default."""
    document = json.loads((site_dir / VARIANTS_JSON).read_text())
    assert document["default"] == quantize.FLOAT32_VARIANTS[0].name
    assert all("accuracy" not in entry for entry in document["variants"])
    assert "report" not in document


def test_variants_absent_keeps_float32_page(web_page, server_without_variants):
    """A site without variants.json: no selector, and the float32 models as before."""
    open_site(web_page, server_without_variants.url)
    result = click_sample(web_page)

    assert web_page.is_hidden("#variant-choice")
    assert web_page.evaluate("window.classifier.variants") is None
    assert "variant" not in result
    assert result["backend"] == "ort"
    assert any(url.endswith(quantize.FLOAT32_VARIANTS[0].path) for url in web_page.recorder.requests)
    assert not any("/models/variants/" in url for url in web_page.recorder.requests)


def test_variants_absent_rejects_variant_in_url(web_page, server_without_variants):
    message = open_failing_page(web_page, server_without_variants.url, "?variant=onnx-int8")

    assert 'no variants.json, so it offers no variant "onnx-int8"' in message


def test_variants_report_link_after_verify(web_page, variants_server, variants_site):
    open_page(web_page, variants_server.url)
    assert web_page.is_visible("#report-link")
    assert web_page.get_attribute("#report-link a", "href") == "report.html"
    assert (variants_site / "report.html").is_file()


def test_variants_no_report_link_without_report(web_page, site_server):
    open_site(web_page, site_server.url)
    assert web_page.is_hidden("#report-link")
