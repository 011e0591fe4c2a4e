"""The googlenet network, compiled by cnndsl from architectures/googlenet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 6,624,904 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBn(nn.Module):
    """The `conv_bn` block of architectures/googlenet.cnn: conv_bn(filters, kernel, strides = 1, padding = 0)."""

    def __init__(self, in_channels: int, filters: int, kernel: int, strides: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, filters, kernel_size=kernel, stride=strides, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(filters, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x, inplace=True)


class Inception(nn.Module):
    """The `inception` block of architectures/googlenet.cnn: inception(c1, c3r, c3, c5r, c5, pool_proj)."""

    def __init__(self, in_channels: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = ConvBn(in_channels, c1, 1)
        self.branch2 = nn.Sequential(
            ConvBn(in_channels, c3r, 1),
            ConvBn(c3r, c3, 3, padding=1),
        )
        self.branch3 = nn.Sequential(
            ConvBn(in_channels, c5r, 1),
            ConvBn(c5r, c5, 3, padding=1),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            ConvBn(in_channels, pool_proj, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)
        branch3 = self.branch3(x)
        branch4 = self.branch4(x)

        return torch.cat([branch1, branch2, branch3, branch4], 1)


class Googlenet(nn.Module):
    """The googlenet network of architectures/googlenet.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = ConvBn(3, 64, 7, strides=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.conv2 = ConvBn(64, 64, 1)
        self.conv3 = ConvBn(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(kernel_size=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.2)
        self.fc = nn.Linear(1024, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.maxpool2(x)
        x = self.inception3a(x)
        x = self.inception3b(x)
        x = self.maxpool3(x)
        x = self.inception4a(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        x = self.inception4e(x)
        x = self.maxpool4(x)
        x = self.inception5a(x)
        x = self.inception5b(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The googlenet network, with freshly initialised weights."""
    return Googlenet(classes=classes)
