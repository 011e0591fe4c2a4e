"""The efficientnet_b6 network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 528 x 528. Output: N x 1000. 43,040,704 parameters.
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
            nn.BatchNorm2d(filters, eps=0.001, momentum=0.01),
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
            ConvBnAct(in_channels, hidden, kernel=kernel, stride=stride, groups=hidden),
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
            ConvBnAct(in_channels, 56, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(56, 32, 3, 1, 0, 56, 14),
                Mbconv(32, 32, 3, 1, 0.0044444444444444444, 32, 8, residual=True),
                Mbconv(32, 32, 3, 1, 0.008888888888888889, 32, 8, residual=True),
            ),
            nn.Sequential(
                Mbconv2(32, 40, 3, 2, 0.013333333333333336, 192, 8),
                Mbconv2(40, 40, 3, 1, 0.017777777777777778, 240, 10, residual=True),
                Mbconv2(40, 40, 3, 1, 0.022222222222222223, 240, 10, residual=True),
                Mbconv2(40, 40, 3, 1, 0.026666666666666672, 240, 10, residual=True),
                Mbconv2(40, 40, 3, 1, 0.031111111111111114, 240, 10, residual=True),
                Mbconv2(40, 40, 3, 1, 0.035555555555555556, 240, 10, residual=True),
            ),
            nn.Sequential(
                Mbconv2(40, 72, 5, 2, 0.04, 240, 10),
                Mbconv2(72, 72, 5, 1, 0.044444444444444446, 432, 18, residual=True),
                Mbconv2(72, 72, 5, 1, 0.04888888888888889, 432, 18, residual=True),
                Mbconv2(72, 72, 5, 1, 0.053333333333333344, 432, 18, residual=True),
                Mbconv2(72, 72, 5, 1, 0.05777777777777778, 432, 18, residual=True),
                Mbconv2(72, 72, 5, 1, 0.06222222222222223, 432, 18, residual=True),
            ),
            nn.Sequential(
                Mbconv2(72, 144, 3, 2, 0.06666666666666667, 432, 18),
                Mbconv2(144, 144, 3, 1, 0.07111111111111111, 864, 36, residual=True),
                Mbconv2(144, 144, 3, 1, 0.07555555555555557, 864, 36, residual=True),
                Mbconv2(144, 144, 3, 1, 0.08, 864, 36, residual=True),
                Mbconv2(144, 144, 3, 1, 0.08444444444444445, 864, 36, residual=True),
                Mbconv2(144, 144, 3, 1, 0.08888888888888889, 864, 36, residual=True),
                Mbconv2(144, 144, 3, 1, 0.09333333333333334, 864, 36, residual=True),
                Mbconv2(144, 144, 3, 1, 0.09777777777777778, 864, 36, residual=True),
            ),
            nn.Sequential(
                Mbconv2(144, 200, 5, 1, 0.10222222222222223, 864, 36),
                Mbconv2(200, 200, 5, 1, 0.10666666666666669, 1200, 50, residual=True),
                Mbconv2(200, 200, 5, 1, 0.1111111111111111, 1200, 50, residual=True),
                Mbconv2(200, 200, 5, 1, 0.11555555555555556, 1200, 50, residual=True),
                Mbconv2(200, 200, 5, 1, 0.12000000000000001, 1200, 50, residual=True),
                Mbconv2(200, 200, 5, 1, 0.12444444444444445, 1200, 50, residual=True),
                Mbconv2(200, 200, 5, 1, 0.12888888888888891, 1200, 50, residual=True),
                Mbconv2(200, 200, 5, 1, 0.13333333333333333, 1200, 50, residual=True),
            ),
            nn.Sequential(
                Mbconv2(200, 344, 5, 2, 0.13777777777777778, 1200, 50),
                Mbconv2(344, 344, 5, 1, 0.14222222222222222, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.14666666666666667, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.15111111111111114, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.15555555555555556, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.16, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.16444444444444445, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.1688888888888889, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.17333333333333334, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.17777777777777778, 2064, 86, residual=True),
                Mbconv2(344, 344, 5, 1, 0.18222222222222226, 2064, 86, residual=True),
            ),
            nn.Sequential(
                Mbconv2(344, 576, 3, 1, 0.18666666666666668, 2064, 86),
                Mbconv2(576, 576, 3, 1, 0.1911111111111111, 3456, 144, residual=True),
                Mbconv2(576, 576, 3, 1, 0.19555555555555557, 3456, 144, residual=True),
            ),
            ConvBnAct(576, 2304),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetB6(nn.Module):
    """The efficientnet_b6 network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.5, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = Classifier(2304, dropout, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(dropout: float = 0.5, classes: int = 1000) -> nn.Module:
    """The efficientnet_b6 network, with freshly initialised weights."""
    return EfficientnetB6(dropout=dropout, classes=classes)
