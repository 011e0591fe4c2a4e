"""The nin network, compiled by cnndsl from architectures/nin.cnn.

Input: N x 3 x 32 x 32. Output: N x 10. 966,986 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Mlpconv(nn.Sequential):
    """The `mlpconv` block of architectures/nin.cnn: mlpconv(c1, c2, c3, kernel, padding)."""

    def __init__(self, in_channels: int, c1: int, c2: int, c3: int, kernel: int, padding: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, c1, kernel_size=kernel, padding=padding),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, kernel_size=1),
            nn.ReLU(inplace=True),
        )


class Nin(nn.Module):
    """The nin network of architectures/nin.cnn."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.block1 = Mlpconv(3, 192, 160, 96, 5, 2)
        self.block2 = Mlpconv(96, 192, 192, 192, 5, 2)
        self.block3 = Mlpconv(192, 192, 192, classes, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block1(x)
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.block2(x)
        x = F.avg_pool2d(x, 3, stride=2, ceil_mode=True)
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.block3(x)

        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return F.softmax(x, dim=1)


def build(classes: int = 10) -> nn.Module:
    """The nin network, with freshly initialised weights."""
    return Nin(classes=classes)
