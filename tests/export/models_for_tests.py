"""Factories used through `--model file.py:factory` in the export tests.

`residual_bn_depthwise` is deliberately unlike the built-in CNN: BatchNorm, a depthwise
convolution, a residual add and global average pooling, trained briefly on the digits so
its int8 accuracy is meaningful. `resnet18_untrained` is the ResNet-18 preset's network at
32x32 without its training (minutes), for what its conversion does. The other factories are
the bad inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from deploy_compare.models.data import load_digits_split


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.depthwise(x)))
        return torch.relu(x + self.bn2(self.pointwise(y)))


class ResidualNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.block = ResidualBlock(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)).mean(dim=(2, 3)))


def residual_bn_depthwise():
    torch.manual_seed(1)
    split = load_digits_split()
    model = ResidualNet()
    x, y = torch.from_numpy(split.x_train), torch.from_numpy(split.y_train)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        for i in range(0, len(x), 128):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[i : i + 128]), y[i : i + 128]).backward()
            optimizer.step()
    model.eval()
    return model, split.x_train[:4], (split.x_eval, split.y_eval)


class RowLSTM(nn.Module):
    """Reads the 8x8 digit row by row with an LSTM: the model family onnx2tf is known to break on."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.reshape(-1, 8, 8))
        return self.head(out[:, -1])


def row_lstm():
    torch.manual_seed(2)
    split = load_digits_split()
    model = RowLSTM()
    x, y = torch.from_numpy(split.x_train), torch.from_numpy(split.y_train)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        for i in range(0, len(x), 128):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[i : i + 128]), y[i : i + 128]).backward()
            optimizer.step()
    model.eval()
    return model, split.x_train[:4], (split.x_eval, split.y_eval)


class Eigenvalues(nn.Module):
    """linalg.eigvals has no ONNX lowering in either torch.onnx exporter."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.eigvals(x.reshape(-1, 4, 4)).real


def not_onnx_exportable():
    return Eigenvalues(), torch.randn(4, 16)


def returns_wrong_thing():
    return "not a model"


def raises_inside():
    raise RuntimeError("weights file missing")


class FeaturesAndIds(nn.Module):
    """Two inputs of two dtypes: float features (N, 4) and int64 ids (N, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 5)
        self.embed = nn.Embedding(16, 5)

    def forward(self, features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.dense(features) + self.embed(ids).mean(dim=1)


def two_inputs_one_example():
    """A two-input model with ONE example array: a user's mistake that must get a clear line."""
    torch.manual_seed(0)
    return FeaturesAndIds(), torch.randn(8, 4)


def two_inputs():
    """The same model with its example batch as a tuple in forward() order."""
    torch.manual_seed(0)
    return FeaturesAndIds(), (torch.randn(8, 4), torch.randint(0, 16, (8, 3)))


def resnet18_untrained():
    """The ResNet-18 preset's architecture at 32x32x3, seeded but not trained: what its padded
    stem MaxPool does to the full-int8 file from onnx2tf does not depend on the weights."""
    from deploy_compare.models.architectures import ResNet18
    from deploy_compare.models.presets import images

    torch.manual_seed(0)
    split = load_digits_split()
    module = ResNet18().eval()
    return module, images(split.x_train[:8], 32), (images(split.x_eval[:64], 32), split.y_eval[:64])
