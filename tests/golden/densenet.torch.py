"""The densenet121 network, compiled by cnndsl from architectures/densenet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 7,978,856 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DenseLayer(nn.Module):
    """The `dense_layer` block of architectures/densenet.cnn: dense_layer(growth = 32, bn_size = 4)."""

    def __init__(self, in_channels: int, growth: int = 32, bn_size: int = 4) -> None:
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
    """The `transition` block of architectures/densenet.cnn: transition(channels)."""

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


class Densenet121(nn.Module):
    """The densenet121 network of architectures/densenet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv0", nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(64)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                    (
                        "denseblock1",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("denselayer1", DenseLayer(64)),
                                    ("denselayer2", DenseLayer(96)),
                                    ("denselayer3", DenseLayer(128)),
                                    ("denselayer4", DenseLayer(160)),
                                    ("denselayer5", DenseLayer(192)),
                                    ("denselayer6", DenseLayer(224)),
                                ]
                            )
                        ),
                    ),
                    ("transition1", Transition(256, 128)),
                    (
                        "denseblock2",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("denselayer1", DenseLayer(128)),
                                    ("denselayer2", DenseLayer(160)),
                                    ("denselayer3", DenseLayer(192)),
                                    ("denselayer4", DenseLayer(224)),
                                    ("denselayer5", DenseLayer(256)),
                                    ("denselayer6", DenseLayer(288)),
                                    ("denselayer7", DenseLayer(320)),
                                    ("denselayer8", DenseLayer(352)),
                                    ("denselayer9", DenseLayer(384)),
                                    ("denselayer10", DenseLayer(416)),
                                    ("denselayer11", DenseLayer(448)),
                                    ("denselayer12", DenseLayer(480)),
                                ]
                            )
                        ),
                    ),
                    ("transition2", Transition(512, 256)),
                    (
                        "denseblock3",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("denselayer1", DenseLayer(256)),
                                    ("denselayer2", DenseLayer(288)),
                                    ("denselayer3", DenseLayer(320)),
                                    ("denselayer4", DenseLayer(352)),
                                    ("denselayer5", DenseLayer(384)),
                                    ("denselayer6", DenseLayer(416)),
                                    ("denselayer7", DenseLayer(448)),
                                    ("denselayer8", DenseLayer(480)),
                                    ("denselayer9", DenseLayer(512)),
                                    ("denselayer10", DenseLayer(544)),
                                    ("denselayer11", DenseLayer(576)),
                                    ("denselayer12", DenseLayer(608)),
                                    ("denselayer13", DenseLayer(640)),
                                    ("denselayer14", DenseLayer(672)),
                                    ("denselayer15", DenseLayer(704)),
                                    ("denselayer16", DenseLayer(736)),
                                    ("denselayer17", DenseLayer(768)),
                                    ("denselayer18", DenseLayer(800)),
                                    ("denselayer19", DenseLayer(832)),
                                    ("denselayer20", DenseLayer(864)),
                                    ("denselayer21", DenseLayer(896)),
                                    ("denselayer22", DenseLayer(928)),
                                    ("denselayer23", DenseLayer(960)),
                                    ("denselayer24", DenseLayer(992)),
                                ]
                            )
                        ),
                    ),
                    ("transition3", Transition(1024, 512)),
                    (
                        "denseblock4",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("denselayer1", DenseLayer(512)),
                                    ("denselayer2", DenseLayer(544)),
                                    ("denselayer3", DenseLayer(576)),
                                    ("denselayer4", DenseLayer(608)),
                                    ("denselayer5", DenseLayer(640)),
                                    ("denselayer6", DenseLayer(672)),
                                    ("denselayer7", DenseLayer(704)),
                                    ("denselayer8", DenseLayer(736)),
                                    ("denselayer9", DenseLayer(768)),
                                    ("denselayer10", DenseLayer(800)),
                                    ("denselayer11", DenseLayer(832)),
                                    ("denselayer12", DenseLayer(864)),
                                    ("denselayer13", DenseLayer(896)),
                                    ("denselayer14", DenseLayer(928)),
                                    ("denselayer15", DenseLayer(960)),
                                    ("denselayer16", DenseLayer(992)),
                                ]
                            )
                        ),
                    ),
                    ("norm5", nn.BatchNorm2d(1024)),
                ]
            )
        )
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
