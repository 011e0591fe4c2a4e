"""The regnet_y_400mf network, compiled by cnndsl from architectures/regnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 4,344,144 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
from torch import Tensor, nn


class SqueezeExcitation(nn.Module):
    """The `squeeze_excitation` block of architectures/regnet.cnn: squeeze_excitation(channels, squeeze)."""

    def __init__(self, in_channels: int, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.activation = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, channels, kernel_size=1)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        out = self.avgpool(x)
        out = self.fc1(out)
        out = self.activation(out)
        out = self.fc2(out)
        scale_activation = self.scale_activation(out)
        return x * scale_activation


class YBlock(nn.Module):
    """The `y_block` block of architectures/regnet.cnn: y_block(width_in, width, stride = 1)."""

    def __init__(self, in_channels: int, width_in: int, width: int, stride: int = 1, proj: bool = False) -> None:
        super().__init__()
        self.f = nn.Sequential(
            OrderedDict(
                [
                    (
                        "a",
                        nn.Sequential(
                            nn.Conv2d(in_channels, width, kernel_size=1, bias=False),
                            nn.BatchNorm2d(width),
                            nn.ReLU(inplace=True),
                        ),
                    ),
                    (
                        "b",
                        nn.Sequential(
                            nn.Conv2d(
                                width,
                                width,
                                kernel_size=3,
                                stride=stride,
                                padding=1,
                                groups=width // 8,
                                bias=False,
                            ),
                            nn.BatchNorm2d(width),
                            nn.ReLU(inplace=True),
                        ),
                    ),
                    ("se", SqueezeExcitation(width, width, width_in // 4)),
                    (
                        "c",
                        nn.Sequential(
                            nn.Conv2d(width, width, kernel_size=1, bias=False),
                            nn.BatchNorm2d(width),
                        ),
                    ),
                ]
            )
        )
        self.proj: nn.Sequential | None = None
        if proj:
            self.proj = nn.Sequential(
                nn.Conv2d(in_channels, width, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(width),
            )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        f = self.f(x)

        identity = x
        if self.proj is not None:
            identity = self.proj(x)

        x = f + identity
        x = self.activation(x)
        return x


class RegnetY400mf(nn.Module):
    """The regnet_y_400mf network of architectures/regnet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        self.trunk_output = nn.Sequential(
            OrderedDict(
                [
                    (
                        "block1",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("block1-0", YBlock(32, 32, 48, stride=2, proj=True)),
                                ]
                            )
                        ),
                    ),
                    (
                        "block2",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("block2-0", YBlock(48, 48, 104, stride=2, proj=True)),
                                    ("block2-1", YBlock(104, 104, 104)),
                                    ("block2-2", YBlock(104, 104, 104)),
                                ]
                            )
                        ),
                    ),
                    (
                        "block3",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("block3-0", YBlock(104, 104, 208, stride=2, proj=True)),
                                    ("block3-1", YBlock(208, 208, 208)),
                                    ("block3-2", YBlock(208, 208, 208)),
                                    ("block3-3", YBlock(208, 208, 208)),
                                    ("block3-4", YBlock(208, 208, 208)),
                                    ("block3-5", YBlock(208, 208, 208)),
                                ]
                            )
                        ),
                    ),
                    (
                        "block4",
                        nn.Sequential(
                            OrderedDict(
                                [
                                    ("block4-0", YBlock(208, 208, 440, stride=2, proj=True)),
                                    ("block4-1", YBlock(440, 440, 440)),
                                    ("block4-2", YBlock(440, 440, 440)),
                                    ("block4-3", YBlock(440, 440, 440)),
                                    ("block4-4", YBlock(440, 440, 440)),
                                    ("block4-5", YBlock(440, 440, 440)),
                                ]
                            )
                        ),
                    ),
                ]
            )
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(440, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = self.trunk_output(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The regnet_y_400mf network, with freshly initialised weights."""
    return RegnetY400mf(classes=classes)
