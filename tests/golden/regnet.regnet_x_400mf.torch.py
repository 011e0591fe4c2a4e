"""The regnet_x_400mf network, compiled by cnndsl from architectures/regnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 5,495,976 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
from torch import Tensor, nn


class ConvBnAct(nn.Sequential):
    """
    The `conv_bn_act` block of architectures/regnet.cnn: conv_bn_act(filters, kernel = 1, stride = 1, groups = 1, act =
    relu).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str = "relu",
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                filters,
                kernel_size=kernel,
                stride=stride,
                padding=(kernel - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(filters),
        ]
        if act == "relu":
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Bottleneck(nn.Module):
    """The `bottleneck` block of architectures/regnet.cnn: bottleneck(width, group, stride, se_ratio, squeeze)."""

    def __init__(self, in_channels: int, width: int, group: int, stride: int, proj: bool = False) -> None:
        super().__init__()
        self.f = nn.Sequential(
            OrderedDict(
                [
                    ("a", ConvBnAct(in_channels, width)),
                    ("b", ConvBnAct(width, width, kernel=3, stride=stride, groups=width // group)),
                    ("c", ConvBnAct(width, width, act="none")),
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


class Trunk(nn.Module):
    """The `trunk` block: trunk(depth, w0, wa, wm, g, se_ratio = 0)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.block1 = nn.Sequential(
            OrderedDict(
                [
                    ("block1-0", Bottleneck(in_channels, 32, 16, 2, proj=True)),
                ]
            )
        )
        self.block2 = nn.Sequential(
            OrderedDict(
                [
                    ("block2-0", Bottleneck(32, 64, 16, 2, proj=True)),
                    ("block2-1", Bottleneck(64, 64, 16, 1)),
                ]
            )
        )
        self.block3 = nn.Sequential(
            OrderedDict(
                [
                    ("block3-0", Bottleneck(64, 160, 16, 2, proj=True)),
                    ("block3-1", Bottleneck(160, 160, 16, 1)),
                    ("block3-2", Bottleneck(160, 160, 16, 1)),
                    ("block3-3", Bottleneck(160, 160, 16, 1)),
                    ("block3-4", Bottleneck(160, 160, 16, 1)),
                    ("block3-5", Bottleneck(160, 160, 16, 1)),
                    ("block3-6", Bottleneck(160, 160, 16, 1)),
                ]
            )
        )
        self.block4 = nn.Sequential(
            OrderedDict(
                [
                    ("block4-0", Bottleneck(160, 400, 16, 2, proj=True)),
                    ("block4-1", Bottleneck(400, 400, 16, 1)),
                    ("block4-2", Bottleneck(400, 400, 16, 1)),
                    ("block4-3", Bottleneck(400, 400, 16, 1)),
                    ("block4-4", Bottleneck(400, 400, 16, 1)),
                    ("block4-5", Bottleneck(400, 400, 16, 1)),
                    ("block4-6", Bottleneck(400, 400, 16, 1)),
                    ("block4-7", Bottleneck(400, 400, 16, 1)),
                    ("block4-8", Bottleneck(400, 400, 16, 1)),
                    ("block4-9", Bottleneck(400, 400, 16, 1)),
                    ("block4-10", Bottleneck(400, 400, 16, 1)),
                    ("block4-11", Bottleneck(400, 400, 16, 1)),
                ]
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        return x


class RegnetX400mf(nn.Module):
    """The regnet_x_400mf network of architectures/regnet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = ConvBnAct(3, 32, kernel=3, stride=2)
        self.trunk_output = Trunk(32)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(400, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = self.trunk_output(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The regnet_x_400mf network, with freshly initialised weights."""
    return RegnetX400mf(classes=classes)
