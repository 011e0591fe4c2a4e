"""The efficientnet_v2_s network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 21,458,488 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

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


class FusedMbconv1Residual(nn.Module):
    """The `fused_mbconv1_residual` block of architectures/efficientnet.cnn: fused_mbconv1_residual(channels, p, eps =
    0.001).
    """

    def __init__(self, in_channels: int, channels: int, p: float, eps: float = 0.001) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ConvBnSilu(in_channels, channels, 3, eps=eps),
        )
        self.stochastic_depth = StochasticDepth(p, "row")

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)

        stochastic_depth = self.stochastic_depth(block)
        return stochastic_depth + x


class ConvBn(nn.Sequential):
    """The `conv_bn` block of architectures/efficientnet.cnn: conv_bn(filters, eps = 1e-05)."""

    def __init__(self, in_channels: int, filters: int, eps: float = 1e-05) -> None:
        super().__init__(
            nn.Conv2d(in_channels, filters, kernel_size=1, bias=False),
            nn.BatchNorm2d(filters, eps=eps),
        )


class FusedMbconv(nn.Module):
    """The `fused_mbconv` block: fused_mbconv(cin, cout, stride, expand = 4, eps = 0.001)."""

    def __init__(self, in_channels: int, cin: int, cout: int, stride: int, expand: int = 4, eps: float = 0.001) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ConvBnSilu(in_channels, cin * expand, 3, stride=stride, eps=eps),
            ConvBn(cin * expand, cout, eps=eps),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.block(x)
        return x


class FusedMbconvResidual(nn.Module):
    """
    The `fused_mbconv_residual` block of architectures/efficientnet.cnn: fused_mbconv_residual(channels, p, expand = 4,
    eps = 0.001).
    """

    def __init__(self, in_channels: int, channels: int, p: float, expand: int = 4, eps: float = 0.001) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ConvBnSilu(in_channels, channels * expand, 3, eps=eps),
            ConvBn(channels * expand, channels, eps=eps),
        )
        self.stochastic_depth = StochasticDepth(p, "row")

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)

        stochastic_depth = self.stochastic_depth(block)
        return stochastic_depth + x


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


class EfficientnetV2S(nn.Module):
    """The efficientnet_v2_s network of architectures/efficientnet.cnn."""

    def __init__(self, classes: int = 1000, stochastic_depth_prob: float = 0.2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBnSilu(3, 24, 3, stride=2, eps=0.001),
            nn.Sequential(
                FusedMbconv1Residual(24, 24, int(stochastic_depth_prob * 0 / 40)),
                FusedMbconv1Residual(24, 24, stochastic_depth_prob * 1 / 40),
            ),
            nn.Sequential(
                FusedMbconv(24, 24, 48, 2),
                FusedMbconvResidual(48, 48, stochastic_depth_prob * 3 / 40),
                FusedMbconvResidual(48, 48, stochastic_depth_prob * 4 / 40),
                FusedMbconvResidual(48, 48, stochastic_depth_prob * 5 / 40),
            ),
            nn.Sequential(
                FusedMbconv(48, 48, 64, 2),
                FusedMbconvResidual(64, 64, stochastic_depth_prob * 7 / 40),
                FusedMbconvResidual(64, 64, stochastic_depth_prob * 8 / 40),
                FusedMbconvResidual(64, 64, stochastic_depth_prob * 9 / 40),
            ),
            nn.Sequential(
                Mbconv(64, 64, 128, 3, stride=2, expand=4, eps=0.001),
                MbconvResidual(128, 128, 3, stochastic_depth_prob * 11 / 40, expand=4, eps=0.001),
                MbconvResidual(128, 128, 3, stochastic_depth_prob * 12 / 40, expand=4, eps=0.001),
                MbconvResidual(128, 128, 3, stochastic_depth_prob * 13 / 40, expand=4, eps=0.001),
                MbconvResidual(128, 128, 3, stochastic_depth_prob * 14 / 40, expand=4, eps=0.001),
                MbconvResidual(128, 128, 3, stochastic_depth_prob * 15 / 40, expand=4, eps=0.001),
            ),
            nn.Sequential(
                Mbconv(128, 128, 160, 3, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 17 / 40, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 18 / 40, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 19 / 40, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 20 / 40, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 21 / 40, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 22 / 40, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 23 / 40, eps=0.001),
                MbconvResidual(160, 160, 3, stochastic_depth_prob * 24 / 40, eps=0.001),
            ),
            nn.Sequential(
                Mbconv(160, 160, 256, 3, stride=2, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 26 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 27 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 28 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 29 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 30 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 31 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 32 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 33 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 34 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 35 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 36 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 37 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 38 / 40, eps=0.001),
                MbconvResidual(256, 256, 3, stochastic_depth_prob * 39 / 40, eps=0.001),
            ),
            ConvBnSilu(256, 1280, 1, eps=0.001),
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
    """The efficientnet_v2_s network, with freshly initialised weights."""
    return EfficientnetV2S(classes=classes, stochastic_depth_prob=stochastic_depth_prob)
