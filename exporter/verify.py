"""Check that an export computes what the Keras model computes, on the same test images.

Each runtime's probabilities are compared with Keras's: the largest and mean absolute
difference, how often the predicted class agrees, and each side's accuracy. A quantized variant
is compared with its float32 model in the same runtime instead, and only its accuracy is gated.
Every check is collected before anything is raised, so one ``ParityError`` lists all the failures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from exporter.contract import INPUT_NAME, OUTPUT_NAME

MAX_ABS_DIFF = 1e-5  # largest allowed |Δ| of any probability
MIN_ARGMAX_AGREEMENT = 1.0  # fraction of images whose predicted class must agree
MAX_LISTED_INDICES = 50  # disagreeing image indices kept in a report
MAX_ACCURACY_DROP = 0.005  # a quantized variant may lose at most 0.5 percentage points of accuracy


@dataclass(frozen=True)
class ParityReport:
    """One runtime's probabilities compared with the reference's on the same images."""

    runtime: str
    images: int
    max_abs_diff: float
    mean_abs_diff: float
    argmax_agreement: float
    reference_accuracy: float
    runtime_accuracy: float
    disagreeing_indices: list[int] = field(default_factory=list)

    def failures(self, max_abs_diff: float = MAX_ABS_DIFF, min_agreement: float = MIN_ARGMAX_AGREEMENT) -> list[str]:
        """Return one line per tolerance this report breaks; empty when it passes."""
        problems = []
        if not self.max_abs_diff <= max_abs_diff:
            problems.append(f"{self.runtime}: max |Δ| {self.max_abs_diff:.3e} exceeds the tolerance {max_abs_diff:.0e}")
        if self.argmax_agreement < min_agreement:
            shown = ", ".join(str(index) for index in self.disagreeing_indices[:10])
            problems.append(
                f"{self.runtime}: argmax agreement {self.argmax_agreement:.4%} is below {min_agreement:.0%} "
                f"(images {shown}{', …' if len(self.disagreeing_indices) > 10 else ''})"
            )
        return problems

    def as_dict(self) -> dict:
        """Return the report as a JSON-ready dict."""
        return asdict(self)

    def summary_line(self) -> str:
        """Return a ✓/✗ line with the figures, for the terminal."""
        mark = "✗" if self.failures() else "✓"
        return (
            f"{mark} {self.runtime}: max |Δ| {self.max_abs_diff:.2e}, mean |Δ| {self.mean_abs_diff:.2e}, "
            f"argmax agreement {self.argmax_agreement:.2%} on {self.images:,} images, "
            f"accuracy {self.runtime_accuracy:.4f} (reference {self.reference_accuracy:.4f})"
        )


@dataclass(frozen=True)
class VariantReport:
    """A quantized variant compared with its float32 model, run by the same runtime on the same images."""

    variant: str
    runtime: str
    images: int
    bytes: int
    gzip_bytes: int
    accuracy: float
    float32_accuracy: float
    argmax_agreement: float  # with the float32 model's predicted classes
    max_abs_diff: float  # from the float32 model's probabilities, for information only

    @property
    def accuracy_change(self) -> float:
        """Accuracy minus the float32 model's, as a fraction (-0.005 is 0.5 percentage points lower)."""
        return self.accuracy - self.float32_accuracy

    def failures(self, max_drop: float = MAX_ACCURACY_DROP) -> list[str]:
        """Return one line if the accuracy is below the float32 accuracy minus ``max_drop``; else nothing."""
        # Rounded to whole images, so a drop of exactly the floor passes despite float error.
        floor = self.float32_accuracy - max_drop
        if round(self.accuracy * self.images) >= round(floor * self.images):
            return []
        return [
            f"{self.variant} in {self.runtime}: accuracy {self.accuracy:.2%} is below the floor {floor:.2%} "
            f"({self.accuracy_change * 100:+.2f} points from float32 {self.float32_accuracy:.2%}, "
            f"at most {max_drop * 100:.1f} allowed)"
        ]

    def as_dict(self) -> dict:
        """Return the report as a JSON-ready dict, with the accuracy change."""
        return asdict(self) | {"accuracy_change": self.accuracy_change}

    def summary_line(self) -> str:
        """Return a ✓/✗ line with the figures, for the terminal."""
        mark = "✗" if self.failures() else "✓"
        return (
            f"{mark} {self.variant} in {self.runtime}: accuracy {self.accuracy:.4f} "
            f"({self.accuracy_change * 100:+.2f} points), argmax agreement with float32 {self.argmax_agreement:.2%}, "
            f"{self.bytes / 1024:,.1f} KiB ({self.gzip_bytes / 1024:,.1f} KiB gzipped)"
        )


