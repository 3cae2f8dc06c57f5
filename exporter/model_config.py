"""Hyperparameters of the MLP and their checks, importable without TensorFlow."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

ACTIVATIONS = ("relu", "sigmoid", "tanh")


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of one training run; every field is recorded in metadata.json."""

    hidden: tuple[int, ...] = (512, 256)  # units per hidden Dense layer
    activation: str = "relu"  # one of ACTIVATIONS; sigmoid is the classic MLP's
    dropout: float = 0.2  # after each hidden layer; 0 disables it
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 0.1  # initial SGD rate, cosine-decayed to 0 over all steps
    momentum: float = 0.9
    validation_size: int = 5_000  # held out of the 60,000 training images
    seed: int = 0

    def as_dict(self) -> dict:
        """Return the hyperparameters as a JSON-ready dict."""
        values = asdict(self)
        values["hidden"] = list(self.hidden)
        return values


def validate_config(config: TrainingConfig) -> None:
    """Raise ``ValueError`` naming the first invalid hyperparameter and its allowed values."""
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {config.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    if not config.hidden or any(units < 1 for units in config.hidden):
        raise ValueError(f"hidden layers must be one or more positive sizes, got {list(config.hidden)}")
    if config.epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {config.epochs}")
    if config.batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {config.batch_size}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
    if not (config.learning_rate > 0.0 and math.isfinite(config.learning_rate)):
        raise ValueError(f"learning rate must be a positive finite number, got {config.learning_rate}")
    if not 0.0 <= config.momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {config.momentum}")
    if config.validation_size < 1:
        raise ValueError(f"validation size must be at least 1, got {config.validation_size}")
