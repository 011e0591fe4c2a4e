"""The inception_v3 network, compiled by cnndsl from architectures/inception_v3.cnn.

Input: N x 3 x 299 x 299. Output: N x 1000. 23,834,568 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BasicConv(nn.Module):
    """The `basic_conv` block of architectures/inception_v3.cnn:
    basic_conv(filters, kernel, strides = 1, padding = 0).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int | tuple[int, int],
        strides: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, filters, kernel_size=kernel, stride=strides, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(filters, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x, inplace=True)


class InceptionA(nn.Module):
    """The `inception_a` block of architectures/inception_v3.cnn: inception_a(pool_features)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, padding=1)
        self.branch_pool = BasicConv(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch1x1 = self.branch1x1(x)
        branch5x5_1 = self.branch5x5_1(x)
        branch5x5_2 = self.branch5x5_2(branch5x5_1)
        branch3x3dbl_1 = self.branch3x3dbl_1(x)
        branch3x3dbl_2 = self.branch3x3dbl_2(branch3x3dbl_1)
        branch3x3dbl_3 = self.branch3x3dbl_3(branch3x3dbl_2)
        x = F.avg_pool2d(x, 3, stride=1, padding=1)
        branch_pool = self.branch_pool(x)

        return torch.cat([branch1x1, branch5x5_2, branch3x3dbl_3, branch_pool], 1)


class InceptionB(nn.Module):
    """The `inception_b` block of architectures/inception_v3.cnn: inception_b()."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv(in_channels, 384, 3, strides=2)
        self.branch3x3dbl_1 = BasicConv(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, strides=2)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl_1 = self.branch3x3dbl_1(x)
        branch3x3dbl_2 = self.branch3x3dbl_2(branch3x3dbl_1)
        branch3x3dbl_3 = self.branch3x3dbl_3(branch3x3dbl_2)

        x = F.max_pool2d(x, 3, stride=2)
        return torch.cat([branch3x3, branch3x3dbl_3, x], 1)


class InceptionC(nn.Module):
    """The `inception_c` block of architectures/inception_v3.cnn: inception_c(c7)."""

    def __init__(self, in_channels: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch1x1 = self.branch1x1(x)
        branch7x7_1 = self.branch7x7_1(x)
        branch7x7_2 = self.branch7x7_2(branch7x7_1)
        branch7x7_3 = self.branch7x7_3(branch7x7_2)
        branch7x7dbl_1 = self.branch7x7dbl_1(x)
        branch7x7dbl_2 = self.branch7x7dbl_2(branch7x7dbl_1)
        branch7x7dbl_3 = self.branch7x7dbl_3(branch7x7dbl_2)
        branch7x7dbl_4 = self.branch7x7dbl_4(branch7x7dbl_3)
        branch7x7dbl_5 = self.branch7x7dbl_5(branch7x7dbl_4)
        x = F.avg_pool2d(x, 3, stride=1, padding=1)
        branch_pool = self.branch_pool(x)

        return torch.cat([branch1x1, branch7x7_3, branch7x7dbl_5, branch_pool], 1)


class InceptionD(nn.Module):
    """The `inception_d` block of architectures/inception_v3.cnn: inception_d()."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv(192, 320, 3, strides=2)
        self.branch7x7x3_1 = BasicConv(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv(192, 192, 3, strides=2)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3_1 = self.branch3x3_1(x)
        branch3x3_2 = self.branch3x3_2(branch3x3_1)
        branch7x7x3_1 = self.branch7x7x3_1(x)
        branch7x7x3_2 = self.branch7x7x3_2(branch7x7x3_1)
        branch7x7x3_3 = self.branch7x7x3_3(branch7x7x3_2)
        branch7x7x3_4 = self.branch7x7x3_4(branch7x7x3_3)

        x = F.max_pool2d(x, 3, stride=2)
        return torch.cat([branch3x3_2, branch7x7x3_4, x], 1)


class InceptionE(nn.Module):
    """The `inception_e` block of architectures/inception_v3.cnn: inception_e()."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch1x1 = self.branch1x1(x)
        branch3x3_1 = self.branch3x3_1(x)
        branch3x3_2a = self.branch3x3_2a(branch3x3_1)
        branch3x3_2b = self.branch3x3_2b(branch3x3_1)
        out = torch.cat([branch3x3_2a, branch3x3_2b], 1)
        branch3x3dbl_1 = self.branch3x3dbl_1(x)
        branch3x3dbl_2 = self.branch3x3dbl_2(branch3x3dbl_1)
        branch3x3dbl_3a = self.branch3x3dbl_3a(branch3x3dbl_2)
        branch3x3dbl_3b = self.branch3x3dbl_3b(branch3x3dbl_2)
        out2 = torch.cat([branch3x3dbl_3a, branch3x3dbl_3b], 1)
        x = F.avg_pool2d(x, 3, stride=1, padding=1)
        branch_pool = self.branch_pool(x)

        return torch.cat([branch1x1, out, out2, branch_pool], 1)


class InceptionV3(nn.Module):
    """The inception_v3 network of architectures/inception_v3.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv(3, 32, 3, strides=2)
        self.Conv2d_2a_3x3 = BasicConv(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv(32, 64, 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv(80, 192, 3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.5)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = self.maxpool1(x)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = self.maxpool2(x)
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        x = self.Mixed_5d(x)
        x = self.Mixed_6a(x)
        x = self.Mixed_6b(x)
        x = self.Mixed_6c(x)
        x = self.Mixed_6d(x)
        x = self.Mixed_6e(x)
        x = self.Mixed_7a(x)
        x = self.Mixed_7b(x)
        x = self.Mixed_7c(x)

        x = self.avgpool(x)
        x = self.dropout(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The inception_v3 network, with freshly initialised weights."""
    return InceptionV3(classes=classes)
