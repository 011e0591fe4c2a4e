"""The resnet18 network, compiled by cnndsl from architectures/resnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 11,689,512 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Basic(nn.Module):
    """The `basic` block of architectures/blocks/resnet.cnn: basic(channels, stride = 1)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Sequential | None = None
        if downsample:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)

        identity = x
        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        return F.relu(out, inplace=True)


class Resnet18(nn.Module):
    """The resnet18 network of architectures/resnet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(
            Basic(64, 64),
            Basic(64, 64),
        )
        self.layer2 = nn.Sequential(
            Basic(64, 128, stride=2, downsample=True),
            Basic(128, 128),
        )
        self.layer3 = nn.Sequential(
            Basic(128, 256, stride=2, downsample=True),
            Basic(256, 256),
        )
        self.layer4 = nn.Sequential(
            Basic(256, 512, stride=2, downsample=True),
            Basic(512, 512),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The resnet18 network, with freshly initialised weights."""
    return Resnet18(classes=classes)
