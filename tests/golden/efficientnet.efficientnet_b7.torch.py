"""The efficientnet_b7 network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 600 x 600. Output: N x 1000. 66,347,960 parameters.
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
            ConvBnAct(in_channels, 64, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(64, 32, 3, 1, 0, 64, 16),
                Mbconv(32, 32, 3, 1, 0.0036363636363636364, 32, 8, residual=True),
                Mbconv(32, 32, 3, 1, 0.007272727272727273, 32, 8, residual=True),
                Mbconv(32, 32, 3, 1, 0.01090909090909091, 32, 8, residual=True),
            ),
            nn.Sequential(
                Mbconv2(32, 48, 3, 2, 0.014545454545454545, 192, 8),
                Mbconv2(48, 48, 3, 1, 0.01818181818181818, 288, 12, residual=True),
                Mbconv2(48, 48, 3, 1, 0.02181818181818182, 288, 12, residual=True),
                Mbconv2(48, 48, 3, 1, 0.025454545454545455, 288, 12, residual=True),
                Mbconv2(48, 48, 3, 1, 0.02909090909090909, 288, 12, residual=True),
                Mbconv2(48, 48, 3, 1, 0.03272727272727273, 288, 12, residual=True),
                Mbconv2(48, 48, 3, 1, 0.03636363636363636, 288, 12, residual=True),
            ),
            nn.Sequential(
                Mbconv2(48, 80, 5, 2, 0.04, 288, 12),
                Mbconv2(80, 80, 5, 1, 0.04363636363636364, 480, 20, residual=True),
                Mbconv2(80, 80, 5, 1, 0.04727272727272727, 480, 20, residual=True),
                Mbconv2(80, 80, 5, 1, 0.05090909090909091, 480, 20, residual=True),
                Mbconv2(80, 80, 5, 1, 0.05454545454545454, 480, 20, residual=True),
                Mbconv2(80, 80, 5, 1, 0.05818181818181818, 480, 20, residual=True),
                Mbconv2(80, 80, 5, 1, 0.06181818181818183, 480, 20, residual=True),
            ),
            nn.Sequential(
                Mbconv2(80, 160, 3, 2, 0.06545454545454546, 480, 20),
                Mbconv2(160, 160, 3, 1, 0.06909090909090909, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.07272727272727272, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.07636363636363637, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.08, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.08363636363636365, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.08727272727272728, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.09090909090909091, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.09454545454545454, 960, 40, residual=True),
                Mbconv2(160, 160, 3, 1, 0.09818181818181819, 960, 40, residual=True),
            ),
            nn.Sequential(
                Mbconv2(160, 224, 5, 1, 0.10181818181818182, 960, 40),
                Mbconv2(224, 224, 5, 1, 0.10545454545454547, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.10909090909090909, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.11272727272727273, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.11636363636363636, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.12000000000000001, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.12363636363636366, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.12727272727272726, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.13090909090909092, 1344, 56, residual=True),
                Mbconv2(224, 224, 5, 1, 0.13454545454545455, 1344, 56, residual=True),
            ),
            nn.Sequential(
                Mbconv2(224, 384, 5, 2, 0.13818181818181818, 1344, 56),
                Mbconv2(384, 384, 5, 1, 0.14181818181818184, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.14545454545454545, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.1490909090909091, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.15272727272727274, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.15636363636363634, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.16, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.16363636363636364, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.1672727272727273, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.17090909090909093, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.17454545454545456, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.1781818181818182, 2304, 96, residual=True),
                Mbconv2(384, 384, 5, 1, 0.18181818181818182, 2304, 96, residual=True),
            ),
            nn.Sequential(
                Mbconv2(384, 640, 3, 1, 0.18545454545454548, 2304, 96),
                Mbconv2(640, 640, 3, 1, 0.1890909090909091, 3840, 160, residual=True),
                Mbconv2(640, 640, 3, 1, 0.19272727272727275, 3840, 160, residual=True),
                Mbconv2(640, 640, 3, 1, 0.19636363636363638, 3840, 160, residual=True),
            ),
            ConvBnAct(640, 2560),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetB7(nn.Module):
    """The efficientnet_b7 network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.5, classes: int = 1000) -> None:
        super().__init__()
        self.features = Features(3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = Classifier(2560, dropout, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def build(dropout: float = 0.5, classes: int = 1000) -> nn.Module:
    """The efficientnet_b7 network, with freshly initialised weights."""
    return EfficientnetB7(dropout=dropout, classes=classes)
