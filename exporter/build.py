"""Run the whole pipeline: data → model → export → verify → site, into one output folder.

    python -m exporter build --out build

Everything is written into a staging folder next to ``--out`` and swapped in only when every
stage passed, so a failed or interrupted build leaves the previous output as it was.
"""

from __future__ import annotations

import os
import signal
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exporter import data, site
from exporter.model_config import TrainingConfig, validate_config

BUILD_MARKER = ".exporter-build"  # marks a folder as this tool's output, safe to replace


def default_web_dir() -> Path:
    """Return the project's web/ folder: beside the package in a checkout, else ./web."""
    beside_package = Path(__file__).resolve().parent.parent / "web"
    return beside_package if beside_package.is_dir() else Path.cwd() / "web"


class OutputFolderError(Exception):
    """The output folder cannot be written or contains files this tool did not make."""


@dataclass
class BuildResult:
    """Paths, accuracy, parity and stage timings of one finished build."""

    out: Path
    test_accuracy: float
    parity: list
    stage_seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)


def build(
    out: Path = Path("build"),
    config: TrainingConfig = TrainingConfig(),
    *,
    data_dir: Path | None = None,
    web_dir: Path | None = None,
    report: bool = False,
    browser: bool = True,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """Train, export, verify and assemble the site into ``out``; return what was made.

    With ``report``, the build ends with ``exporter.report.run.verify_build``: every runtime
    and quantized variant on all test images (in headless Chromium too, unless ``browser`` is
    false), ``report.json`` and ``site/report.html``. A failed check fails the build.

    Raises ``data.DatasetError``, ``ValueError`` (bad hyperparameters), ``verify.ParityError``,
    ``site.SiteError``, ``OutputFolderError`` or ``report.browser.BrowserError`` for failures a
    user can fix. On any failure the previous contents of ``out`` are untouched.
    """
    validate_config(config)
    out = Path(out)
    web_dir = Path(web_dir) if web_dir is not None else default_web_dir()
    _check_output_folder(out)
    site.check_web(web_dir)  # before training, so a missing npm install costs seconds, not minutes
    if report and browser:
        from exporter.report.browser import CHROMIUM, check_chromium

        check_chromium(CHROMIUM)
    timer = _StageTimer(log)

    with timer.stage("data"):
        dataset = data.load(data_dir, log=log)
        if config.validation_size >= len(dataset.train_images):
            raise ValueError(
                f"--validation-size {config.validation_size:,} leaves no training images out of "
                f"{len(dataset.train_images):,}. Choose a smaller --validation-size."
            )

    # TensorFlow loads only now, after every check that can fail fast.
    from exporter import model as mlp
    from exporter.metadata import build_metadata

    with _staging_folder(out) as staging:
        with timer.stage("train"):
            mlp.seed_everything(config.seed)
            model = mlp.build_model(config)
            log(f"Training {_describe(config)} on {len(dataset.train_images) - config.validation_size:,} images")
            history = mlp.train(model, dataset.train_images, dataset.train_labels, config, log=log)
            keras_probabilities = mlp.predict(model, dataset.test_images)
            test_accuracy = float((keras_probabilities.argmax(axis=1) == dataset.test_labels).mean())
            log(f"Test accuracy {test_accuracy:.4f} on {len(dataset.test_labels):,} images")

        with timer.stage("export"):
            site_dir = staging / "site"
            onnx_model = _export_all(model, staging, site_dir)

        with timer.stage("verify"):
            parity = _verify(site_dir / site.ONNX_PATH, dataset, keras_probabilities, staging, log)

        with timer.stage("site"):
            vendored = site.copy_web(web_dir, site_dir)
            samples = site.write_samples(site_dir, dataset.test_images, dataset.test_labels)
            document = build_metadata(
                config=config,
                dataset=dataset,
                history=history,
                test_accuracy=test_accuracy,
                parity=parity,
                onnx_model=onnx_model,
                files=site.file_digests(site_dir / site.MODELS_DIR, site_dir),
                keras_file=site.file_digest(staging / "model.keras"),
                web_dir=web_dir,
                samples=len(samples),
            )
            site.write_json(site_dir / "metadata.json", document)
            _write_unmeasured_variants(site_dir)
            site.write_json(staging / "history.json", {"epochs": [vars(record) for record in history]})
            log(f"Site assembled with {len(vendored)} runtime files and {len(samples)} samples")

        if report:
            with timer.stage("report"):
                from exporter.report.run import verify_build

                verify_build(staging, dataset=dataset, browser=browser, log=log)

    return BuildResult(
        out=out,
        test_accuracy=test_accuracy,
        parity=parity,
        stage_seconds=timer.seconds,
        files=site.file_digests(out, out),
    )


def _write_unmeasured_variants(site_dir: Path) -> None:
    """List the variants with their sizes and float32 as the default; the report adds accuracies."""
    from exporter.export.quantize import FLOAT32_VARIANTS
    from exporter.report.run import VARIANTS_JSON, variants_document

    site.write_json(site_dir / VARIANTS_JSON, variants_document(site_dir, [], [], FLOAT32_VARIANTS[0].name))


def _export_all(model, staging: Path, site_dir: Path):
    from exporter.export.onnx_export import export_onnx
    from exporter.export.quantize import export_variants
    from exporter.export.tfjs_export import export_graph_model, export_layers_model

    model.save(staging / "model.keras")
    for folder in (site.TFJS_GRAPH_DIR, site.TFJS_LAYERS_DIR):
        (site_dir / folder).mkdir(parents=True)
    onnx_model = export_onnx(model, site_dir / site.ONNX_PATH)
    export_graph_model(model, site_dir / site.TFJS_GRAPH_DIR)
    export_layers_model(model, site_dir / site.TFJS_LAYERS_DIR)
    export_variants(site_dir)  # quantized copies in models/variants/; exporter.report measures them
    return onnx_model


def _verify(onnx_path: Path, dataset: data.Dataset, keras_probabilities: np.ndarray, staging: Path, log) -> list:
    from exporter import verify

    onnx_probabilities = verify.onnxruntime_probabilities(onnx_path, dataset.test_images)
    report = verify.compare("onnxruntime", keras_probabilities, onnx_probabilities, dataset.test_labels)
    log(report.summary_line())
    site.write_json(
        staging / "parity.json",
        {
            "reference": "keras",
            "tolerances": {"max_abs_diff": verify.MAX_ABS_DIFF, "argmax_agreement": verify.MIN_ARGMAX_AGREEMENT},
            "runtimes": [report.as_dict()],
        },
    )
    verify.raise_on_failures([report])
    return [report]


def _describe(config: TrainingConfig) -> str:
    layers = "-".join(str(units) for units in config.hidden)
    epochs = "1 epoch" if config.epochs == 1 else f"{config.epochs} epochs"
    return f"MLP {layers} {config.activation} ({epochs}, seed {config.seed})"


def _check_output_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out} is a file, not a folder. Choose another --out.")
    if out.is_dir() and any(out.iterdir()) and not (out / BUILD_MARKER).exists():
        raise OutputFolderError(
            f"--out {out} is not empty and was not made by this tool, so it will not be replaced. "
            "Choose an empty or new folder."
        )
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=f".{out.name}.write-check-", dir=parent)).rmdir()
    except OSError as error:
        raise OutputFolderError(
            f"cannot write next to --out {out}: {error.strerror or error} ({parent}). "
            "Choose a folder on a writable disk."
        ) from error


