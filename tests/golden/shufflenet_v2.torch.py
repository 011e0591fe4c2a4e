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


class DownUnit(nn.Module):
    """The `down_unit` block of architectures/shufflenet_v2.cnn: down_unit(channels_in, channels)."""

    def __init__(self, in_channels: int, channels_in: int, channels: int) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(
            nn.Conv2d(in_channels, channels_in, kernel_size=3, stride=2, padding=1, groups=channels_in, bias=False),
            nn.BatchNorm2d(channels_in),
            nn.Conv2d(channels_in, int(channels / 2), kernel_size=1, bias=False),
            nn.BatchNorm2d(int(channels / 2)),
            nn.ReLU(inplace=True),
        )
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels, int(channels / 2), kernel_size=1, bias=False),
            nn.BatchNorm2d(int(channels / 2)),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                int(channels / 2),
                int(channels / 2),
                kernel_size=3,
                stride=2,
                padding=1,
                groups=int(channels / 2),
                bias=False,
            ),
            nn.BatchNorm2d(int(channels / 2)),
            nn.Conv2d(int(channels / 2), int(channels / 2), kernel_size=1, bias=False),
            nn.BatchNorm2d(int(channels / 2)),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)

        x = torch.cat([branch1, branch2], 1)
        return channel_shuffle(x, 2)


class Unit(nn.Module):
    """The `unit` block of architectures/shufflenet_v2.cnn: unit(channels)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels // 2, int(channels / 2), kernel_size=1, bias=False),
            nn.BatchNorm2d(int(channels / 2)),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                int(channels / 2),
                int(channels / 2),
                kernel_size=3,
                padding=1,
                groups=int(channels / 2),
                bias=False,
            ),
            nn.BatchNorm2d(int(channels / 2)),
            nn.Conv2d(int(channels / 2), int(channels / 2), kernel_size=1, bias=False),
            nn.BatchNorm2d(int(channels / 2)),
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

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 24, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(24),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.stage2 = nn.Sequential(
            DownUnit(24, 24, 116),
            Unit(116, 116),
            Unit(116, 116),
            Unit(116, 116),
        )
        self.stage3 = nn.Sequential(
            DownUnit(116, 116, 232),
            Unit(232, 232),
            Unit(232, 232),
            Unit(232, 232),
            Unit(232, 232),
            Unit(232, 232),
            Unit(232, 232),
            Unit(232, 232),
        )
        self.stage4 = nn.Sequential(
            DownUnit(232, 232, 464),
            Unit(464, 464),
            Unit(464, 464),
            Unit(464, 464),
        )
        self.conv5 = nn.Sequential(
            nn.Conv2d(464, 1024, kernel_size=1, bias=False),
            nn.BatchNorm2d(1024),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(1024, classes)

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


def build(classes: int = 1000) -> nn.Module:
    """The shufflenet_v2_x1_0 network, with freshly initialised weights."""
    return ShufflenetV2X10(classes=classes)
