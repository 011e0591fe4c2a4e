"""The resnet50 network, compiled by cnndsl from architectures/keras/resnet50.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 25,583,592 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Bottleneck(nn.Module):
    """The `bottleneck` block of architectures/keras/resnet50.cnn: bottleneck(filters, stride = 1)."""

    def __init__(self, in_channels: int, filters: int, stride: int = 1, projection: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, filters, kernel_size=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(filters, eps=1.001e-05, momentum=0.01)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(filters, filters, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(filters, eps=1.001e-05, momentum=0.01)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(filters, filters * 4, kernel_size=1)
        self.bn3 = nn.BatchNorm2d(filters * 4, eps=1.001e-05, momentum=0.01)
        self.projection: nn.Sequential | None = None
        if projection:
            self.projection = nn.Sequential(
                OrderedDict(
                    [
                        ("conv", nn.Conv2d(in_channels, filters * 4, kernel_size=1, stride=stride)),
                        ("bn", nn.BatchNorm2d(filters * 4, eps=1.001e-05, momentum=0.01)),
                    ]
                )
            )
        self.out = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu1(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu2(out)
        out = self.conv3(out)
        out = self.bn3(out)

        identity = x
        if self.projection is not None:
            identity = self.projection(x)

        out += identity
        out = self.out(out)
        return out


class Resnet50(nn.Module):
    """The resnet50 network of architectures/keras/resnet50.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1_conv = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.conv1_bn = nn.BatchNorm2d(64, eps=1.001e-05, momentum=0.01)
        self.conv1_relu = nn.ReLU(inplace=True)
        self.pool1_pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Sequential(
            OrderedDict(
                [
                    ("block1", Bottleneck(64, 64, projection=True)),
                    ("block2", Bottleneck(256, 64)),
                    ("block3", Bottleneck(256, 64)),
                ]
            )
        )
        self.conv3 = nn.Sequential(
            OrderedDict(
                [
                    ("block1", Bottleneck(256, 128, stride=2, projection=True)),
                    ("block2", Bottleneck(512, 128)),
                    ("block3", Bottleneck(512, 128)),
                    ("block4", Bottleneck(512, 128)),
                ]
            )
        )
        self.conv4 = nn.Sequential(
            OrderedDict(
                [
                    ("block1", Bottleneck(512, 256, stride=2, projection=True)),
                    ("block2", Bottleneck(1024, 256)),
                    ("block3", Bottleneck(1024, 256)),
                    ("block4", Bottleneck(1024, 256)),
                    ("block5", Bottleneck(1024, 256)),
                    ("block6", Bottleneck(1024, 256)),
                ]
            )
        )
        self.conv5 = nn.Sequential(
            OrderedDict(
                [
                    ("block1", Bottleneck(1024, 512, stride=2, projection=True)),
                    ("block2", Bottleneck(2048, 512)),
                    ("block3", Bottleneck(2048, 512)),
                ]
            )
        )
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.predictions = nn.Linear(2048, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1_conv(x)
        x = self.conv1_bn(x)
        x = self.conv1_relu(x)
        x = self.pool1_pool(x)

        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)
        x = self.conv5(x)

        x = self.avg_pool(x)
        x = torch.flatten(x, 1)
        x = F.softmax(self.predictions(x), dim=1)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The resnet50 network, with freshly initialised weights."""
    return Resnet50(classes=classes)
