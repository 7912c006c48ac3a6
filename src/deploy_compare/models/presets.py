"""Image-model presets at real sizes: `--model builtin:mobilenet_v2`, `builtin:resnet18`.

`@SIZE` picks a smaller square input for quick runs (`builtin:mobilenet_v2@64`); the
default is the size these models are deployed at, 224x224x3.

Weights: nothing is downloaded, so each preset is trained on a task the project builds
offline: the bundled 8x8 digits, upsampled to the input size as 3-channel images with
per-channel tints, normalised to roughly zero mean and unit spread (the range an
ImageNet-normalised camera frame has). Training is progressive resizing: most steps at
TRAIN_SIZE pixels (a 224-pixel step costs ~40x a 32-pixel one), then a few steps at each
doubling of the size and at the real size itself (a network trained only at 32 pixels sees
a digit 7x larger at 224 and answers near chance), then a BatchNorm re-estimate at the real
size, so BatchNorm statistics and activations are in the range real inputs produce: parity,
top-1 agreement and int8 calibration then mean something. The held-out accuracy is
measured and printed after training (at least 90% is the aim: the built-in CNN has 98%);
it is that of a briefly trained model on an easy task: a reference for what each export
costs, not an ImageNet figure. Weights are cached by content hash, like the built-in
digits model.
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
from . import architectures
from .data import load_digits_split
from .names import IMAGE_PRESETS, model_name
from .spec import ModelBundle

PRESETS: dict[str, Callable[[], nn.Module]] = {
    "mobilenet_v2": architectures.MobileNetV2,
    "resnet18": architectures.ResNet18,
}
assert set(PRESETS) == set(IMAGE_PRESETS), "names.IMAGE_PRESETS names what this module builds"
TRAIN_SIZE = 32
# eval.npz carries the eval inputs: 450 samples at 224x224x3 would be 271 MB; 111 are 67 MB.
MAX_EVAL_BYTES = 64 * 2**20
CALIBRATION_SAMPLES = 300
# Per-channel tint and normalisation: three channels that differ, centred near 0.
TINT = np.array([1.0, 0.8, 0.6], np.float32)[:, None, None]
OFFSET = np.array([0.0, 0.1, 0.2], np.float32)[:, None, None]
MEAN, STD = 0.3, 0.3


@dataclass(frozen=True)
class PresetSettings:
    seed: int = 0
    steps: int = 400  # at TRAIN_SIZE, batch 32 (about 9.5 epochs of the 1,347 digits)
    resize_steps: int = 60  # at each doubling of TRAIN_SIZE below the real size
    finetune_steps: int = 100  # at the real size, when it is larger than TRAIN_SIZE
    batch_size: int = 32
    # above this size a step of 32 images costs seconds: the larger sizes train on smaller batches
    large_size: int = 128
    large_batch_size: int = 16
    learning_rate: float = 2e-3
    resize_learning_rate: float = 5e-4  # after TRAIN_SIZE: adapt, do not relearn
    bn_batches: int = 4  # BatchNorm re-estimated at the real size over this many batches


def schedule(size: int, settings: PresetSettings) -> list[tuple[int, int, int, float]]:
    """(pixels, steps, batch size, learning rate) of each training stage for a preset of `size`."""
    first = min(size, TRAIN_SIZE)
    stages = [(first, settings.steps, settings.batch_size, settings.learning_rate)]
    current = first * 2
    while current < size:
        stages.append((current, settings.resize_steps, _batch(current, settings), settings.resize_learning_rate))
        current *= 2
    if size > first and settings.finetune_steps:
        stages.append((size, settings.finetune_steps, _batch(size, settings), settings.resize_learning_rate))
    return stages


def _batch(size: int, settings: PresetSettings) -> int:
    return settings.large_batch_size if size > settings.large_size else settings.batch_size


def images(x: np.ndarray, size: int) -> np.ndarray:
    """8x8 digits (N, 1, 8, 8) in [0, 1] -> normalised (N, 3, size, size) float32 images."""
    t = torch.nn.functional.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear", align_corners=False)
    rgb = t.numpy() * TINT + OFFSET
    return ((rgb - MEAN) / STD).astype(np.float32)


def _shifted(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to 1/8 of the image: the task is not a fixed template."""
    size = batch.shape[-1]
    limit = max(1, size // 8)
    dx, dy = (int(v) for v in torch.randint(-limit, limit + 1, (2,), generator=generator))
    return torch.roll(batch, shifts=(dy, dx), dims=(2, 3))


def _train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    stage: tuple[int, int, int, float],
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    progress: Callable[[str], None],
) -> None:
    size, steps, batch_size, learning_rate = stage
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    yt = torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(yt), (batch_size,), generator=generator)
        # upsampled per batch: all 1,347 digits at 224 pixels would hold 810 MB
        batch = torch.from_numpy(images(x[idx.numpy()], size))
        optimizer.zero_grad()
        loss = loss_fn(model(_shifted(batch, generator)), yt[idx])
        loss.backward()
        optimizer.step()
        if (step + 1) % 50 == 0 or step + 1 == steps:
            progress(f"  {size}px step {step + 1}/{steps}: loss {loss.item():.3f}")