class ParityError(ValueError):
    """An export disagrees with the reference beyond the tolerances; the message lists each failure."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        lines = "\n".join(f"  - {failure}" for failure in failures)
        super().__init__(f"the exports do not match the Keras model:\n{lines}")


def compare(runtime: str, reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray) -> ParityReport:
    """Compare ``candidate`` probabilities ``[n, 10]`` with ``reference`` on images whose classes are ``labels``."""
    if reference.shape != candidate.shape:
        raise ParityError([f"{runtime}: output shape {candidate.shape} differs from the reference's {reference.shape}"])
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    reference_classes = reference.argmax(axis=1)
    candidate_classes = candidate.argmax(axis=1)
    disagreeing = np.flatnonzero(reference_classes != candidate_classes)
    return ParityReport(
        runtime=runtime,
        images=len(labels),
        max_abs_diff=float(np.nanmax(diff)) if np.isfinite(diff).all() else float("inf"),
        mean_abs_diff=float(diff.mean()),
        argmax_agreement=1.0 - len(disagreeing) / len(labels),
        reference_accuracy=float((reference_classes == labels).mean()),
        runtime_accuracy=float((candidate_classes == labels).mean()),
        disagreeing_indices=[int(index) for index in disagreeing[:MAX_LISTED_INDICES]],
    )


def compare_variant(
    variant: str,
    runtime: str,
    float32: np.ndarray,
    quantized: np.ndarray,
    labels: np.ndarray,
    *,
    size: tuple[int, int],
) -> VariantReport:
    """Compare a quantized variant's probabilities ``[n, 10]`` with its float32 model's.

    ``size`` is the variant's ``(bytes, gzip bytes)``.
    """
    if float32.shape != quantized.shape:
        raise ParityError([f"{variant} in {runtime}: output shape {quantized.shape} differs from float32's {float32.shape}"])
    diff = np.abs(float32.astype(np.float64) - quantized.astype(np.float64))
    return VariantReport(
        variant=variant,
        runtime=runtime,
        images=len(labels),
        bytes=size[0],
        gzip_bytes=size[1],
        accuracy=float((quantized.argmax(axis=1) == labels).mean()),
        float32_accuracy=float((float32.argmax(axis=1) == labels).mean()),
        argmax_agreement=float((quantized.argmax(axis=1) == float32.argmax(axis=1)).mean()),
        max_abs_diff=float(diff.max()) if np.isfinite(diff).all() else float("inf"),
    )


def raise_on_failures(reports: list[ParityReport | VariantReport]) -> None:
    """Raise one ``ParityError`` that lists every failure of every report, if there is any."""
    failures = [failure for report in reports for failure in report.failures()]
    if failures:
        raise ParityError(failures)


def onnxruntime_probabilities(model_path: Path, images: np.ndarray, batch_size: int = 1_000) -> np.ndarray:
    """Run ``model_path`` with onnxruntime's CPU provider on ``images`` ``[n, 28, 28]``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    batches = [
        session.run([OUTPUT_NAME], {INPUT_NAME: images[start : start + batch_size].astype(np.float32)})[0]
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(batches).astype(np.float32)
