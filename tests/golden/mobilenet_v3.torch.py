"""The mobilenet_v3_large network, compiled by cnndsl from architectures/mobilenet_v3.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 5,483,032 parameters.
build() returns the model. This file is generated: change the .cnn file and compile it again.
"""

from collections import OrderedDict

import torch
from torch import Tensor, nn


class ConvBnHardswish(nn.Sequential):
    """The `conv_bn_hardswish` block of architectures/mobilenet_v3.cnn: conv_bn_hardswish(filters, kernel, stride = 1,
    groups = 1).
    """

    def __init__(self, in_channels: int, filters: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
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
            nn.BatchNorm2d(filters, eps=0.001, momentum=0.01),
            nn.Hardswish(),
        )


class ConvBnRelu(nn.Sequential):
    """The `conv_bn_relu` block of architectures/mobilenet_v3.cnn:
    conv_bn_relu(filters, kernel, stride = 1, groups = 1).
    """

    def __init__(self, in_channels: int, filters: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
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
            nn.BatchNorm2d(filters, eps=0.001, momentum=0.01),
            nn.ReLU(inplace=True),
        )


class ConvBn(nn.Sequential):
    """The `conv_bn` block of architectures/mobilenet_v3.cnn: conv_bn(filters)."""

    def __init__(self, in_channels: int, filters: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, filters, kernel_size=1, bias=False),
            nn.BatchNorm2d(filters, eps=0.001, momentum=0.01),
        )


class BneckRelu(nn.Sequential):
    """The `bneck_relu` block: bneck_relu(expanded, out, kernel, stride = 1)."""

    def __init__(self, in_channels: int, expanded: int, out_: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            ConvBnRelu(in_channels, expanded, 1),
            ConvBnRelu(expanded, expanded, kernel, stride=stride, groups=expanded),
            ConvBn(expanded, out_),
        )


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


class BneckReluSe(nn.Sequential):
    """The `bneck_relu_se` block: bneck_relu_se(expanded, squeeze, out, kernel, stride = 1)."""

    def __init__(self, in_channels: int, expanded: int, squeeze: int, out_: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            ConvBnRelu(in_channels, expanded, 1),
            ConvBnRelu(expanded, expanded, kernel, stride=stride, groups=expanded),
            SqueezeExcitation(expanded, expanded, squeeze),
            ConvBn(expanded, out_),
        )


class BneckHardswish(nn.Sequential):
    """The `bneck_hardswish` block: bneck_hardswish(expanded, out, kernel, stride = 1)."""

    def __init__(self, in_channels: int, expanded: int, out_: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            ConvBnHardswish(in_channels, expanded, 1),
            ConvBnHardswish(expanded, expanded, kernel, stride=stride, groups=expanded),
            ConvBn(expanded, out_),
        )


class BneckHardswishSe(nn.Sequential):
    """The `bneck_hardswish_se` block: bneck_hardswish_se(expanded, squeeze, out, kernel, stride = 1)."""

    def __init__(self, in_channels: int, expanded: int, squeeze: int, out_: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            ConvBnHardswish(in_channels, expanded, 1),
            ConvBnHardswish(expanded, expanded, kernel, stride=stride, groups=expanded),
            SqueezeExcitation(expanded, expanded, squeeze),
            ConvBn(expanded, out_),
        )


class MobilenetV3Large(nn.Module):
    """The mobilenet_v3_large network of architectures/mobilenet_v3.cnn."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.ModuleDict(
            {
                "0": ConvBnHardswish(3, 16, 3, stride=2),
                "1": nn.ModuleDict(
                    {
                        "block": nn.Sequential(
                            ConvBnRelu(16, 16, 3, groups=16),
                            ConvBn(16, 16),
                        ),
                    }
                ),
                "2": nn.Sequential(
                    OrderedDict(
                        [
                            ("block", BneckRelu(16, 64, 24, 3, stride=2)),
                        ]
                    )
                ),
                "3": nn.ModuleDict(
                    {
                        "block": BneckRelu(24, 72, 24, 3),
                    }
                ),
                "4": nn.Sequential(
                    OrderedDict(
                        [
                            ("block", BneckReluSe(24, 72, 24, 40, 5, stride=2)),
                        ]
                    )
                ),
                "5": nn.ModuleDict(
                    {
                        "block": BneckReluSe(40, 120, 32, 40, 5),
                    }
                ),
                "6": nn.ModuleDict(
                    {
                        "block": BneckReluSe(40, 120, 32, 40, 5),
                    }
                ),
                "7": nn.Sequential(
                    OrderedDict(
                        [
                            ("block", BneckHardswish(40, 240, 80, 3, stride=2)),
                        ]
                    )
                ),
                "8": nn.ModuleDict(
                    {
                        "block": BneckHardswish(80, 200, 80, 3),
                    }
                ),
                "9": nn.ModuleDict(
                    {
                        "block": BneckHardswish(80, 184, 80, 3),
                    }
                ),
                "10": nn.ModuleDict(
                    {
                        "block": BneckHardswish(80, 184, 80, 3),
                    }
                ),
                "11": nn.Sequential(
                    OrderedDict(
                        [
                            ("block", BneckHardswishSe(80, 480, 120, 112, 3)),
                        ]
                    )
                ),
                "12": nn.ModuleDict(
                    {
                        "block": BneckHardswishSe(112, 672, 168, 112, 3),
                    }
                ),
                "13": nn.Sequential(
                    OrderedDict(
                        [
                            ("block", BneckHardswishSe(112, 672, 168, 160, 5, stride=2)),
                        ]
                    )
                ),
                "14": nn.ModuleDict(
                    {
                        "block": BneckHardswishSe(160, 960, 240, 160, 5),
                    }
                ),
                "15": nn.ModuleDict(
                    {
                        "block": BneckHardswishSe(160, 960, 240, 160, 5),
                    }
                ),
                "16": ConvBnHardswish(160, 960, 1),
            }
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Linear(960, 1280),
            nn.Hardswish(),
            nn.Dropout(p=0.2),
            nn.Linear(1280, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features["0"](x)
        block = self.features["1"]["block"](x)
        x = block + x
        x = self.features["2"](x)
        block = self.features["3"]["block"](x)
        x = block + x
        x = self.features["4"](x)
        block = self.features["5"]["block"](x)
        x = block + x
        block = self.features["6"]["block"](x)
        x = block + x
        x = self.features["7"](x)
        block = self.features["8"]["block"](x)
        x = block + x
        block = self.features["9"]["block"](x)
        x = block + x
        block = self.features["10"]["block"](x)
        x = block + x
        x = self.features["11"](x)
        block = self.features["12"]["block"](x)
        x = block + x
        x = self.features["13"](x)
        block = self.features["14"]["block"](x)
        x = block + x
        block = self.features["15"]["block"](x)
        x = block + x
        x = self.features["16"](x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(classes: int = 1000) -> nn.Module:
    """The mobilenet_v3_large network, with freshly initialised weights."""
    return MobilenetV3Large(classes=classes)
