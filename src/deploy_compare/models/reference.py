"""The built-in reference model: a small CNN trained on the bundled digits.

Training is deterministic (fixed seeds, one thread for the reductions that matter) and
cached by a content hash of (architecture source, training settings, data): a rerun loads
the cached weights instead of retraining.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..fileio import atomic_path
from ..statistics import top1_accuracy
from .data import load_digits_split
from .spec import ModelBundle

NAME = "digits_cnn"


class DigitsCNN(nn.Module):
    """Two 3x3 convolutions, one 2x2 max-pool, two dense layers: about 40k parameters."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 0
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 2e-3


def _content_hash(settings: TrainSettings, x_train: np.ndarray, y_train: np.ndarray) -> str:
    digest = hashlib.sha256()
    # The code that makes the weights is part of their identity: change it, retrain.
    for code in (DigitsCNN, train, build):
        digest.update(inspect.getsource(code).encode())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    digest.update(torch.__version__.encode())
    digest.update(x_train.tobytes())
    digest.update(y_train.tobytes())
    return digest.hexdigest()[:16]


def train(
    model: nn.Module, x: np.ndarray, y: np.ndarray, settings: TrainSettings, progress: Callable[[str], None] = print
) -> None:
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(settings.epochs):
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for start in range(0, len(xt), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0 or epoch == 0:
            progress(f"  epoch {epoch + 1}/{settings.epochs}: loss {total / len(xt):.4f}")
    model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    return top1_accuracy(logits, y)


def build(
    cache_dir: Path, settings: TrainSettings = TrainSettings(), progress: Callable[[str], None] = print
) -> ModelBundle:
    """Train (or load from cache) the reference CNN and return it with its data."""
    split = load_digits_split()
    key = _content_hash(settings, split.x_train, split.y_train)
    weights = Path(cache_dir) / f"{NAME}-{key}.pt"
    torch.manual_seed(settings.seed)  # the initial weights come from the global RNG: seed it first
    model = DigitsCNN()
    if weights.exists():
        model.load_state_dict(torch.load(weights, weights_only=True))
        model.eval()
        progress(f"model: reusing cached {NAME} ({weights})")
    else:
        progress(f"model: training {NAME} on {len(split.x_train)} digits ({settings.epochs} epochs)")
        started = time.perf_counter()
        train(model, split.x_train, split.y_train, settings, progress)
        with atomic_path(weights) as tmp:
            torch.save(model.state_dict(), tmp)
        progress(f"model: trained in {time.perf_counter() - started:.1f}s, cached at {weights}")
    return ModelBundle(
        name=NAME,
        source=f"builtin:{NAME}",
        module=model,
        example_input=split.x_train[:8],
        eval_inputs=split.x_eval,
        eval_labels=split.y_eval,
        calibration_inputs=split.x_train,
        layout="NCHW",
    )
