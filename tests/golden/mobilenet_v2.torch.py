"""The mobilenet_v2 network, compiled by cnndsl from architectures/mobilenet_v2.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 3,504,872 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBnRelu6(nn.Sequential):
    """
    The `conv_bn_relu6` block of architectures/mobilenet_v2.cnn: conv_bn_relu6(filters, kernel = 1, stride = 1, groups =
    1).
    """

    def __init__(self, in_channels: int, filters: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
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
            nn.ReLU6(),
        )


class ExpandProject(nn.Sequential):
    """The `expand_project` block of architectures/mobilenet_v2.cnn:
    expand_project(in_channels, out, stride, expand).
    """

    def __init__(self, in_channels_: int, in_channels: int, out_: int, stride: int, expand: int) -> None:
        super().__init__(
            ConvBnRelu6(in_channels_, in_channels * expand),
            ConvBnRelu6(
                in_channels * expand,
                in_channels * expand,
                kernel=3,
                stride=stride,
                groups=in_channels * expand,
            ),
            nn.Conv2d(in_channels * expand, out_, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_),
        )


class Inverted(nn.Module):
    """The `inverted` block: inverted(in_channels, out, stride = 1, expand = 6)."""

    def __init__(self, in_channels_: int, in_channels: int, out_: int, stride: int = 1, expand: int = 6) -> None:
        super().__init__()
        self.conv = ExpandProject(in_channels_, in_channels, out_, stride, expand)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return x


class InvertedResidual(nn.Module):
    """The `inverted_residual` block of architectures/mobilenet_v2.cnn: inverted_residual(channels, expand = 6)."""

    def __init__(self, in_channels: int, channels: int, expand: int = 6) -> None:
        super().__init__()
        self.conv = ExpandProject(in_channels, channels, channels, 1, expand)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv(x)

        return conv + x


class MobilenetV2(nn.Module):
    """The mobilenet_v2 network of architectures/mobilenet_v2.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBnRelu6(3, 32, kernel=3, stride=2),
            nn.Sequential(
                OrderedDict(
                    [
                        (
                            "conv",
                            nn.Sequential(
                                ConvBnRelu6(32, 32, kernel=3, groups=32),
                                nn.Conv2d(32, 16, kernel_size=1, bias=False),
                                nn.BatchNorm2d(16),
                            ),
                        ),
                    ]
                )
            ),
            Inverted(16, 16, 24, stride=2),
            InvertedResidual(24, 24),
            Inverted(24, 24, 32, stride=2),
            InvertedResidual(32, 32),
            InvertedResidual(32, 32),
            Inverted(32, 32, 64, stride=2),
            InvertedResidual(64, 64),
            InvertedResidual(64, 64),
            InvertedResidual(64, 64),
            Inverted(64, 64, 96),
            InvertedResidual(96, 96),
            InvertedResidual(96, 96),
            Inverted(96, 96, 160, stride=2),
            InvertedResidual(160, 160),
            InvertedResidual(160, 160),
            Inverted(160, 160, 320),
            ConvBnRelu6(320, 1280),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.2),
            nn.Linear(1280, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The mobilenet_v2 network, with freshly initialised weights."""
    return MobilenetV2(classes=classes)
