"""Verify a finished build in every runtime and write its report.

    python -m exporter verify --out build [--no-browser]

Every runtime classifies all 10,000 test images, and Keras (``model.keras``) is the reference.
onnxruntime in Python, and ONNX Runtime Web and TF.js (graph and layers model) in headless
Chromium, must match it within the tolerances of ``exporter.verify``. Each quantized variant found in the site is run by the same
runtime as its float32 model and must stay within the accuracy floor. Writes:

    build/report.json        every figure, for machines and CI
    build/site/report.html   the same for people, with the plots and the model card
    build/site/report/       history.png and confusion.png
    build/site/variants.json each model file the page can load, its size and accuracy, and the default

The report is written even when a check fails; then ``ParityError`` lists every failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exporter import data, site, verify
from exporter.contract import LABELS
from exporter.export.quantize import FLOAT32_VARIANTS, QUANTIZED_VARIANTS, Variant, variant_size
from exporter.report import card, html, plots
from exporter.report.browser import CHROMIUM, BrowserError, BrowserRunner, check_chromium

FORMAT_VERSION = 1
REPORT_JSON = "report.json"  # in the build folder
REPORT_HTML = "report.html"  # in the site
VARIANTS_JSON = "variants.json"  # in the site
PLOTS_DIR = "report"  # in the site
# The name each page backend's runtime goes by in the report.
BROWSER_RUNTIMES = {"ort": "onnxruntime-web", "tfjs-graph": "tfjs-graph", "tfjs-layers": "tfjs-layers"}
PYTHON_RUNTIME = "onnxruntime"


class BuildFolderError(Exception):
    """The build folder is missing a file that verification needs."""


@dataclass
class VerifyResult:
    """The figures of one ``verify_build`` run and the paths of its report."""

    out: Path
    runtimes: list[verify.ParityReport]
    variants: list[verify.VariantReport]
    failures: list[str]
    skipped: list[str] = field(default_factory=list)
    default_variant: str | None = None
    report_json: Path | None = None
    report_html: Path | None = None


def verify_build(
    out: Path = Path("build"),
    *,
    data_dir: Path | None = None,
    dataset: data.Dataset | None = None,
    browser: bool = True,
    chromium: str = CHROMIUM,
    log: Callable[[str], None] = print,
) -> VerifyResult:
    """Evaluate every runtime and variant of the build in ``out``, write the report, and return it.

    ``dataset`` skips loading the data set again, for a caller that has it; otherwise it is
    loaded from ``data_dir`` or the usual places.

    Raises ``BuildFolderError`` when ``out`` is not a finished build, ``data.DatasetError`` when
    the test set is missing, ``browser.BrowserError`` when Chromium does not start, and
    ``verify.ParityError`` (after writing the report) when any check fails.
    """
    import keras

    out = Path(out)
    site_dir = out / "site"
    _check_build_folder(out)
    if browser:
        check_chromium(chromium)  # before minutes of work in the other runtimes
    dataset = dataset or data.load(data_dir, log=log)
    images, labels = dataset.test_images, dataset.test_labels

    log(f"Keras: {out / 'model.keras'} on {len(labels):,} test images")
    model = keras.saving.load_model(out / "model.keras")
    keras_probabilities = np.asarray(model.predict(images.astype(np.float32), batch_size=1_000, verbose=0), dtype=np.float32)

    present = [variant for variant in QUANTIZED_VARIANTS if (site_dir / variant.path).is_file()]
    runs = _Runs(keras_probabilities, labels, site_dir, log)
    onnx_models = [variant for variant in (FLOAT32_VARIANTS[0], *present) if variant.backend == "ort"]
    runs.evaluate(PYTHON_RUNTIME, onnx_models, lambda variant: verify.onnxruntime_probabilities(site_dir / variant.path, images))

    skipped, browser_version = [], None
    if browser:
        with BrowserRunner(site_dir, chromium) as runner:
            browser_version = runner.version
            log(f"Chromium {runner.version}: the page's own runtimes, served from {runner.base_url}")
            for backend, runtime in BROWSER_RUNTIMES.items():
                on_backend = [variant for variant in (*FLOAT32_VARIANTS, *present) if variant.backend == backend]
                runs.evaluate(runtime, on_backend, lambda variant: runner.probabilities(variant, images))
    else:
        skipped.append("ONNX Runtime Web and TF.js in Chromium (--no-browser)")
        if any(variant.backend != "ort" for variant in present):
            skipped.append("the TF.js variants, which run only in the browser (--no-browser)")
    if not present:
        skipped.append("quantized variants (the build made none)")

    runtimes, variants = runs.runtimes, runs.variants
    failures = runs.errors + [failure for report in (*runtimes, *variants) for failure in report.failures()]
    default = choose_default(variants)
    document = _report_document(out, model, dataset, keras_probabilities, runtimes, variants, failures, skipped, default, browser_version)
    result = VerifyResult(out, runtimes, variants, failures, skipped, default)
    result.report_json, result.report_html = _write_report(out, document)
    site.write_json(site_dir / VARIANTS_JSON, variants_document(site_dir, variants, runtimes, default) | {"report": REPORT_HTML})
    if failures:
        raise verify.ParityError(failures)
    return result


def choose_default(variants: list[verify.VariantReport]) -> str:
    """Return the smallest (gzipped) variant that passed its accuracy floor in the browser.

    Falls back to ``onnx-float32`` when none passed, or when the browser did not run, since a
    Python figure does not show how a variant fares in the page.
    """
    candidates = [report for report in variants if report.runtime in BROWSER_RUNTIMES.values() and not report.failures()]
    if not candidates:
        return FLOAT32_VARIANTS[0].name
    return min(candidates, key=lambda report: (report.gzip_bytes, report.bytes)).variant


def variants_document(site_dir: Path, variants: list[verify.VariantReport], runtimes: list[verify.ParityReport], default: str) -> dict:
    """Return ``variants.json``: every model the page can load, its size and browser accuracy, and the default."""
    float32_reports = {report.runtime: report for report in runtimes}
    measured = {report.variant: report for report in variants if report.runtime in BROWSER_RUNTIMES.values()}
    entries = []
    for variant in (*FLOAT32_VARIANTS, *QUANTIZED_VARIANTS):
        if not (site_dir / variant.path).is_file():
            continue
        size = variant_size(site_dir, variant)
        entry = variant.as_dict() | {"bytes": size[0], "gzip_bytes": size[1]}
        if variant.name in measured:
            entry |= {"accuracy": measured[variant.name].accuracy, "passed": not measured[variant.name].failures()}
        elif variant.weights == "float32" and BROWSER_RUNTIMES[variant.backend] in float32_reports:
            report = float32_reports[BROWSER_RUNTIMES[variant.backend]]
            entry |= {"accuracy": report.runtime_accuracy, "passed": not report.failures()}
        entries.append(entry)
    return {"format_version": FORMAT_VERSION, "default": default, "variants": entries}


def _check_build_folder(out: Path) -> None:
    needed = [out / "model.keras", out / "site" / site.ONNX_PATH, out / "site" / "metadata.json", out / "site" / "index.html"]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise BuildFolderError(
            f"{out} is not a finished build: {', '.join(missing)} missing. "
            f"Run `python -m exporter build --out {out}` first, or pass the build's folder with --out."
        )


def _with_log(report, log: Callable[[str], None]):
    log(report.summary_line())
    return report


class _Runs:
    """Collects the reports of every runtime and variant, and each model that failed to run at all."""

    def __init__(self, keras_probabilities: np.ndarray, labels: np.ndarray, site_dir: Path, log: Callable[[str], None]):
        self.keras_probabilities = keras_probabilities
        self.labels = labels
        self.site_dir = site_dir
        self.log = log
        self.runtimes: list[verify.ParityReport] = []
        self.variants: list[verify.VariantReport] = []
        self.errors: list[str] = []

    def evaluate(self, runtime: str, variants: list[Variant], predict: Callable[[Variant], np.ndarray]) -> None:
        """Run ``predict`` on each of ``variants`` (float32 ones first) and compare, in ``runtime``."""
        probabilities = {}
        for variant in variants:
            try:
                probabilities[variant.name] = predict(variant)
            except (BrowserError, *_onnxruntime_errors()) as error:
                self.errors.append(f"{variant.name} in {runtime}: failed to run: {error}")
                self.log(f"✗ {self.errors[-1]}")
                continue
            if variant.weights == "float32":
                report = verify.compare(runtime, self.keras_probabilities, probabilities[variant.name], self.labels)
                self.runtimes.append(_with_log(report, self.log))
            elif variant.float32 in probabilities:
                report = verify.compare_variant(
                    variant.name,
                    runtime,
                    probabilities[variant.float32],
                    probabilities[variant.name],
                    self.labels,
                    size=variant_size(self.site_dir, variant),
                )
                self.variants.append(_with_log(report, self.log))


def _onnxruntime_errors() -> tuple[type[Exception], ...]:
    # onnxruntime's errors derive from Exception directly, with no common base class.
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (
        state.Fail,
        state.InvalidArgument,
        state.InvalidGraph,
        state.InvalidProtobuf,
        state.NoSuchFile,
        state.NotImplemented,
        state.RuntimeException,
    )


def _report_document(out, model, dataset, keras_probabilities, runtimes, variants, failures, skipped, default, browser_version) -> dict:
    metadata = json.loads((out / "site" / "metadata.json").read_text())
    labels = dataset.test_labels
    matrix = card.confusion_matrix(labels, keras_probabilities.argmax(axis=1), len(LABELS))
    classes = card.per_class_accuracy(matrix, LABELS)
    pairs = card.most_confused_pairs(matrix, LABELS)
    weights = {variant.name: variant.weights for variant in QUANTIZED_VARIANTS}
    test_accuracy = float(np.trace(matrix) / matrix.sum())
    return {
        "format_version": FORMAT_VERSION,
        "images": int(len(labels)),
        "reference": "keras",
        "tolerances": {
            "max_abs_diff": verify.MAX_ABS_DIFF,
            "argmax_agreement": verify.MIN_ARGMAX_AGREEMENT,
            "max_accuracy_drop": verify.MAX_ACCURACY_DROP,
        },
        "runtimes": [
            report.as_dict() | {"where": "python" if report.runtime == PYTHON_RUNTIME else "chromium", "passed": not report.failures()}
            for report in runtimes
        ],
        "variants": [report.as_dict() | {"weights": weights[report.variant], "passed": not report.failures()} for report in variants],
        "default_variant": default,
        "failures": failures,
        "skipped": skipped,
        "test_accuracy": test_accuracy,
        "confusion_matrix": {"labels": list(LABELS), "rows_are": "true class", "counts": matrix.tolist()},
        "per_class_accuracy": classes,
        "most_confused": pairs,
        "known_limits": card.known_limits(pairs, classes, test_accuracy),
        "plots": {"history": f"{PLOTS_DIR}/history.png", "confusion": f"{PLOTS_DIR}/confusion.png"},
        "model_card": card.model_card(model, metadata, out, browser_version=browser_version),
    }


def _write_report(out: Path, document: dict) -> tuple[Path, Path]:
    site_dir = out / "site"
    (site_dir / PLOTS_DIR).mkdir(exist_ok=True)
    history_file = out / "history.json"
    epochs = json.loads(history_file.read_text())["epochs"] if history_file.is_file() else []
    plots.plot_history(epochs, site_dir / document["plots"]["history"])
    matrix = np.asarray(document["confusion_matrix"]["counts"])
    plots.plot_confusion(matrix, LABELS, site_dir / document["plots"]["confusion"])
    site.write_json(out / REPORT_JSON, document)
    (site_dir / REPORT_HTML).write_text(html.render(document))
    return out / REPORT_JSON, site_dir / REPORT_HTML
