"""The efficientnet_b2 network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 260 x 260. Output: N x 1000. 9,109,994 parameters.
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
            ConvBnAct(in_channels, 32, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(32, 16, 3, 1, 0, 32, 8),
                Mbconv(16, 16, 3, 1, 0.008695652173913044, 16, 4, residual=True),
            ),
            nn.Sequential(
                Mbconv2(16, 24, 3, 2, 0.017391304347826087, 96, 4),
                Mbconv2(24, 24, 3, 1, 0.026086956521739136, 144, 6, residual=True),
                Mbconv2(24, 24, 3, 1, 0.034782608695652174, 144, 6, residual=True),
            ),
            nn.Sequential(
                Mbconv2(24, 48, 5, 2, 0.043478260869565216, 144, 6),
                Mbconv2(48, 48, 5, 1, 0.05217391304347827, 288, 12, residual=True),
                Mbconv2(48, 48, 5, 1, 0.06086956521739131, 288, 12, residual=True),
            ),
            nn.Sequential(
                Mbconv2(48, 88, 3, 2, 0.06956521739130435, 288, 12),
                Mbconv2(88, 88, 3, 1, 0.0782608695652174, 528, 22, residual=True),
                Mbconv2(88, 88, 3, 1, 0.08695652173913043, 528, 22, residual=True),
                Mbconv2(88, 88, 3, 1, 0.09565217391304348, 528, 22, residual=True),
            ),
            nn.Sequential(
                Mbconv2(88, 120, 5, 1, 0.10434782608695654, 528, 22),
                Mbconv2(120, 120, 5, 1, 0.11304347826086956, 720, 30, residual=True),
                Mbconv2(120, 120, 5, 1, 0.12173913043478261, 720, 30, residual=True),
                Mbconv2(120, 120, 5, 1, 0.13043478260869565, 720, 30, residual=True),
            ),
            nn.Sequential(
                Mbconv2(120, 208, 5, 2, 0.1391304347826087, 720, 30),
                Mbconv2(208, 208, 5, 1, 0.14782608695652175, 1248, 52, residual=True),
                Mbconv2(208, 208, 5, 1, 0.1565217391304348, 1248, 52, residual=True),
                Mbconv2(208, 208, 5, 1, 0.16521739130434784, 1248, 52, residual=True),
                Mbconv2(208, 208, 5, 1, 0.17391304347826086, 1248, 52, residual=True),
            ),
            nn.Sequential(
                Mbconv2(208, 352, 3, 1, 0.1826086956521739, 1248, 52),
                Mbconv2(352, 352, 3, 1, 0.19130434782608696, 2112, 88, residual=True),
            ),
            ConvBnAct(352, 1408),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetB2(nn.Module):
    """The efficientnet_b2 network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.3, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = Classifier(1408, dropout, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(dropout: float = 0.3, classes: int = 1000) -> nn.Module:
    """The efficientnet_b2 network, with freshly initialised weights."""
    return EfficientnetB2(dropout=dropout, classes=classes)
