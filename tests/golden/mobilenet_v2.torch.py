"""The mobilenet_v2 network, compiled by cnndsl from architectures/mobilenet_v2.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 3,504,872 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

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


class InvertedResidual(nn.Module):
    """The `inverted_residual` block of architectures/mobilenet_v2.cnn: inverted_residual(out, stride, expand, hidden).

    Instances of it that differ in structure from these are built by InvertedResidual2.
    """

    def __init__(self, in_channels: int, out_: int, stride: int, hidden: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            ConvBnRelu6(in_channels, hidden, kernel=3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return x


class InvertedResidual2(nn.Module):
    """The `inverted_residual` block of architectures/mobilenet_v2.cnn: inverted_residual(out, stride, expand, hidden).

    Instances of it that differ in structure from these are built by InvertedResidual.
    """

    def __init__(self, in_channels: int, out_: int, stride: int, hidden: int, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.conv = nn.Sequential(
            ConvBnRelu6(in_channels, hidden),
            ConvBnRelu6(hidden, hidden, kernel=3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_),
        )

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv(x)
        if not self.residual:
            return conv

        return conv + x


class MobilenetV2(nn.Module):
    """The mobilenet_v2 network of architectures/mobilenet_v2.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBnRelu6(3, 32, kernel=3, stride=2),
            InvertedResidual(32, 16, 1, 32),
            InvertedResidual2(16, 24, 2, 96),
            InvertedResidual2(24, 24, 1, 144, residual=True),
            InvertedResidual2(24, 32, 2, 144),
            InvertedResidual2(32, 32, 1, 192, residual=True),
            InvertedResidual2(32, 32, 1, 192, residual=True),
            InvertedResidual2(32, 64, 2, 192),
            InvertedResidual2(64, 64, 1, 384, residual=True),
            InvertedResidual2(64, 64, 1, 384, residual=True),
            InvertedResidual2(64, 64, 1, 384, residual=True),
            InvertedResidual2(64, 96, 1, 384),
            InvertedResidual2(96, 96, 1, 576, residual=True),
            InvertedResidual2(96, 96, 1, 576, residual=True),
            InvertedResidual2(96, 160, 2, 576),
            InvertedResidual2(160, 160, 1, 960, residual=True),
            InvertedResidual2(160, 160, 1, 960, residual=True),
            InvertedResidual2(160, 320, 1, 960),
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
