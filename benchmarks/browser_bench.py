"""Measure the page in headless Chromium on localhost, for each backend.

For each backend the script reports:
- time to first prediction: from navigation start (cold cache, a fresh browser context) to the
  first result. A script in the page clicks the first sample as soon as the page reports ready,
  so the figure has no round trips to Playwright in it;
- median per-image latency: decoding and preprocessing a 300×300 PNG plus one inference,
  measured inside the page with performance.now() (Chromium coarsens it to 0.1 ms);
- the same for a drawing, which skips decoding: preprocessing 300×300 RGBA pixels plus one
  inference;
- median inference alone on an already preprocessed 28×28 input;
- bytes the server sent before the first prediction, raw and as gzip would send them.

It prints figures and ratios to the targets and sets no threshold.

    python benchmarks/browser_bench.py --site build/site --cold-runs 3 --repeats 50

Needs a built site (``python -m exporter build``), Debian's Chromium at /usr/bin/chromium and
the ``playwright`` Python package. No browser is downloaded.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import statistics
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, installed or not

from tests.browser import StaticServer, launch_chromium, new_recorded_page, open_site  # noqa: E402

BACKENDS = ["ort", "tfjs-graph", "tfjs-layers"]
# Targets from the page's requirements, printed as ratios (figure / target).
TARGET_FIRST_PREDICTION_MS = 1_000
TARGET_PER_IMAGE_MS = 5
TARGET_TFJS_GZIP_BYTES = 1_500_000

# Clicks the first sample the moment the page is ready, as an eager user would.
CLICK_WHEN_READY = """
new MutationObserver((changes, observer) => {
  if (document.body.dataset.state !== 'ready') return;
  observer.disconnect();
  document.querySelector('.sample').click();
}).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-state'] });
"""

# Times n runs each of an upload (decode, preprocess, infer), a drawing (preprocess, infer) and
# inference alone.
MEASURE_LATENCY = """async ([backend, base64, n]) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const file = new File([bytes], 'bench.png', { type: 'image/png' });
  const { decodeImageFile, preprocessRgba } = await import('./preprocess.js');
  const rgba = await decodeImageFile(file);
  const perImage = [];
  const perDrawing = [];
  const inferOnly = [];
  let input = null;
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    input = await window.classifier.preprocess(file);
    await window.classifier.predictBatch(backend, input, 1);
    perImage.push(performance.now() - start);
  }
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await window.classifier.predictBatch(backend, preprocessRgba(rgba.data, rgba.width, rgba.height), 1);
    perDrawing.push(performance.now() - start);
  }
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await window.classifier.predictBatch(backend, input, 1);
    inferOnly.push(performance.now() - start);
  }
  return { perImage, perDrawing, inferOnly };
}"""


def bench_image(site: Path) -> bytes:
    """Return a 300×300 dark-on-white PNG of the first sample, like a drawing or a product photo."""
    samples = sorted((site / "samples").glob("*.png"))
    if not samples:
        raise SystemExit(f"{site}/samples has no PNG files; build the site with python -m exporter build")
    garment = Image.open(samples[0]).convert("L").resize((224, 224), Image.Resampling.BICUBIC)
    page = Image.new("L", (300, 300), 255)
    page.paste(Image.eval(garment, lambda v: 255 - v), (38, 38))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def gzip_size(path: Path, cache: dict[Path, int]) -> int:
    if path not in cache:
        cache[path] = len(gzip.compress(path.read_bytes(), compresslevel=6))
    return cache[path]


def cold_run(browser, server: StaticServer, site: Path, backend: str, gzip_cache: dict) -> dict:
    """Open the page in a fresh context, classify the first sample; return time and bytes."""
    page = new_recorded_page(browser)
    page.add_init_script(CLICK_WHEN_READY)
    first_served = len(server.served)
    try:
        page.goto(f"{server.url}index.html?backend={backend}")
        page.wait_for_selector("#result[data-state='done']", state="attached")
        first_prediction_ms = page.evaluate("performance.getEntriesByName('first-prediction')[0].startTime")
        served = [item for item in server.served[first_served:] if item.status == 200]
    finally:
        page.context.close()

    raw = sum(item.bytes for item in served)
    compressed = sum(gzip_size(site / item.path[len("/some/sub/path/") :], gzip_cache) for item in served)
    return {"first_ms": first_prediction_ms, "raw": raw, "gzip": compressed, "files": len(served)}


def measure_backend(browser, server, site: Path, backend: str, cold_runs: int, repeats: int, image: bytes) -> dict:
    gzip_cache: dict[Path, int] = {}
    runs = [cold_run(browser, server, site, backend, gzip_cache) for _ in range(cold_runs)]

    page = new_recorded_page(browser)
    try:
        open_site(page, server.url, backend)
        latency = page.evaluate(MEASURE_LATENCY, [backend, base64.b64encode(image).decode(), repeats])
    finally:
        page.context.close()

    return {
        "first_ms": statistics.median(run["first_ms"] for run in runs),
        "raw": runs[-1]["raw"],
        "gzip": runs[-1]["gzip"],
        "files": runs[-1]["files"],
        "per_image_ms": statistics.median(latency["perImage"]),
        "per_drawing_ms": statistics.median(latency["perDrawing"]),
        "infer_ms": statistics.median(latency["inferOnly"]),
    }


def print_report(results: dict[str, dict], cold_runs: int, repeats: int) -> None:
    print(f"\nBrowser benchmark: headless Chromium, localhost, {cold_runs} cold runs, {repeats} repeats per latency\n")
    header = (
        f"{'backend':<12} {'first prediction':>17} {'per upload':>11} {'per drawing':>12} {'infer':>8} "
        f"{'files':>6} {'raw':>11} {'gzip':>11}"
    )
    print(header)
    print("-" * len(header))
    for backend, r in results.items():
        print(
            f"{backend:<12} {r['first_ms']:>14,.0f} ms {r['per_image_ms']:>8.2f} ms {r['per_drawing_ms']:>9.2f} ms "
            f"{r['infer_ms']:>5.2f} ms "
            f"{r['files']:>6} {r['raw'] / 1e6:>8.2f} MB {r['gzip'] / 1e6:>8.2f} MB"
        )
    print("\nRatios to the targets (below 1.00 meets the target):")
    for backend, r in results.items():
        parts = [
            f"first prediction {r['first_ms'] / TARGET_FIRST_PREDICTION_MS:.2f}",
            f"per upload {r['per_image_ms'] / TARGET_PER_IMAGE_MS:.2f}",
            f"per drawing {r['per_drawing_ms'] / TARGET_PER_IMAGE_MS:.2f}",
        ]
        if backend.startswith("tfjs"):
            parts.append(f"gzip bytes {r['gzip'] / TARGET_TFJS_GZIP_BYTES:.2f}")
        print(f"  {backend:<12} " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / "build" / "site", help="built site folder (default: build/site)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated backends to measure")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold page loads per backend; the median is reported")
    parser.add_argument("--repeats", type=int, default=50, help="images per latency median")
    args = parser.parse_args()
    if not (args.site / "index.html").is_file():
        raise SystemExit(f"{args.site} has no index.html; build the site with python -m exporter build")

    from playwright.sync_api import sync_playwright

    image = bench_image(args.site)
    results = {}
    with StaticServer(args.site) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for backend in args.backends.split(","):
            results[backend] = measure_backend(browser, server, args.site, backend, args.cold_runs, args.repeats, image)
        browser.close()
    print_report(results, args.cold_runs, args.repeats)


if __name__ == "__main__":
    main()
