"""The mobilenet_v3_large network, compiled by cnndsl from architectures/mobilenet_v3.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 5,483,032 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

import torch
from torch import Tensor, nn


class ConvBnAct(nn.Sequential):
    """
    The `conv_bn_act` block of architectures/mobilenet_v3.cnn: conv_bn_act(filters, kernel = 1, stride = 1, groups = 1,
    act = none).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str = "none",
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
        if act == "hardswish":
            layers.append(nn.Hardswish())
        elif act == "relu":
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """The `squeeze_excitation` block of architectures/mobilenet_v3.cnn: squeeze_excitation(channels, squeeze)."""

    def __init__(self, in_channels: int, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.activation = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, channels, kernel_size=1)
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        out = self.avgpool(x)
        out = self.fc1(out)
        out = self.activation(out)
        out = self.fc2(out)
        scale_activation = self.scale_activation(out)
        return x * scale_activation


class Bneck(nn.Module):
    """The `bneck` block of architectures/mobilenet_v3.cnn: bneck(kernel, expanded, out, se, act, stride).

    Instances of it that differ in structure from these are built by Bneck2, Bneck3.
    """

    def __init__(self, in_channels: int, kernel: int, expanded: int, out_: int, act: str, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(in_channels, expanded, kernel=kernel, stride=stride, groups=expanded, act=act),
            ConvBnAct(expanded, out_),
        )

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)

        return block + x


class Bneck2(nn.Module):
    """The `bneck` block: bneck(kernel, expanded, out, se, act, stride).

    Instances of it that differ in structure from these are built by Bneck, Bneck3.
    """

    def __init__(
        self,
        in_channels: int,
        kernel: int,
        expanded: int,
        out_: int,
        act: str,
        stride: int,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.block = nn.Sequential(
            ConvBnAct(in_channels, expanded, act=act),
            ConvBnAct(expanded, expanded, kernel=kernel, stride=stride, groups=expanded, act=act),
            ConvBnAct(expanded, out_),
        )

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)
        if not self.residual:
            return block

        return block + x


class Bneck3(nn.Module):
    """The `bneck` block: bneck(kernel, expanded, out, se, act, stride).

    Instances of it that differ in structure from these are built by Bneck, Bneck2.
    """

    def __init__(
        self,
        in_channels: int,
        kernel: int,
        expanded: int,
        out_: int,
        act: str,
        stride: int,
        *,
        squeeze: int,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.block = nn.Sequential(
            ConvBnAct(in_channels, expanded, act=act),
            ConvBnAct(expanded, expanded, kernel=kernel, stride=stride, groups=expanded, act=act),
            SqueezeExcitation(expanded, expanded, squeeze),
            ConvBnAct(expanded, out_),
        )

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)
        if not self.residual:
            return block

        return block + x


class Features(nn.Sequential):
    """The `features` block: features(settings, width)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(
            ConvBnAct(in_channels, 16, kernel=3, stride=2, act="hardswish"),
            Bneck(16, 3, 16, 16, "relu", 1),
            Bneck2(16, 3, 64, 24, "relu", 2),
            Bneck2(24, 3, 72, 24, "relu", 1, residual=True),
            Bneck3(24, 5, 72, 40, "relu", 2, squeeze=24),
            Bneck3(40, 5, 120, 40, "relu", 1, squeeze=32, residual=True),
            Bneck3(40, 5, 120, 40, "relu", 1, squeeze=32, residual=True),
            Bneck2(40, 3, 240, 80, "hardswish", 2),
            Bneck2(80, 3, 200, 80, "hardswish", 1, residual=True),
            Bneck2(80, 3, 184, 80, "hardswish", 1, residual=True),
            Bneck2(80, 3, 184, 80, "hardswish", 1, residual=True),
            Bneck3(80, 3, 480, 112, "hardswish", 1, squeeze=120),
            Bneck3(112, 3, 672, 112, "hardswish", 1, squeeze=168, residual=True),
            Bneck3(112, 5, 672, 160, "hardswish", 2, squeeze=168),
            Bneck3(160, 5, 960, 160, "hardswish", 1, squeeze=240, residual=True),
            Bneck3(160, 5, 960, 160, "hardswish", 1, squeeze=240, residual=True),
            ConvBnAct(160, 960, act="hardswish"),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/mobilenet_v3.cnn: classifier(hidden, classes, rate = 0.2)."""

    def __init__(self, in_channels: int, hidden: int, classes: int, rate: float = 0.2) -> None:
        super().__init__(
            nn.Linear(in_channels, hidden),
            nn.Hardswish(),
            nn.Dropout(p=rate),
            nn.Linear(hidden, classes),
        )


class MobilenetV3Large(nn.Module):
    """The mobilenet_v3_large network of architectures/mobilenet_v3.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = Classifier(960, 1280, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The mobilenet_v3_large network, with freshly initialised weights."""
    return MobilenetV3Large(classes=classes)
