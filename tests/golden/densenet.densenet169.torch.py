"""The densenet169 network, compiled by cnndsl from architectures/densenet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 14,149,480 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DenseLayer(nn.Module):
    """The `dense_layer` block of architectures/densenet.cnn: dense_layer(growth, bn_size = 4)."""

    def __init__(self, in_channels: int, growth: int, bn_size: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, kernel_size=3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.norm1(x)
        out = F.relu(out, inplace=True)
        out = self.conv1(out)
        out = self.norm2(out)
        out = F.relu(out, inplace=True)
        conv2 = self.conv2(out)
        return torch.cat([x, conv2], 1)


class Transition(nn.Module):
    """The `transition` block of architectures/densenet.cnn: transition(channels = in.channels // 2)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(x)
        x = F.relu(x, inplace=True)
        x = self.conv(x)
        x = self.pool(x)
        return x


class Features(nn.Module):
    """The `features` block of architectures/densenet.cnn: features(growth, config, stem, bn_size = 4)."""

    def __init__(self, in_channels: int, growth: int, stem: int, bn_size: int = 4) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.norm0 = nn.BatchNorm2d(stem)
        self.relu0 = nn.ReLU(inplace=True)
        self.pool0 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.denseblock1 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(stem, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(stem + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(stem + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(stem + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(stem + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(stem + 5 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.transition1 = Transition(stem + 6 * growth, 128)
        self.denseblock2 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(128, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(128 + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(128 + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(128 + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(128 + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(128 + 5 * growth, growth, bn_size=bn_size)),
                    ("denselayer7", DenseLayer(128 + 6 * growth, growth, bn_size=bn_size)),
                    ("denselayer8", DenseLayer(128 + 7 * growth, growth, bn_size=bn_size)),
                    ("denselayer9", DenseLayer(128 + 8 * growth, growth, bn_size=bn_size)),
                    ("denselayer10", DenseLayer(128 + 9 * growth, growth, bn_size=bn_size)),
                    ("denselayer11", DenseLayer(128 + 10 * growth, growth, bn_size=bn_size)),
                    ("denselayer12", DenseLayer(128 + 11 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.transition2 = Transition(128 + 12 * growth, 256)
        self.denseblock3 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(256, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(256 + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(256 + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(256 + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(256 + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(256 + 5 * growth, growth, bn_size=bn_size)),
                    ("denselayer7", DenseLayer(256 + 6 * growth, growth, bn_size=bn_size)),
                    ("denselayer8", DenseLayer(256 + 7 * growth, growth, bn_size=bn_size)),
                    ("denselayer9", DenseLayer(256 + 8 * growth, growth, bn_size=bn_size)),
                    ("denselayer10", DenseLayer(256 + 9 * growth, growth, bn_size=bn_size)),
                    ("denselayer11", DenseLayer(256 + 10 * growth, growth, bn_size=bn_size)),
                    ("denselayer12", DenseLayer(256 + 11 * growth, growth, bn_size=bn_size)),
                    ("denselayer13", DenseLayer(256 + 12 * growth, growth, bn_size=bn_size)),
                    ("denselayer14", DenseLayer(256 + 13 * growth, growth, bn_size=bn_size)),
                    ("denselayer15", DenseLayer(256 + 14 * growth, growth, bn_size=bn_size)),
                    ("denselayer16", DenseLayer(256 + 15 * growth, growth, bn_size=bn_size)),
                    ("denselayer17", DenseLayer(256 + 16 * growth, growth, bn_size=bn_size)),
                    ("denselayer18", DenseLayer(256 + 17 * growth, growth, bn_size=bn_size)),
                    ("denselayer19", DenseLayer(256 + 18 * growth, growth, bn_size=bn_size)),
                    ("denselayer20", DenseLayer(256 + 19 * growth, growth, bn_size=bn_size)),
                    ("denselayer21", DenseLayer(256 + 20 * growth, growth, bn_size=bn_size)),
                    ("denselayer22", DenseLayer(256 + 21 * growth, growth, bn_size=bn_size)),
                    ("denselayer23", DenseLayer(256 + 22 * growth, growth, bn_size=bn_size)),
                    ("denselayer24", DenseLayer(256 + 23 * growth, growth, bn_size=bn_size)),
                    ("denselayer25", DenseLayer(256 + 24 * growth, growth, bn_size=bn_size)),
                    ("denselayer26", DenseLayer(256 + 25 * growth, growth, bn_size=bn_size)),
                    ("denselayer27", DenseLayer(256 + 26 * growth, growth, bn_size=bn_size)),
                    ("denselayer28", DenseLayer(256 + 27 * growth, growth, bn_size=bn_size)),
                    ("denselayer29", DenseLayer(256 + 28 * growth, growth, bn_size=bn_size)),
                    ("denselayer30", DenseLayer(256 + 29 * growth, growth, bn_size=bn_size)),
                    ("denselayer31", DenseLayer(256 + 30 * growth, growth, bn_size=bn_size)),
                    ("denselayer32", DenseLayer(256 + 31 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.transition3 = Transition(256 + 32 * growth, 640)
        self.denseblock4 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(640, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(640 + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(640 + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(640 + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(640 + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(640 + 5 * growth, growth, bn_size=bn_size)),
                    ("denselayer7", DenseLayer(640 + 6 * growth, growth, bn_size=bn_size)),
                    ("denselayer8", DenseLayer(640 + 7 * growth, growth, bn_size=bn_size)),
                    ("denselayer9", DenseLayer(640 + 8 * growth, growth, bn_size=bn_size)),
                    ("denselayer10", DenseLayer(640 + 9 * growth, growth, bn_size=bn_size)),
                    ("denselayer11", DenseLayer(640 + 10 * growth, growth, bn_size=bn_size)),
                    ("denselayer12", DenseLayer(640 + 11 * growth, growth, bn_size=bn_size)),
                    ("denselayer13", DenseLayer(640 + 12 * growth, growth, bn_size=bn_size)),
                    ("denselayer14", DenseLayer(640 + 13 * growth, growth, bn_size=bn_size)),
                    ("denselayer15", DenseLayer(640 + 14 * growth, growth, bn_size=bn_size)),
                    ("denselayer16", DenseLayer(640 + 15 * growth, growth, bn_size=bn_size)),
                    ("denselayer17", DenseLayer(640 + 16 * growth, growth, bn_size=bn_size)),
                    ("denselayer18", DenseLayer(640 + 17 * growth, growth, bn_size=bn_size)),
                    ("denselayer19", DenseLayer(640 + 18 * growth, growth, bn_size=bn_size)),
                    ("denselayer20", DenseLayer(640 + 19 * growth, growth, bn_size=bn_size)),
                    ("denselayer21", DenseLayer(640 + 20 * growth, growth, bn_size=bn_size)),
                    ("denselayer22", DenseLayer(640 + 21 * growth, growth, bn_size=bn_size)),
                    ("denselayer23", DenseLayer(640 + 22 * growth, growth, bn_size=bn_size)),
                    ("denselayer24", DenseLayer(640 + 23 * growth, growth, bn_size=bn_size)),
                    ("denselayer25", DenseLayer(640 + 24 * growth, growth, bn_size=bn_size)),
                    ("denselayer26", DenseLayer(640 + 25 * growth, growth, bn_size=bn_size)),
                    ("denselayer27", DenseLayer(640 + 26 * growth, growth, bn_size=bn_size)),
                    ("denselayer28", DenseLayer(640 + 27 * growth, growth, bn_size=bn_size)),
                    ("denselayer29", DenseLayer(640 + 28 * growth, growth, bn_size=bn_size)),
                    ("denselayer30", DenseLayer(640 + 29 * growth, growth, bn_size=bn_size)),
                    ("denselayer31", DenseLayer(640 + 30 * growth, growth, bn_size=bn_size)),
                    ("denselayer32", DenseLayer(640 + 31 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.norm5 = nn.BatchNorm2d(640 + 32 * growth)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv0(x)
        x = self.norm0(x)
        x = self.relu0(x)
        x = self.pool0(x)

        x = self.denseblock1(x)
        x = self.transition1(x)
        x = self.denseblock2(x)
        x = self.transition2(x)
        x = self.denseblock3(x)
        x = self.transition3(x)
        x = self.denseblock4(x)

        x = self.norm5(x)
        return x


class Densenet169(nn.Module):
    """The densenet169 network of architectures/densenet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3, 32, 64)
        self.classifier = nn.Linear(1664, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)

        x = F.relu(x, inplace=True)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The densenet169 network, with freshly initialised weights."""
    return Densenet169(classes=classes)
