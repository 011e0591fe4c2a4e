"""The lenet5 network, compiled by cnndsl from architectures/lenet5.cnn.

Input: N x 1 x 32 x 32. Output: N x 10. 61,706 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
from torch import Tensor, nn


class Lenet5(nn.Module):
    """The lenet5 network of architectures/lenet5.cnn."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.C1 = nn.Conv2d(1, 6, kernel_size=5)
        self.S2 = nn.AvgPool2d(kernel_size=2)
        self.C3 = nn.Conv2d(6, 16, kernel_size=5)
        self.S4 = nn.AvgPool2d(kernel_size=2)
        self.C5 = nn.Linear(400, 120)
        self.F6 = nn.Linear(120, 84)
        self.add_module("11", nn.Linear(84, classes))

    def forward(self, x: Tensor) -> Tensor:
        x = self.C1(x)
        x = torch.tanh(x)
        x = self.S2(x)
        x = self.C3(x)
        x = torch.tanh(x)
        x = self.S4(x)
        x = torch.flatten(x, 1)
        x = self.C5(x)
        x = torch.tanh(x)
        x = self.F6(x)
        x = torch.tanh(x)
        x = getattr(self, "11")(x)
        return x


def build(classes: int = 10) -> nn.Module:
    """The lenet5 network, with freshly initialised weights."""
    return Lenet5(classes=classes)
