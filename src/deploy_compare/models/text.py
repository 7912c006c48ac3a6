"""The text preset: a small BERT-class encoder on a synthetic token task (`--model builtin:text_encoder`).

Two int64 inputs, as a BERT checkpoint exported for serving takes them: `input_ids`
(batch, SEQ_LEN) and `attention_mask` (batch, SEQ_LEN; 1 = token, 0 = padding), and one
output, class logits (batch, NUM_CLASSES). The architecture is BERT's (Devlin et al.
2018) at BERT-Tiny's width (Turc et al. 2019: 2 layers, hidden 128, 2 heads, feed-forward
512): token + learned position embeddings, LayerNorm, post-norm encoder layers
(self-attention with the padding mask added as a large negative bias, GELU
feed-forward in its tanh form, as in BERT's original TensorFlow code: the exact form's
Erf is not a TFLite builtin op, so onnx2tf's SavedModel would not convert), masked mean pooling and a linear classifier. Attention is written with
plain matmul/softmax ops (not nn.MultiheadAttention's fused fast path) so TorchScript,
ONNX, onnx2tf and litert-torch all see the same simple graph.

Nothing is downloaded, so the weights come from brief training on a task built from a
seed (`synthetic_task`): each sequence has a random length; its tokens are filler words
plus a few keywords of each of NUM_CLASSES topics; the label is the topic with the most
keywords. Positions after the length hold random tokens too (NOT a pad id), so a path
that drops or mis-wires the attention mask gives wrong answers. Accuracy is that of a
briefly trained model on this synthetic task, a reference for what each export costs.
Weights are cached by content hash, like the other built-in models.
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
from .spec import ModelBundle

NAME = "text_encoder"
INPUT_NAMES = ("input_ids", "attention_mask")
SEQ_LEN = 32
VOCAB = 4096
NUM_CLASSES = 4
KEYWORDS_PER_CLASS = 16
FIRST_KEYWORD = 16  # ids below are reserved ([PAD], [CLS], ... as in BERT vocabularies)
FIRST_FILLER = FIRST_KEYWORD + NUM_CLASSES * KEYWORDS_PER_CLASS
# Added to attention scores at padding positions. BERT's TensorFlow code used -10000; full int8
# gives the scores tensor ONE scale, and a -1e4 entry stretches it so far that every real score
# rounds to the same step (int8 accuracy fell to chance). exp(-30) ~ 1e-13 still removes padding.
MASK_BIAS = -30.0


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(approximate="tanh"), nn.Linear(ffn, hidden))
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, length, hidden = h.shape
        q, k, v = self.qkv(h).reshape(n, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (self.head_dim**-0.5) + bias
        context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(n, length, hidden)
        h = self.norm1(h + self.out(context))
        return self.norm2(h + self.ffn(h))


class TextEncoder(nn.Module):
    """BERT-Tiny-sized encoder + classifier: forward(input_ids, attention_mask) -> logits."""

    def __init__(
        self, vocab: int = VOCAB, seq_len: int = SEQ_LEN, hidden: int = 128, layers: int = 2, heads: int = 2,
        ffn: int = 512, num_classes: int = NUM_CLASSES,
    ) -> None:  # fmt: skip
        super().__init__()
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Parameter(torch.randn(1, seq_len, hidden) * 0.02)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.to(torch.float32)
        h = self.norm(self.tokens(input_ids) + self.positions)
        bias = ((1.0 - mask) * MASK_BIAS)[:, None, None, :]  # (N, 1, 1, L): every head, every query
        for layer in self.layers:
            h = layer(h, bias)
        weights = mask[:, :, None]
        pooled = (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.classifier(pooled)


@dataclass(frozen=True)
class TaskData:
    input_ids: np.ndarray  # (N, SEQ_LEN) int64
    attention_mask: np.ndarray  # (N, SEQ_LEN) int64
    labels: np.ndarray  # (N,) int64

    def inputs(self, stop: int | None = None) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids[:stop], "attention_mask": self.attention_mask[:stop]}


def synthetic_task(samples: int, seed: int) -> TaskData:
    """Seeded topic classification: the label is the topic with the most keywords in the sequence."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(FIRST_FILLER, VOCAB, size=(samples, SEQ_LEN), dtype=np.int64)
    mask = np.zeros((samples, SEQ_LEN), np.int64)
    labels = rng.integers(0, NUM_CLASSES, size=samples, dtype=np.int64)
    for i in range(samples):
        length = int(rng.integers(16, SEQ_LEN + 1))  # room for 4 + 3 * 3 keywords
        mask[i, :length] = 1
        ids[i, 0] = 1  # [CLS]
        winner = int(rng.integers(2, 5))
        counts = [int(rng.integers(0, winner)) for _ in range(NUM_CLASSES)]
        counts[labels[i]] = winner
        words = [FIRST_KEYWORD + c * KEYWORDS_PER_CLASS + int(rng.integers(KEYWORDS_PER_CLASS))
                 for c in range(NUM_CLASSES) for _ in range(counts[c])]  # fmt: skip
        slots = rng.choice(np.arange(1, length), size=len(words), replace=False)
        ids[i, slots] = words
        # Padding holds keywords of a wrong topic: ignoring the mask changes the answer.
        wrong = (labels[i] + 1 + int(rng.integers(NUM_CLASSES - 1))) % NUM_CLASSES
        pad = np.arange(length, SEQ_LEN)
        ids[i, pad] = FIRST_KEYWORD + wrong * KEYWORDS_PER_CLASS + rng.integers(KEYWORDS_PER_CLASS, size=len(pad))
    return TaskData(ids, mask, labels)


