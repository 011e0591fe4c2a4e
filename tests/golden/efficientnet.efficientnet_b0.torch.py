"""The efficientnet_b0 network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 5,288,548 parameters.
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


class ConvBnAct(nn.Sequential):
    """
    The `conv_bn_act` block of architectures/efficientnet.cnn: conv_bn_act(filters, kernel = 1, stride = 1, groups = 1,
    bn = (1e-05, 0.1), act = silu).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str = "silu",
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                filters,
                kernel_size=kernel,
                stride=stride,
                padding=(kernel - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(filters),
        ]
        if act == "silu":
            layers.append(nn.SiLU())
        super().__init__(*layers)


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


class Mbconv(nn.Module):
    """The `mbconv` block: mbconv(out, kernel, stride, expand, fused, p, bn, hidden, squeeze).

    Instances of it that differ in structure from these are built by Mbconv2.
    """

    def __init__(self, in_channels: int, out_: int, kernel: int, stride: int, hidden: int, squeeze: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(in_channels, hidden, kernel=kernel, stride=stride, groups=hidden),
            SqueezeExcitation(hidden, hidden, squeeze),
            ConvBnAct(hidden, out_, act="none"),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.block(x)
        return x


class Mbconv2(nn.Module):
    """The `mbconv` block: mbconv(out, kernel, stride, expand, fused, p, bn, hidden, squeeze).

    Instances of it that differ in structure from these are built by Mbconv.
    """

    def __init__(
        self,
        in_channels: int,
        out_: int,
        kernel: int,
        stride: int,
        p: float,
        hidden: int,
        squeeze: int,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.block = nn.Sequential(
            ConvBnAct(in_channels, hidden),
            ConvBnAct(hidden, hidden, kernel=kernel, stride=stride, groups=hidden),
            SqueezeExcitation(hidden, hidden, squeeze),
            ConvBnAct(hidden, out_, act="none"),
        )
        if residual:
            self.stochastic_depth = StochasticDepth(p, "row")

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)
        if not self.residual:
            return block

        stochastic_depth = self.stochastic_depth(block)
        return stochastic_depth + x


class Features(nn.Sequential):
    """The `features` block: features(stages, width, depth, bn, last = 0, p = 0.2)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(
            ConvBnAct(in_channels, 32, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(32, 16, 3, 1, 32, 8),
            ),
            nn.Sequential(
                Mbconv2(16, 24, 3, 2, 0.0125, 96, 4),
                Mbconv2(24, 24, 3, 1, 0.025, 144, 6, residual=True),
            ),
            nn.Sequential(
                Mbconv2(24, 40, 5, 2, 0.037500000000000006, 144, 6),
                Mbconv2(40, 40, 5, 1, 0.05, 240, 10, residual=True),
            ),
            nn.Sequential(
                Mbconv2(40, 80, 3, 2, 0.0625, 240, 10),
                Mbconv2(80, 80, 3, 1, 0.07500000000000001, 480, 20, residual=True),
                Mbconv2(80, 80, 3, 1, 0.08750000000000001, 480, 20, residual=True),
            ),
            nn.Sequential(
                Mbconv2(80, 112, 5, 1, 0.1, 480, 20),
                Mbconv2(112, 112, 5, 1, 0.1125, 672, 28, residual=True),
                Mbconv2(112, 112, 5, 1, 0.125, 672, 28, residual=True),
            ),
            nn.Sequential(
                Mbconv2(112, 192, 5, 2, 0.1375, 672, 28),
                Mbconv2(192, 192, 5, 1, 0.15000000000000002, 1152, 48, residual=True),
                Mbconv2(192, 192, 5, 1, 0.1625, 1152, 48, residual=True),
                Mbconv2(192, 192, 5, 1, 0.17500000000000002, 1152, 48, residual=True),
            ),
            nn.Sequential(
                Mbconv2(192, 320, 3, 1, 0.1875, 1152, 48),
            ),
            ConvBnAct(320, 1280),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetB0(nn.Module):
    """The efficientnet_b0 network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.2, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = Classifier(1280, dropout, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(dropout: float = 0.2, classes: int = 1000) -> nn.Module:
    """The efficientnet_b0 network, with freshly initialised weights."""
    return EfficientnetB0(dropout=dropout, classes=classes)
