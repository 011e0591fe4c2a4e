"""The convnext_small network, compiled by cnndsl from architectures/convnext.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 50,223,688 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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


class CnBlock(nn.Module):
    """The `cn_block` block of architectures/convnext.cnn: cn_block(dim, p, scale = 1e-06)."""

    def __init__(self, in_channels: int, dim: int, p: float, scale: float = 1e-06) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, dim, kernel_size=7, padding=3, groups=dim),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-06),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), scale))
        self.stochastic_depth = StochasticDepth(p, "row")

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)

        out = block * self.layer_scale
        out = self.stochastic_depth(out)
        return out + x


class ConvnextFeatures(nn.Sequential):
    """The `convnext_features` block of architectures/convnext.cnn:
    convnext_features(depths, dims, stochastic_depth_prob).
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__(
            nn.Sequential(
                nn.Conv2d(in_channels, 96, kernel_size=4, stride=4),
                LayerNorm2d(96, eps=1e-06),
            ),
            nn.Sequential(
                CnBlock(96, 96, 0),
                CnBlock(96, 96, 0.011428571428571429),
                CnBlock(96, 96, 0.022857142857142857),
            ),
            nn.Sequential(
                LayerNorm2d(96, eps=1e-06),
                nn.Conv2d(96, 192, kernel_size=2, stride=2),
            ),
            nn.Sequential(
                CnBlock(192, 192, 0.03428571428571429),
                CnBlock(192, 192, 0.045714285714285714),
                CnBlock(192, 192, 0.05714285714285714),
            ),
            nn.Sequential(
                LayerNorm2d(192, eps=1e-06),
                nn.Conv2d(192, 384, kernel_size=2, stride=2),
            ),
            nn.Sequential(
                CnBlock(384, 384, 0.06857142857142857),
                CnBlock(384, 384, 0.08),
                CnBlock(384, 384, 0.09142857142857143),
                CnBlock(384, 384, 0.10285714285714286),
                CnBlock(384, 384, 0.11428571428571428),
                CnBlock(384, 384, 0.12571428571428572),
                CnBlock(384, 384, 0.13714285714285715),
                CnBlock(384, 384, 0.14857142857142858),
                CnBlock(384, 384, 0.16),
                CnBlock(384, 384, 0.17142857142857143),
                CnBlock(384, 384, 0.18285714285714286),
                CnBlock(384, 384, 0.1942857142857143),
                CnBlock(384, 384, 0.2057142857142857),
                CnBlock(384, 384, 0.21714285714285717),
                CnBlock(384, 384, 0.22857142857142856),
                CnBlock(384, 384, 0.24000000000000002),
                CnBlock(384, 384, 0.25142857142857145),
                CnBlock(384, 384, 0.2628571428571429),
                CnBlock(384, 384, 0.2742857142857143),
                CnBlock(384, 384, 0.2857142857142857),
                CnBlock(384, 384, 0.29714285714285715),
                CnBlock(384, 384, 0.3085714285714286),
                CnBlock(384, 384, 0.32),
                CnBlock(384, 384, 0.33142857142857146),
                CnBlock(384, 384, 0.34285714285714286),
                CnBlock(384, 384, 0.3542857142857143),
                CnBlock(384, 384, 0.3657142857142857),
            ),
            nn.Sequential(
                LayerNorm2d(384, eps=1e-06),
                nn.Conv2d(384, 768, kernel_size=2, stride=2),
            ),
            nn.Sequential(
                CnBlock(768, 768, 0.37714285714285717),
                CnBlock(768, 768, 0.3885714285714286),
                CnBlock(768, 768, 0.4),
            ),
        )


class ConvnextHead(nn.Sequential):
    """The `convnext_head` block of architectures/convnext.cnn: convnext_head(classes)."""

    def __init__(self, in_channels: int, classes: int) -> None:
        super().__init__(
            LayerNorm2d(in_channels, eps=1e-06),
            nn.Flatten(),
            nn.Linear(in_channels, classes),
        )


class ConvnextSmall(nn.Module):
    """The convnext_small network of architectures/convnext.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = ConvnextFeatures(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = ConvnextHead(768, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = self.classifier(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The convnext_small network, with freshly initialised weights."""
    return ConvnextSmall(classes=classes)
