"""The shufflenet_v2_x1_0 network, compiled by cnndsl from architectures/shufflenet_v2.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 2,278,604 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle, as torchvision's: the channels seen as groups x C/groups, transposed."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, channels, height, width)


class ConvBnRelu(nn.Sequential):
    """The `conv_bn_relu` block of architectures/shufflenet_v2.cnn: conv_bn_relu(filters, kernel = 1, stride = 1)."""

    def __init__(self, in_channels: int, filters: int, kernel: int = 1, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, filters, kernel_size=kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(filters),
            nn.ReLU(inplace=True),
        )


class Unit(nn.Module):
    """The `unit` block of architectures/shufflenet_v2.cnn: unit(channels, stride).

    Instances of it that differ in structure from these are built by Unit2.
    """

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(
            nn.Conv2d(
                in_channels,
                in_channels,
                kernel_size=3,
                stride=stride,
                padding=1,
                groups=in_channels,
                bias=False,
            ),
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, channels // 2, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
        )
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels, channels // 2, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                channels // 2,
                channels // 2,
                kernel_size=3,
                stride=stride,
                padding=1,
                groups=channels // 2,
                bias=False,
            ),
            nn.BatchNorm2d(channels // 2),
            nn.Conv2d(channels // 2, channels // 2, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)

        x = torch.cat([branch1, branch2], 1)
        return channel_shuffle(x, 2)


class Unit2(nn.Module):
    """The `unit` block of architectures/shufflenet_v2.cnn: unit(channels, stride).

    Instances of it that differ in structure from these are built by Unit.
    """

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels // 2, channels // 2, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                channels // 2,
                channels // 2,
                kernel_size=3,
                stride=stride,
                padding=1,
                groups=channels // 2,
                bias=False,
            ),
            nn.BatchNorm2d(channels // 2),
            nn.Conv2d(channels // 2, channels // 2, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = x.chunk(2, dim=1)[0]
        x = x.chunk(2, dim=1)[1]

        branch2 = self.branch2(x)

        out = torch.cat([out, branch2], 1)
        return channel_shuffle(out, 2)


class ShufflenetV2X10(nn.Module):
    """The shufflenet_v2_x1_0 network of architectures/shufflenet_v2.cnn."""

    def __init__(self, last: int = 1024, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = ConvBnRelu(3, 24, kernel=3, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.stage2 = nn.Sequential(
            Unit(24, 116, 2),
            Unit2(116, 116, 1),
            Unit2(116, 116, 1),
            Unit2(116, 116, 1),
        )
        self.stage3 = nn.Sequential(
            Unit(116, 232, 2),
            Unit2(232, 232, 1),
            Unit2(232, 232, 1),
            Unit2(232, 232, 1),
            Unit2(232, 232, 1),
            Unit2(232, 232, 1),
            Unit2(232, 232, 1),
            Unit2(232, 232, 1),
        )
        self.stage4 = nn.Sequential(
            Unit(232, 464, 2),
            Unit2(464, 464, 1),
            Unit2(464, 464, 1),
            Unit2(464, 464, 1),
        )
        self.conv5 = ConvBnRelu(464, last)
        self.fc = nn.Linear(last, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = self.maxpool(x)
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.stage4(x)
        x = self.conv5(x)

        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def build(last: int = 1024, classes: int = 1000) -> nn.Module:
    """The shufflenet_v2_x1_0 network, with freshly initialised weights."""
    return ShufflenetV2X10(last=last, classes=classes)
