"""The squeezenet1_1 network, compiled by cnndsl from architectures/squeezenet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 1,235,496 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Fire(nn.Module):
    """The `fire` block of architectures/squeezenet.cnn: fire(squeeze, e1, e3)."""

    def __init__(self, in_channels: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze(x)
        x = F.relu(x, inplace=True)
        out = self.expand1x1(x)
        out = F.relu(out, inplace=True)
        x = self.expand3x3(x)
        x = F.relu(x, inplace=True)
        return torch.cat([out, x], 1)


class Squeezenet11(nn.Module):
    """The squeezenet1_1 network of architectures/squeezenet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Conv2d(512, classes, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.classifier(x)

        return torch.flatten(x, 1)


def build(classes: int = 1000) -> nn.Module:
    """The squeezenet1_1 network, with freshly initialised weights."""
    return Squeezenet11(classes=classes)
