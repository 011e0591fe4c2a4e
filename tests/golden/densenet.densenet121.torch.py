"""The densenet121 network, compiled by cnndsl from architectures/densenet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 7,978,856 parameters.
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
                ]
            )
        )
        self.transition3 = Transition(256 + 24 * growth, 512)
        self.denseblock4 = nn.Sequential(
            OrderedDict(
                [
                    ("denselayer1", DenseLayer(512, growth, bn_size=bn_size)),
                    ("denselayer2", DenseLayer(512 + growth, growth, bn_size=bn_size)),
                    ("denselayer3", DenseLayer(512 + 2 * growth, growth, bn_size=bn_size)),
                    ("denselayer4", DenseLayer(512 + 3 * growth, growth, bn_size=bn_size)),
                    ("denselayer5", DenseLayer(512 + 4 * growth, growth, bn_size=bn_size)),
                    ("denselayer6", DenseLayer(512 + 5 * growth, growth, bn_size=bn_size)),
                    ("denselayer7", DenseLayer(512 + 6 * growth, growth, bn_size=bn_size)),
                    ("denselayer8", DenseLayer(512 + 7 * growth, growth, bn_size=bn_size)),
                    ("denselayer9", DenseLayer(512 + 8 * growth, growth, bn_size=bn_size)),
                    ("denselayer10", DenseLayer(512 + 9 * growth, growth, bn_size=bn_size)),
                    ("denselayer11", DenseLayer(512 + 10 * growth, growth, bn_size=bn_size)),
                    ("denselayer12", DenseLayer(512 + 11 * growth, growth, bn_size=bn_size)),
                    ("denselayer13", DenseLayer(512 + 12 * growth, growth, bn_size=bn_size)),
                    ("denselayer14", DenseLayer(512 + 13 * growth, growth, bn_size=bn_size)),
                    ("denselayer15", DenseLayer(512 + 14 * growth, growth, bn_size=bn_size)),
                    ("denselayer16", DenseLayer(512 + 15 * growth, growth, bn_size=bn_size)),
                ]
            )
        )
        self.norm5 = nn.BatchNorm2d(512 + 16 * growth)

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


class Densenet121(nn.Module):
    """The densenet121 network of architectures/densenet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3, 32, 64)
        self.classifier = nn.Linear(1024, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)

        x = F.relu(x, inplace=True)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The densenet121 network, with freshly initialised weights."""
    return Densenet121(classes=classes)
