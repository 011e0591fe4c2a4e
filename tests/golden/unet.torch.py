"""The unet network, compiled by cnndsl from architectures/unet.cnn.

Input: N x 1 x 128 x 128. Output: N x 2 x 128 x 128. 1,926,466 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DoubleConv(nn.Sequential):
    """The `double_conv` block of architectures/unet.cnn: double_conv(channels)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )


class Unet(nn.Module):
    """The unet network of architectures/unet.cnn."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.enc1 = DoubleConv(1, 32)
        self.enc2 = DoubleConv(32, 64)
        self.enc3 = DoubleConv(64, 128)
        self.bottleneck = DoubleConv(128, 256)
        self.up3 = nn.ConvTranspose2d(256, 128, kernel_size=2, stride=2)
        self.dec3 = DoubleConv(256, 128)
        self.up2 = nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2)
        self.dec2 = DoubleConv(128, 64)
        self.up1 = nn.ConvTranspose2d(64, 32, kernel_size=2, stride=2)
        self.dec1 = DoubleConv(64, 32)
        self.head = nn.Conv2d(32, classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        enc1 = self.enc1(x)
        x = F.max_pool2d(enc1, 2)
        enc2 = self.enc2(x)
        x = F.max_pool2d(enc2, 2)
        enc3 = self.enc3(x)
        x = F.max_pool2d(enc3, 2)
        x = self.bottleneck(x)
        x = self.up3(x)
        x = torch.cat([x, enc3], 1)
        x = self.dec3(x)
        x = self.up2(x)
        x = torch.cat([x, enc2], 1)
        x = self.dec2(x)
        x = self.up1(x)
        x = torch.cat([x, enc1], 1)
        x = self.dec1(x)

        x = self.head(x)
        return x


def build(classes: int = 2) -> nn.Module:
    """The unet network, with freshly initialised weights."""
    return Unet(classes=classes)