@dataclass(frozen=True)
class TextSettings:
    seed: int = 0
    train_samples: int = 4096
    eval_samples: int = 512
    calibration_samples: int = 300
    steps: int = 200
    batch_size: int = 64
    learning_rate: float = 1e-3


def _train(model: nn.Module, data: TaskData, settings: TextSettings, progress: Callable[[str], None]) -> None:
    generator = torch.Generator().manual_seed(settings.seed)
    ids, mask, labels = (torch.from_numpy(a) for a in (data.input_ids, data.attention_mask, data.labels))
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(settings.steps):
        idx = torch.randint(0, len(ids), (settings.batch_size,), generator=generator)
        optimizer.zero_grad()
        loss = loss_fn(model(ids[idx], mask[idx]), labels[idx])
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0 or step + 1 == settings.steps:
            progress(f"  step {step + 1}/{settings.steps}: loss {loss.item():.3f}")
    model.eval()


def _content_hash(settings: TextSettings) -> str:
    digest = hashlib.sha256()
    for code in (EncoderLayer, TextEncoder, synthetic_task, _train, build):
        digest.update(inspect.getsource(code).encode())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    digest.update(torch.__version__.encode())
    return digest.hexdigest()[:16]


def build(
    cache_dir: Path, settings: TextSettings = TextSettings(), progress: Callable[[str], None] = print
) -> ModelBundle:
    """Train (or load from cache) the text preset and return it with its named int64 data."""
    train = synthetic_task(settings.train_samples, settings.seed)
    held_out = synthetic_task(settings.eval_samples, settings.seed + 1)
    weights = Path(cache_dir) / f"{NAME}-{_content_hash(settings)}.pt"
    torch.manual_seed(settings.seed)
    model = TextEncoder()
    if weights.exists():
        model.load_state_dict(torch.load(weights, weights_only=True))
        progress(f"model: reusing cached {NAME} ({weights})")
    else:
        started = time.perf_counter()
        progress(
            f"model: training {NAME} on {settings.train_samples} synthetic token sequences "
            f"({settings.steps} steps; weights are cached afterwards)"
        )
        _train(model, train, settings, progress)
        with atomic_path(weights) as tmp:
            torch.save(model.state_dict(), tmp)
        progress(f"model: trained {NAME} in {time.perf_counter() - started:.1f}s, cached at {weights}")
    model.eval()
    return ModelBundle(
        name=NAME,
        source=f"builtin:{NAME}",
        module=model,
        example_input=train.inputs(8),
        eval_inputs=held_out.inputs(),
        eval_labels=held_out.labels,
        calibration_inputs=train.inputs(settings.calibration_samples),
        layout="NC",
    )
