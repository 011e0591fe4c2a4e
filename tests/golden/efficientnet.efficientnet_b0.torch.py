"""The efficientnet_b0 network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 5,288,548 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
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


class ConvBnSilu(nn.Sequential):
    """The `conv_bn_silu` block of architectures/efficientnet.cnn: conv_bn_silu(filters, kernel, stride = 1, groups = 1,
    eps = 1e-05).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        eps: float = 1e-05,
    ) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels,
                filters,
                kernel_size=kernel,
                stride=stride,
                padding=(kernel - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(filters, eps=eps),
            nn.SiLU(),
        )


class SqueezeExcitation(nn.Module):
    """The `squeeze_excitation` block of architectures/efficientnet.cnn: squeeze_excitation(channels, squeeze)."""

    def __init__(self, in_channels: int, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.activation = nn.SiLU()
        self.fc2 = nn.Conv2d(squeeze, channels, kernel_size=1)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        out = self.avgpool(x)
        out = self.fc1(out)
        out = self.activation(out)
        out = self.fc2(out)
        scale_activation = self.scale_activation(out)
        return x * scale_activation


class ConvBn(nn.Sequential):
    """The `conv_bn` block of architectures/efficientnet.cnn: conv_bn(filters, eps = 1e-05)."""

    def __init__(self, in_channels: int, filters: int, eps: float = 1e-05) -> None:
        super().__init__(
            nn.Conv2d(in_channels, filters, kernel_size=1, bias=False),
            nn.BatchNorm2d(filters, eps=eps),
        )


class MbconvLayers(nn.Sequential):
    """The `mbconv_layers` block: mbconv_layers(cin, cout, kernel, stride, expand, eps)."""

    def __init__(
        self,
        in_channels: int,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        expand: int,
        eps: float,
    ) -> None:
        super().__init__(
            ConvBnSilu(in_channels, cin * expand, 1, eps=eps),
            ConvBnSilu(cin * expand, cin * expand, kernel, stride=stride, groups=cin * expand, eps=eps),
            SqueezeExcitation(cin * expand, cin * expand, cin // 4),
            ConvBn(cin * expand, cout, eps=eps),
        )


class Mbconv(nn.Module):
    """The `mbconv` block: mbconv(cin, cout, kernel, stride = 1, expand = 6, eps = 1e-05)."""

    def __init__(
        self,
        in_channels: int,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        expand: int = 6,
        eps: float = 1e-05,
    ) -> None:
        super().__init__()
        self.block = MbconvLayers(in_channels, cin, cout, kernel, stride, expand, eps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block(x)
        return x


class MbconvResidual(nn.Module):
    """
    The `mbconv_residual` block of architectures/efficientnet.cnn: mbconv_residual(channels, kernel, p, expand = 6, eps
    = 1e-05).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel: int,
        p: float,
        expand: int = 6,
        eps: float = 1e-05,
    ) -> None:
        super().__init__()
        self.block = MbconvLayers(in_channels, channels, channels, kernel, 1, expand, eps)
        self.stochastic_depth = StochasticDepth(p, "row")

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)

        stochastic_depth = self.stochastic_depth(block)
        return stochastic_depth + x


class EfficientnetB0(nn.Module):
    """The efficientnet_b0 network of architectures/efficientnet.cnn."""

    def __init__(self, classes: int = 1000, stochastic_depth_prob: float = 0.2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBnSilu(3, 32, 3, stride=2),
            nn.Sequential(
                nn.Sequential(
                    OrderedDict(
                        [
                            (
                                "block",
                                nn.Sequential(
                                    ConvBnSilu(32, 32, 3, groups=32),
                                    SqueezeExcitation(32, 32, 8),
                                    ConvBn(32, 16),
                                ),
                            ),
                        ]
                    )
                ),
            ),
            nn.Sequential(
                Mbconv(16, 16, 24, 3, stride=2),
                MbconvResidual(24, 24, 3, stochastic_depth_prob * 2 / 16),
            ),
            nn.Sequential(
                Mbconv(24, 24, 40, 5, stride=2),
                MbconvResidual(40, 40, 5, stochastic_depth_prob * 4 / 16),
            ),
            nn.Sequential(
                Mbconv(40, 40, 80, 3, stride=2),
                MbconvResidual(80, 80, 3, stochastic_depth_prob * 6 / 16),
                MbconvResidual(80, 80, 3, stochastic_depth_prob * 7 / 16),
            ),
            nn.Sequential(
                Mbconv(80, 80, 112, 5),
                MbconvResidual(112, 112, 5, stochastic_depth_prob * 9 / 16),
                MbconvResidual(112, 112, 5, stochastic_depth_prob * 10 / 16),
            ),
            nn.Sequential(
                Mbconv(112, 112, 192, 5, stride=2),
                MbconvResidual(192, 192, 5, stochastic_depth_prob * 12 / 16),
                MbconvResidual(192, 192, 5, stochastic_depth_prob * 13 / 16),
                MbconvResidual(192, 192, 5, stochastic_depth_prob * 14 / 16),
            ),
            nn.Sequential(
                Mbconv(192, 192, 320, 3),
            ),
            ConvBnSilu(320, 1280, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.2),
            nn.Linear(1280, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(classes: int = 1000, stochastic_depth_prob: float = 0.2) -> nn.Module:
    """The efficientnet_b0 network, with freshly initialised weights."""
    return EfficientnetB0(classes=classes, stochastic_depth_prob=stochastic_depth_prob)
