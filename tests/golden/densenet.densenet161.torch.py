"""The densenet161 network, compiled by cnndsl from architectures/densenet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 28,681,000 parameters.
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
        self.transition1 = Transition(stem + 6 * growth, 192)
        self.denseblock2 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(192, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(192 + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(192 + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(192 + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(192 + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(192 + 5 * growth, growth, bn_size=bn_size)),
                    ("denselayer7", DenseLayer(192 + 6 * growth, growth, bn_size=bn_size)),
                    ("denselayer8", DenseLayer(192 + 7 * growth, growth, bn_size=bn_size)),
                    ("denselayer9", DenseLayer(192 + 8 * growth, growth, bn_size=bn_size)),
                    ("denselayer10", DenseLayer(192 + 9 * growth, growth, bn_size=bn_size)),
                    ("denselayer11", DenseLayer(192 + 10 * growth, growth, bn_size=bn_size)),
                    ("denselayer12", DenseLayer(192 + 11 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.transition2 = Transition(192 + 12 * growth, 384)
        self.denseblock3 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(384, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(384 + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(384 + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(384 + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(384 + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(384 + 5 * growth, growth, bn_size=bn_size)),
                    ("denselayer7", DenseLayer(384 + 6 * growth, growth, bn_size=bn_size)),
                    ("denselayer8", DenseLayer(384 + 7 * growth, growth, bn_size=bn_size)),
                    ("denselayer9", DenseLayer(384 + 8 * growth, growth, bn_size=bn_size)),
                    ("denselayer10", DenseLayer(384 + 9 * growth, growth, bn_size=bn_size)),
                    ("denselayer11", DenseLayer(384 + 10 * growth, growth, bn_size=bn_size)),
                    ("denselayer12", DenseLayer(384 + 11 * growth, growth, bn_size=bn_size)),
                    ("denselayer13", DenseLayer(384 + 12 * growth, growth, bn_size=bn_size)),
                    ("denselayer14", DenseLayer(384 + 13 * growth, growth, bn_size=bn_size)),
                    ("denselayer15", DenseLayer(384 + 14 * growth, growth, bn_size=bn_size)),
                    ("denselayer16", DenseLayer(384 + 15 * growth, growth, bn_size=bn_size)),
                    ("denselayer17", DenseLayer(384 + 16 * growth, growth, bn_size=bn_size)),
                    ("denselayer18", DenseLayer(384 + 17 * growth, growth, bn_size=bn_size)),
                    ("denselayer19", DenseLayer(384 + 18 * growth, growth, bn_size=bn_size)),
                    ("denselayer20", DenseLayer(384 + 19 * growth, growth, bn_size=bn_size)),
                    ("denselayer21", DenseLayer(384 + 20 * growth, growth, bn_size=bn_size)),
                    ("denselayer22", DenseLayer(384 + 21 * growth, growth, bn_size=bn_size)),
                    ("denselayer23", DenseLayer(384 + 22 * growth, growth, bn_size=bn_size)),
                    ("denselayer24", DenseLayer(384 + 23 * growth, growth, bn_size=bn_size)),
                    ("denselayer25", DenseLayer(384 + 24 * growth, growth, bn_size=bn_size)),
                    ("denselayer26", DenseLayer(384 + 25 * growth, growth, bn_size=bn_size)),
                    ("denselayer27", DenseLayer(384 + 26 * growth, growth, bn_size=bn_size)),
                    ("denselayer28", DenseLayer(384 + 27 * growth, growth, bn_size=bn_size)),
                    ("denselayer29", DenseLayer(384 + 28 * growth, growth, bn_size=bn_size)),
                    ("denselayer30", DenseLayer(384 + 29 * growth, growth, bn_size=bn_size)),
                    ("denselayer31", DenseLayer(384 + 30 * growth, growth, bn_size=bn_size)),
                    ("denselayer32", DenseLayer(384 + 31 * growth, growth, bn_size=bn_size)),
                    ("denselayer33", DenseLayer(384 + 32 * growth, growth, bn_size=bn_size)),
                    ("denselayer34", DenseLayer(384 + 33 * growth, growth, bn_size=bn_size)),
                    ("denselayer35", DenseLayer(384 + 34 * growth, growth, bn_size=bn_size)),
                    ("denselayer36", DenseLayer(384 + 35 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.transition3 = Transition(384 + 36 * growth, 1056)
        self.denseblock4 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(1056, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(1056 + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(1056 + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(1056 + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(1056 + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(1056 + 5 * growth, growth, bn_size=bn_size)),
                    ("denselayer7", DenseLayer(1056 + 6 * growth, growth, bn_size=bn_size)),
                    ("denselayer8", DenseLayer(1056 + 7 * growth, growth, bn_size=bn_size)),
                    ("denselayer9", DenseLayer(1056 + 8 * growth, growth, bn_size=bn_size)),
                    ("denselayer10", DenseLayer(1056 + 9 * growth, growth, bn_size=bn_size)),
                    ("denselayer11", DenseLayer(1056 + 10 * growth, growth, bn_size=bn_size)),
                    ("denselayer12", DenseLayer(1056 + 11 * growth, growth, bn_size=bn_size)),
                    ("denselayer13", DenseLayer(1056 + 12 * growth, growth, bn_size=bn_size)),
                    ("denselayer14", DenseLayer(1056 + 13 * growth, growth, bn_size=bn_size)),
                    ("denselayer15", DenseLayer(1056 + 14 * growth, growth, bn_size=bn_size)),
                    ("denselayer16", DenseLayer(1056 + 15 * growth, growth, bn_size=bn_size)),
                    ("denselayer17", DenseLayer(1056 + 16 * growth, growth, bn_size=bn_size)),
                    ("denselayer18", DenseLayer(1056 + 17 * growth, growth, bn_size=bn_size)),
                    ("denselayer19", DenseLayer(1056 + 18 * growth, growth, bn_size=bn_size)),
                    ("denselayer20", DenseLayer(1056 + 19 * growth, growth, bn_size=bn_size)),
                    ("denselayer21", DenseLayer(1056 + 20 * growth, growth, bn_size=bn_size)),
                    ("denselayer22", DenseLayer(1056 + 21 * growth, growth, bn_size=bn_size)),
                    ("denselayer23", DenseLayer(1056 + 22 * growth, growth, bn_size=bn_size)),
                    ("denselayer24", DenseLayer(1056 + 23 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.norm5 = nn.BatchNorm2d(1056 + 24 * growth)

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


class Densenet161(nn.Module):
    """The densenet161 network of architectures/densenet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3, 48, 96)
        self.classifier = nn.Linear(2208, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)

        x = F.relu(x, inplace=True)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The densenet161 network, with freshly initialised weights."""
    return Densenet161(classes=classes)
