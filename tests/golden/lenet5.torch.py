"""The lenet5 network, compiled by cnndsl from architectures/lenet5.cnn.

Input: N x 1 x 32 x 32. Output: N x 10. 61,706 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from torch import nn


class Lenet5(nn.Sequential):
    """The lenet5 network of architectures/lenet5.cnn."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__(
            nn.Conv2d(1, 6, kernel_size=5),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, classes),
        )


def build(classes: int = 10) -> nn.Module:
    """The lenet5 network, with freshly initialised weights."""
    return Lenet5(classes=classes)
