"""The efficientnet_b3 network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 300 x 300. Output: N x 1000. 12,233,232 parameters.
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
            ConvBnAct(in_channels, 40, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(40, 24, 3, 1, 0, 40, 10),
                Mbconv(24, 24, 3, 1, 0.007692307692307693, 24, 6, residual=True),
            ),
            nn.Sequential(
                Mbconv2(24, 32, 3, 2, 0.015384615384615385, 144, 6),
                Mbconv2(32, 32, 3, 1, 0.02307692307692308, 192, 8, residual=True),
                Mbconv2(32, 32, 3, 1, 0.03076923076923077, 192, 8, residual=True),
            ),
            nn.Sequential(
                Mbconv2(32, 48, 5, 2, 0.038461538461538464, 192, 8),
                Mbconv2(48, 48, 5, 1, 0.04615384615384616, 288, 12, residual=True),
                Mbconv2(48, 48, 5, 1, 0.05384615384615385, 288, 12, residual=True),
            ),
            nn.Sequential(
                Mbconv2(48, 96, 3, 2, 0.06153846153846154, 288, 12),
                Mbconv2(96, 96, 3, 1, 0.06923076923076923, 576, 24, residual=True),
                Mbconv2(96, 96, 3, 1, 0.07692307692307693, 576, 24, residual=True),
                Mbconv2(96, 96, 3, 1, 0.08461538461538462, 576, 24, residual=True),
                Mbconv2(96, 96, 3, 1, 0.09230769230769233, 576, 24, residual=True),
            ),
            nn.Sequential(
                Mbconv2(96, 136, 5, 1, 0.1, 576, 24),
                Mbconv2(136, 136, 5, 1, 0.1076923076923077, 816, 34, residual=True),
                Mbconv2(136, 136, 5, 1, 0.11538461538461539, 816, 34, residual=True),
                Mbconv2(136, 136, 5, 1, 0.12307692307692308, 816, 34, residual=True),
                Mbconv2(136, 136, 5, 1, 0.13076923076923078, 816, 34, residual=True),
            ),
            nn.Sequential(
                Mbconv2(136, 232, 5, 2, 0.13846153846153847, 816, 34),
                Mbconv2(232, 232, 5, 1, 0.14615384615384616, 1392, 58, residual=True),
                Mbconv2(232, 232, 5, 1, 0.15384615384615385, 1392, 58, residual=True),
                Mbconv2(232, 232, 5, 1, 0.16153846153846155, 1392, 58, residual=True),
                Mbconv2(232, 232, 5, 1, 0.16923076923076924, 1392, 58, residual=True),
                Mbconv2(232, 232, 5, 1, 0.17692307692307693, 1392, 58, residual=True),
            ),
            nn.Sequential(
                Mbconv2(232, 384, 3, 1, 0.18461538461538465, 1392, 58),
                Mbconv2(384, 384, 3, 1, 0.19230769230769232, 2304, 96, residual=True),
            ),
            ConvBnAct(384, 1536),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetB3(nn.Module):
    """The efficientnet_b3 network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.3, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = Classifier(1536, dropout, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(dropout: float = 0.3, classes: int = 1000) -> nn.Module:
    """The efficientnet_b3 network, with freshly initialised weights."""
    return EfficientnetB3(dropout=dropout, classes=classes)