def _reestimate_batchnorm(model: nn.Module, x: np.ndarray, size: int, settings: PresetSettings) -> None:
    """Running mean/var from forward passes at the deployed size (cumulative average)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(settings.bn_batches):
            chunk = x[i * settings.batch_size : (i + 1) * settings.batch_size]
            if len(chunk):
                model(torch.from_numpy(images(chunk, size)))
    model.eval()


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, size: int, chunk: int = 32) -> float:
    """Top-1 accuracy on the first len(x) labels, in chunks (224-pixel activations are large)."""
    model.eval()
    with torch.no_grad():
        logits = [model(torch.from_numpy(images(x[i : i + chunk], size))).numpy() for i in range(0, len(x), chunk)]
    return top1_accuracy(np.concatenate(logits), y[: len(x)])


def _content_hash(base: str, size: int, settings: PresetSettings) -> str:
    digest = hashlib.sha256()
    for code in (architectures, schedule, _batch, _train, _reestimate_batchnorm, images, _shifted, build):
        digest.update(inspect.getsource(code).encode())
    digest.update(json.dumps({"base": base, "size": size, **asdict(settings)}, sort_keys=True).encode())
    digest.update(torch.__version__.encode())
    return digest.hexdigest()[:16]


def eval_count(size: int, available: int) -> int:
    per_sample = 3 * size * size * 4
    return int(min(available, max(32, MAX_EVAL_BYTES // per_sample)))


def build(
    base: str,
    size: int,
    cache_dir: Path,
    settings: PresetSettings = PresetSettings(),
    progress: Callable[[str], None] = print,
) -> ModelBundle:
    """Train (or load from cache) preset `base` at `size`x`size`x3 and return it with its data."""
    name = model_name(f"builtin:{base}@{size}")
    split = load_digits_split()
    weights = Path(cache_dir) / f"{name}-{_content_hash(base, size, settings)}.pt"
    torch.manual_seed(settings.seed)  # initial weights come from the global RNG
    model = PRESETS[base]()
    if weights.exists():
        model.load_state_dict(torch.load(weights, weights_only=True))
        progress(f"model: reusing cached {name} ({weights})")
    else:
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(settings.seed)
        stages = schedule(size, settings)
        progress(
            f"model: training {name} on {len(split.x_train)} digits, "
            + ", ".join(f"{steps} steps at {px}px" for px, steps, _, _ in stages)
            + " (weights are cached afterwards)"
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
        for stage in stages:
            _train(model, split.x_train, split.y_train, stage, optimizer, generator, progress)
        _reestimate_batchnorm(model, split.x_train, size, settings)
        with atomic_path(weights) as tmp:
            torch.save(model.state_dict(), tmp)
        held_out = _accuracy(model, split.x_eval[: eval_count(size, len(split.x_eval))], split.y_eval, size)
        progress(
            f"model: trained {name} in {time.perf_counter() - started:.1f}s "
            f"(held-out accuracy {held_out:.1%}), cached at {weights}"
        )
    model.eval()
    n_eval = eval_count(size, len(split.x_eval))
    return ModelBundle(
        name=name,
        source=f"builtin:{base}@{size}",
        module=model,
        example_input=images(split.x_train[:8], size),
        eval_inputs=images(split.x_eval[:n_eval], size),
        eval_labels=split.y_eval[:n_eval],
        calibration_inputs=images(split.x_train[:CALIBRATION_SAMPLES], size),
        layout="NCHW",
    )
