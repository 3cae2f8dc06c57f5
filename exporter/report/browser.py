"""Run the built page's own runtimes on many images in headless Chromium.

The site is served from 127.0.0.1 on an ephemeral port. For each model, the page is opened with
``?backend=…`` and its scripting API ``window.classifier.predictBatch`` classifies the images in
batches, so the figures come from the same code a visitor runs. A quantized variant runs through
that code too: the page's ``metadata.json`` is rewritten in flight so that the backend's model
path points at the variant's file. The test images reach the page through a Playwright route,
so nothing is written into the site.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from exporter.contract import IMAGE_SIZE, LABELS
from exporter.export.quantize import Variant

CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a browser that Playwright downloads
# No sandbox so that it runs as root; the rest keep Chromium from calling any other host.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BATCH_SIZE = 1_000  # images per predictBatch call: 1,000 × 784 float32 is about 3 MB
IMAGES_PATH = "verify-test-images.bin"  # served by a Playwright route, never a file in the site
TIMEOUT_MS = 120_000  # one backend's start-up; predictBatch itself has no Playwright timeout
# metadata.json keys of each page backend's model path.
METADATA_MODEL_KEYS = {"ort": "onnx", "tfjs-graph": "tfjs_graph", "tfjs-layers": "tfjs_layers"}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".bin": "application/octet-stream",
    ".onnx": "application/octet-stream",
}

# Runs in the page: fetch the uint8 images [n, 28, 28] and classify them `passes` times in batches
# with the page's own backend. Returns the last pass's float32 probabilities [n, 10] as a flat
# array, and each pass's milliseconds spent in predictBatch calls.
_PREDICT_ALL = """async ([backend, imagesUrl, batchSize, inputLength, classes, passes]) => {
  await window.classifier.ready;
  const response = await fetch(imagesUrl);
  const pixels = new Uint8Array(await response.arrayBuffer());
  const n = pixels.length / inputLength;
  const batches = [];
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    batches.push([start, count, new Float32Array(pixels.subarray(start * inputLength, (start + count) * inputLength))]);
  }
  const probabilities = new Float32Array(n * classes);
  const milliseconds = [];
  for (let pass = 0; pass < passes; pass += 1) {
    let spent = 0;
    for (const [start, count, batch] of batches) {
      const started = performance.now();
      const output = await window.classifier.predictBatch(backend, batch, count);
      spent += performance.now() - started;
      probabilities.set(output, start * classes);
    }
    milliseconds.push(spent);
  }
  return { probabilities: Array.from(probabilities), milliseconds };
}"""


class BrowserError(RuntimeError):
    """Chromium did not start, or the page failed to load or run a model."""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = CONTENT_TYPES

    def log_message(self, format: str, *args: object) -> None:
        pass  # a failed request shows up as the page's error instead


def check_chromium(chromium: str) -> None:
    """Raise ``BrowserError`` with the fix when ``chromium`` is not an executable file."""
    if not (Path(chromium).is_file() and os.access(chromium, os.X_OK)):
        raise BrowserError(
            f"Chromium is not at {chromium}. Install it with `apt-get install chromium`, "
            "pass --chromium PATH, or skip the browser runtimes with --no-browser."
        )


@contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 with an ephemeral port; yield its base URL, ending in ``/``."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class BrowserRunner:
    """Headless Chromium over the served site; ``probabilities(variant, images)`` runs one model.

    Use as a context manager: ``with BrowserRunner(site_dir) as runner: ...``.
    """

    def __init__(self, site_dir: Path, chromium: str = CHROMIUM):
        self.site_dir = Path(site_dir)
        self.chromium = chromium
        self.version = ""
        self._stack = ExitStack()

    def __enter__(self) -> BrowserRunner:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        check_chromium(self.chromium)
        self.base_url = self._stack.enter_context(serve_folder(self.site_dir))
        playwright = self._stack.enter_context(sync_playwright())
        try:
            self._browser = playwright.chromium.launch(executable_path=self.chromium, args=CHROMIUM_ARGS, headless=True)
        except PlaywrightError as error:
            self._stack.close()
            raise BrowserError(f"Chromium {self.chromium} did not start: {error.message.splitlines()[0]}") from error
        self._stack.callback(self._browser.close)
        self.version = self._browser.version
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def probabilities(self, variant: Variant, images: np.ndarray) -> np.ndarray:
        """Classify uint8 ``images`` ``[n, 28, 28]`` with ``variant`` in the page; return ``[n, 10]`` float32."""
        return self.timed_probabilities(variant, images)[0]

    def timed_probabilities(self, variant: Variant, images: np.ndarray, passes: int = 1) -> tuple[np.ndarray, list[float]]:
        """Classify ``images`` ``passes`` times in one page load; return the probabilities and each pass's seconds.

        The seconds count the page's ``predictBatch`` calls only, measured with ``performance.now()``
        in the page, which Chromium coarsens to 0.1 ms.
        """
        from playwright.sync_api import Error as PlaywrightError

        context = self._browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        pixels = np.ascontiguousarray(images, dtype=np.uint8).tobytes()
        page.route(f"**/{IMAGES_PATH}", lambda route: route.fulfill(body=pixels, content_type="application/octet-stream"))
        page.route("**/metadata.json", functools.partial(_point_at_variant, variant))
        try:
            page.goto(f"{self.base_url}index.html?backend={variant.backend}")
            page.wait_for_selector("body:not([data-state='loading'])", state="attached")
            if page.evaluate("document.body.dataset.state") != "ready":
                message = page.text_content("#message") or "; ".join(errors) or "no message"
                raise BrowserError(f"{variant.name}: the page did not start its {variant.backend} backend: {message}")
            output = page.evaluate(
                _PREDICT_ALL, [variant.backend, IMAGES_PATH, BATCH_SIZE, IMAGE_SIZE * IMAGE_SIZE, len(LABELS), passes]
            )
        except PlaywrightError as error:
            detail = "; ".join(errors) or error.message.splitlines()[0]
            raise BrowserError(f"{variant.name}: the page failed in Chromium: {detail}") from error
        finally:
            context.close()
        probabilities = np.asarray(output["probabilities"], dtype=np.float32).reshape(len(images), len(LABELS))
        return probabilities, [milliseconds / 1_000 for milliseconds in output["milliseconds"]]


def _point_at_variant(variant: Variant, route) -> None:
    """Serve metadata.json with the backend's model path replaced by ``variant``'s file."""
    response = route.fetch()
    document = json.loads(response.body())
    document["models"][METADATA_MODEL_KEYS[variant.backend]] = variant.path
    route.fulfill(response=response, body=json.dumps(document))
