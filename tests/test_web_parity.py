"""Browser parity: ONNX Runtime Web and TF.js in Chromium against Keras in Python.

The inputs are raw test images, already in the model's input contract, fed through
``window.classifier.predictBatch`` so that the runtimes are compared and not the preprocessing.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.browser import open_site

pytestmark = pytest.mark.browser

# 257 images spread over the whole test set (every 39th).
INDICES = np.arange(0, 10_000, 39)
MAX_ABS_DIFFERENCE = 1e-5

PREDICT = """async ([backend, base64, n]) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const probabilities = await window.classifier.predictBatch(backend, new Float32Array(bytes.buffer), n);
  return Array.from(probabilities);
}"""


@pytest.mark.parametrize("backend", ["ort", "tfjs-graph", "tfjs-layers"])
def test_parity_with_keras(web_page, site_server, fashion_test_set, keras_probabilities, backend):
    images, _ = fashion_test_set
    batch = images[INDICES].astype(np.float32)
    open_site(web_page, site_server.url, backend)

    encoded = base64.b64encode(batch.tobytes()).decode()
    browser = np.array(web_page.evaluate(PREDICT, [backend, encoded, len(INDICES)]), dtype=np.float32)
    browser = browser.reshape(len(INDICES), 10)
    keras = keras_probabilities[INDICES]
    difference = np.abs(browser - keras)
    disagreements = np.flatnonzero(browser.argmax(axis=1) != keras.argmax(axis=1))

    assert len(INDICES) >= 200
    assert disagreements.size == 0, f"argmax differs on test images {INDICES[disagreements].tolist()}"
    assert difference.max() <= MAX_ABS_DIFFERENCE, f"max |Δ| {difference.max():.3g} > {MAX_ABS_DIFFERENCE:g}"


def test_parity_rejects_wrong_length(web_page, site_server):
    open_site(web_page, site_server.url)

    with pytest.raises(Exception, match="expects 2 × 784 values, got 784"):
        web_page.evaluate("window.classifier.predictBatch('ort', new Float32Array(784), 2)")
