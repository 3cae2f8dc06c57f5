"""Check that an export computes what the Keras model computes, on the same test images.

Each runtime's probabilities are compared with Keras's: the largest and mean absolute
difference, how often the predicted class agrees, and each side's accuracy. Every check is
collected before anything is raised, so one ``ParityError`` lists all the failures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from exporter.contract import INPUT_NAME, OUTPUT_NAME

MAX_ABS_DIFF = 1e-5  # largest allowed |Δ| of any probability
MIN_ARGMAX_AGREEMENT = 1.0  # fraction of images whose predicted class must agree
MAX_LISTED_INDICES = 50  # disagreeing image indices kept in a report


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


def raise_on_failures(reports: list[ParityReport]) -> None:
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
