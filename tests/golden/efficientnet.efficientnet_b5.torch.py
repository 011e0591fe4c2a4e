"""The efficientnet_b5 network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 456 x 456. Output: N x 1000. 30,389,784 parameters.
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
            ConvBnAct(in_channels, 48, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(48, 24, 3, 1, 0, 48, 12),
                Mbconv(24, 24, 3, 1, 0.005128205128205128, 24, 6, residual=True),
                Mbconv(24, 24, 3, 1, 0.010256410256410256, 24, 6, residual=True),
            ),
            nn.Sequential(
                Mbconv2(24, 40, 3, 2, 0.015384615384615387, 144, 6),
                Mbconv2(40, 40, 3, 1, 0.020512820512820513, 240, 10, residual=True),
                Mbconv2(40, 40, 3, 1, 0.02564102564102564, 240, 10, residual=True),
                Mbconv2(40, 40, 3, 1, 0.030769230769230774, 240, 10, residual=True),
                Mbconv2(40, 40, 3, 1, 0.0358974358974359, 240, 10, residual=True),
            ),
            nn.Sequential(
                Mbconv2(40, 64, 5, 2, 0.041025641025641026, 240, 10),
                Mbconv2(64, 64, 5, 1, 0.046153846153846156, 384, 16, residual=True),
                Mbconv2(64, 64, 5, 1, 0.05128205128205128, 384, 16, residual=True),
                Mbconv2(64, 64, 5, 1, 0.05641025641025642, 384, 16, residual=True),
                Mbconv2(64, 64, 5, 1, 0.06153846153846155, 384, 16, residual=True),
            ),
            nn.Sequential(
                Mbconv2(64, 128, 3, 2, 0.06666666666666667, 384, 16),
                Mbconv2(128, 128, 3, 1, 0.0717948717948718, 768, 32, residual=True),
                Mbconv2(128, 128, 3, 1, 0.07692307692307693, 768, 32, residual=True),
                Mbconv2(128, 128, 3, 1, 0.08205128205128205, 768, 32, residual=True),
                Mbconv2(128, 128, 3, 1, 0.08717948717948719, 768, 32, residual=True),
                Mbconv2(128, 128, 3, 1, 0.09230769230769231, 768, 32, residual=True),
                Mbconv2(128, 128, 3, 1, 0.09743589743589744, 768, 32, residual=True),
            ),
            nn.Sequential(
                Mbconv2(128, 176, 5, 1, 0.10256410256410256, 768, 32),
                Mbconv2(176, 176, 5, 1, 0.1076923076923077, 1056, 44, residual=True),
                Mbconv2(176, 176, 5, 1, 0.11282051282051284, 1056, 44, residual=True),
                Mbconv2(176, 176, 5, 1, 0.11794871794871796, 1056, 44, residual=True),
                Mbconv2(176, 176, 5, 1, 0.1230769230769231, 1056, 44, residual=True),
                Mbconv2(176, 176, 5, 1, 0.1282051282051282, 1056, 44, residual=True),
                Mbconv2(176, 176, 5, 1, 0.13333333333333333, 1056, 44, residual=True),
            ),
            nn.Sequential(
                Mbconv2(176, 304, 5, 2, 0.13846153846153847, 1056, 44),
                Mbconv2(304, 304, 5, 1, 0.1435897435897436, 1824, 76, residual=True),
                Mbconv2(304, 304, 5, 1, 0.14871794871794874, 1824, 76, residual=True),
                Mbconv2(304, 304, 5, 1, 0.15384615384615385, 1824, 76, residual=True),
                Mbconv2(304, 304, 5, 1, 0.158974358974359, 1824, 76, residual=True),
                Mbconv2(304, 304, 5, 1, 0.1641025641025641, 1824, 76, residual=True),
                Mbconv2(304, 304, 5, 1, 0.16923076923076924, 1824, 76, residual=True),
                Mbconv2(304, 304, 5, 1, 0.17435897435897438, 1824, 76, residual=True),
                Mbconv2(304, 304, 5, 1, 0.1794871794871795, 1824, 76, residual=True),
            ),
            nn.Sequential(
                Mbconv2(304, 512, 3, 1, 0.18461538461538463, 1824, 76),
                Mbconv2(512, 512, 3, 1, 0.18974358974358976, 3072, 128, residual=True),
                Mbconv2(512, 512, 3, 1, 0.19487179487179487, 3072, 128, residual=True),
            ),
            ConvBnAct(512, 2048),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetB5(nn.Module):
    """The efficientnet_b5 network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.4, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = Classifier(2048, dropout, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(dropout: float = 0.4, classes: int = 1000) -> nn.Module:
    """The efficientnet_b5 network, with freshly initialised weights."""
    return EfficientnetB5(dropout=dropout, classes=classes)
