"""Browser test helpers and fixtures: serve a site on 127.0.0.1 under a sub-path, drive Debian's
Chromium through Playwright, and record every request and policy violation of the page.

tests/conftest.py loads these fixtures through ``pytest_plugins``. They need the
``short_build`` and ``fashion_mnist_dir`` fixtures from conftest.py.

Fixtures:
    site_dir             the built site folder (``short_build / "site"``)
    chromium             one headless Chromium for the session
    site_server          a StaticServer for ``site_dir``; its ``url`` ends with SUB_PATH
    web_page             a fresh browser context and page (empty cache), recording its traffic
    fashion_test_set     the real test images (10000, 28, 28) uint8 and labels (10000,)
    keras_probabilities  the short build's Keras model on every test image, (10000, 10)
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from exporter.report.browser import CHROMIUM, CHROMIUM_ARGS, CONTENT_TYPES
from tests.web_images import load_test_set

# The site is served below this path, to prove that every URL in the page is relative.
SUB_PATH = "/some/sub/path/"
# Playwright's default of 30 s, far above the second or so that loading a runtime takes.
TIMEOUT_MS = 30_000

# Records CSP violations before any page script runs, so tests can assert there were none.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


@dataclass
class ServedFile:
    path: str
    status: int
    bytes: int


@dataclass
class StaticServer:
    """A static file server for ``root`` on 127.0.0.1 with an ephemeral port, under SUB_PATH."""

    root: Path
    served: list[ServedFile] = field(default_factory=list)

    def __post_init__(self) -> None:
        handler = functools.partial(_SubPathHandler, self)
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.origin + SUB_PATH

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class _SubPathHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = CONTENT_TYPES

    def __init__(self, server_state: StaticServer, *args, **kwargs) -> None:
        self.server_state = server_state
        super().__init__(*args, directory=str(server_state.root), **kwargs)

    def send_head(self):
        if not urlsplit(self.path).path.startswith(SUB_PATH):
            self.send_error(404, f"only {SUB_PATH} is served")
            return None
        return super().send_head()

    def translate_path(self, path: str) -> str:
        request_path = unquote(urlsplit(path).path)
        return super().translate_path("/" + request_path[len(SUB_PATH) :])

    def end_headers(self) -> None:
        # Every navigation in a test must hit the network, as a first visit would.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path
        file = Path(self.translate_path(self.path))
        size_bytes = file.stat().st_size if code == 200 and file.is_file() else 0
        self.server_state.served.append(ServedFile(path, int(code), size_bytes))

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean; log_request records what matters


@dataclass
class PageRecorder:
    """Everything a page did that tests assert on."""

    requests: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


def launch_chromium(playwright):
    """Launch Debian's Chromium headless with the workplace's flags."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def new_recorded_page(browser, **context_options):
    """Open a page in a fresh context (empty cache) that records requests, errors and CSP violations."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    recorder = PageRecorder()
    page.on("request", lambda request: recorder.requests.append(request.url))
    page.on("response", lambda response: response.status >= 400 and recorder.failed_responses.append(f"{response.status} {response.url}"))
    page.on("console", lambda message: message.type == "error" and recorder.console_errors.append(message.text))
    page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    page.add_init_script(RECORD_VIOLATIONS)
    page.recorder = recorder
    return page


def open_site(page, base_url: str, backend: str | None = None) -> None:
    """Navigate to the page (optionally choosing the first backend) and wait until it is ready."""
    query = f"?backend={backend}" if backend else ""
    page.goto(base_url + "index.html" + query)
    # Selector waits, because the page's CSP forbids the eval behind wait_for_function.
    page.wait_for_selector("body:not([data-state='loading'])", state="attached")
    state = page.evaluate("document.body.dataset.state")
    message = page.text_content("#message")
    assert state == "ready", f"page did not start: {message}"


def wait_for_result(page, previous_run: str) -> dict:
    """Wait until the result area changes after ``previous_run`` and return its data attributes."""
    page.wait_for_selector(f"#result:not([data-run='{previous_run}'])", state="attached")
    page.wait_for_selector("body[data-busy='false']", state="attached")
    return page.evaluate("({...document.getElementById('result').dataset})")


UPLOAD_WAYS = ("picker", "drop", "paste")

_DISPATCH_FILE = """([base64, name, type, how]) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  if (how === 'drop') {
    const zone = document.getElementById('drop-zone');
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  } else {
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
  }
}"""


def upload(page, data: bytes, name: str, mime_type: str, how: str = "picker") -> dict:
    """Give the page a file the way a person would (file picker, drop or paste); return the result."""
    run = result_run(page)
    if how == "picker":
        page.set_input_files("#file-input", files=[{"name": name, "mimeType": mime_type, "buffer": data}])
    else:
        assert how in UPLOAD_WAYS, how
        page.evaluate(_DISPATCH_FILE, [base64.b64encode(data).decode(), name, mime_type, how])
    return wait_for_result(page, run)


def result_run(page) -> str:
    return page.evaluate("document.getElementById('result').dataset.run")


def csp_violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


@pytest.fixture(scope="session")
def site_dir(short_build: Path) -> Path:
    """The site folder of the short build. A build without a page fails here, not later."""
    site = short_build / "site"
    assert (site / "index.html").is_file(), f"{site} has no index.html; the build did not copy web/"
    return site


@pytest.fixture(scope="session")
def fashion_test_set(fashion_mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    return load_test_set(fashion_mnist_dir)


@pytest.fixture(scope="session")
def keras_probabilities(short_build: Path, fashion_test_set) -> np.ndarray:
    import keras

    model = keras.saving.load_model(short_build / "model.keras")
    images, _ = fashion_test_set
    return model.predict(images.astype(np.float32), batch_size=1000, verbose=0)


def confident_index(probabilities: np.ndarray, labels: np.ndarray, label: int, minimum: float = 0.9) -> int:
    """Return the first test index of ``label`` that Keras gets right with at least ``minimum``.

    Upload tests test the page, not the model, so they start from images the model classifies right.
    """
    candidates = np.flatnonzero((labels == label) & (probabilities[:, label] >= minimum))
    assert candidates.size, f"Keras is never {minimum:.0%} sure of class {label}; train longer"
    return int(candidates[0])


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One headless Chromium for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def site_server(site_dir: Path) -> Iterator[StaticServer]:
    with StaticServer(site_dir) as server:
        yield server


@pytest.fixture
def web_page(chromium) -> Iterator[object]:
    page = new_recorded_page(chromium)
    yield page
    with contextlib.suppress(Exception):
        page.context.close()
