"""What emitted PyTorch modules use beyond torch: TensorFlow's `same` padding, bed-of-nails upsampling, fixed
convolutions, and what torchvision defines that emitted files cannot import (channel shuffle, stochastic depth).
The PyTorch backend copies each definition a network needs into its module."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pad_same(
    x: Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    value: float = 0.0,
) -> Tensor:
    """Pad as TensorFlow's `same` does for this input size: ceil(size / stride) outputs, the odd pixel last."""
    pads = []
    for i in (1, 0):  # F.pad takes the width first
        size, k, s, d = x.shape[2 + i], kernel_size[i], stride[i], dilation[i]
        total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


def avg_pool_same(x: Tensor, kernel_size: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    """Average pooling with `same` padding that counts only the pixels of each window inside the input."""
    total = F.avg_pool2d(pad_same(x, kernel_size, stride), kernel_size, stride)
    inside = F.avg_pool2d(pad_same(torch.ones_like(x[:1, :1]), kernel_size, stride), kernel_size, stride)
    return total / inside


def upsample_zeros(x: Tensor, scale: int | tuple[int, int]) -> Tensor:
    """Bed-of-nails upsampling: each pixel goes to the top-left corner of its cell, the rest is zero."""
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h * sh, w * sw)
    out[:, :, ::sh, ::sw] = x
    return out


class FixedConv2d(nn.Conv2d):
    """A convolution with a fixed kernel (`weights=` in the .cnn file): one matrix for every output and input
    channel, held as a buffer, so that it is not trained and does not count as a parameter."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[tuple[float, ...], ...], **kwargs) -> None:
        matrix = torch.tensor(kernel, dtype=torch.float32)
        super().__init__(in_channels, out_channels, tuple(matrix.shape), bias=False, **kwargs)
        shape = self.weight.shape
        del self.weight  # the parameter nn.Conv2d made: the same key now holds the fixed kernel
        self.register_buffer("weight", matrix.expand(shape).clone())


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle, as torchvision's: the channels seen as groups x C/groups, transposed."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, channels, height, width)


def stochastic_depth(x: Tensor, p: float, mode: str, training: bool = True) -> Tensor:
    """torchvision.ops.stochastic_depth: while training, zero the whole input of a sample ("row") or of the
    batch ("batch") with probability p and scale the rest by 1 / (1 - p); the identity otherwise."""
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
    return x * noise.div_(survival)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: stochastic_depth as a module, with no weights."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        return stochastic_depth(x, self.p, self.mode, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class Permute(nn.Module):
    """torchvision's Permute: channels_last() is Permute([0, 2, 3, 1]), channels_first() Permute([0, 3, 1, 2])."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)


class LayerNorm2d(nn.LayerNorm):
    """torchvision's LayerNorm2d: nn.LayerNorm over the channels of an N×C×H×W map."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
