"""The filters network, compiled by cnndsl from architectures/filters.cnn.

Input: N x 3 x H x W. Output: N x 14 x H x W. 0 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import math

import torch
from torch import Tensor, nn

EDGE_ENHANCE = (
    (-0.5, -0.5, -0.5),
    (-0.5, 5, -0.5),
    (-0.5, -0.5, -0.5),
)
SOBEL_X = (
    (-1, 0, 1),
    (-2, 0, 2),
    (-1, 0, 1),
)
SOBEL_Y = (
    (-1, -2, -1),
    (0, 0, 0),
    (1, 2, 1),
)


def box_kernel(size: int | tuple[int, int]) -> tuple[tuple[float, ...], ...]:
    """A box blur: every weight is 1 / (h * w)."""
    h, w = (size, size) if isinstance(size, int) else size
    return tuple(tuple(1 / (h * w) for _ in range(w)) for _ in range(h))


def gaussian_kernel(size: int | tuple[int, int], sigma: float) -> tuple[tuple[float, ...], ...]:
    """A Gaussian blur: exp(-d^2 / (2 sigma^2)) along each axis, their product normalised to sum 1."""
    h, w = (size, size) if isinstance(size, int) else size
    gy = [math.exp(-((i - (h - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(h)]
    gx = [math.exp(-((j - (w - 1) / 2) ** 2) / (2 * sigma**2)) for j in range(w)]
    total = sum(gy) * sum(gx)
    return tuple(tuple(a * b / total for b in gx) for a in gy)


class FixedConv2d(nn.Conv2d):
    """A convolution with a fixed kernel (`weights=` in the .cnn file): one matrix for every output and input
    channel, held as a buffer, so that it is not trained and does not count as a parameter."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[tuple[float, ...], ...], **kwargs) -> None:
        matrix = torch.tensor(kernel, dtype=torch.float32)
        super().__init__(in_channels, out_channels, tuple(matrix.shape), bias=False, **kwargs)
        shape = self.weight.shape
        del self.weight  # the parameter nn.Conv2d made: the same key now holds the fixed kernel
        self.register_buffer("weight", matrix.expand(shape).clone())


class Filters(nn.Module):
    """The filters network of architectures/filters.cnn."""

    def __init__(self) -> None:
        super().__init__()
        self.box_blur = FixedConv2d(3, 3, box_kernel(7), padding=3, groups=3)
        self.gaussian_blur = FixedConv2d(3, 3, gaussian_kernel(7, 2.0), padding=3, groups=3)
        self.edge_enhance = FixedConv2d(3, 3, EDGE_ENHANCE, padding=1, groups=3)
        self.sobel_x = FixedConv2d(3, 1, SOBEL_X, padding=1)
        self.sobel_y = FixedConv2d(3, 1, SOBEL_Y, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        box_blur = self.box_blur(x)
        gaussian_blur = self.gaussian_blur(x)
        edge_enhance = self.edge_enhance(x)
        sobel_x = self.sobel_x(x)
        sobel_y = self.sobel_y(x)
        return torch.cat([x, box_blur, gaussian_blur, edge_enhance, sobel_x, sobel_y], 1)


def build() -> nn.Module:
    """The filters network, with freshly initialised weights."""
    return Filters()