@contextmanager
def _staging_folder(out: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; on success swap it in for ``out``, else delete it."""
    parent = out.resolve().parent
    _recover_interrupted_swap(out.resolve())
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    staging.chmod(_folder_mode())  # mkdtemp makes it 0700, which a web server running as another user cannot read
    try:
        yield staging
        (staging / BUILD_MARKER).write_text("Made by `python -m exporter build`; replaced by the next build.\n")
        _swap_in(staging, out.resolve())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _recover_interrupted_swap(out: Path) -> None:
    """Put back an output that a killed build moved aside, and delete abandoned staging folders."""
    for previous in sorted(out.parent.glob(f".{out.name}.previous-*")):
        if not out.exists() and (previous / out.name).is_dir():
            os.replace(previous / out.name, out)
        shutil.rmtree(previous, ignore_errors=True)
    for staging in out.parent.glob(f".{out.name}.staging-*"):
        shutil.rmtree(staging, ignore_errors=True)


def _folder_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def _swap_in(staging: Path, out: Path) -> None:
    # Two renames inside one folder: the old output disappears only after the new one is complete.
    # SIGINT and SIGTERM wait until both renames are done, so Ctrl-C cannot land between them.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        _rename_pair(staging, out)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _rename_pair(staging: Path, out: Path) -> None:
    retired = None
    if out.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
        os.replace(out, retired / out.name)
    try:
        os.replace(staging, out)
    except OSError:
        if retired is not None:
            os.replace(retired / out.name, out)
        raise
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


class _StageTimer:
    """Times named stages and logs each one's start and duration."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.log(f"[{name}]")
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        self.log(f"[{name}] done in {self.seconds[name]:.1f} s")
