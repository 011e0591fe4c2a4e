"""The efficientnet_v2_m network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 54,139,356 parameters.
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
            nn.BatchNorm2d(filters, eps=0.001),
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
    """The `mbconv` block of architectures/efficientnet.cnn: mbconv(out, kernel, stride, expand, fused, p, bn, hidden,
    squeeze).

    Instances of it that differ in structure from these are built by Mbconv2, Mbconv3.
    """

    def __init__(self, in_channels: int, out_: int, kernel: int, stride: int, p: float) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ConvBnAct(in_channels, out_, kernel=kernel, stride=stride),
        )
        self.stochastic_depth = StochasticDepth(p, "row")

    def forward(self, x: Tensor) -> Tensor:
        block = self.block(x)

        stochastic_depth = self.stochastic_depth(block)
        return stochastic_depth + x


class Mbconv2(nn.Module):
    """The `mbconv` block: mbconv(out, kernel, stride, expand, fused, p, bn, hidden, squeeze).

    Instances of it that differ in structure from these are built by Mbconv, Mbconv3.
    """

    def __init__(
        self,
        in_channels: int,
        out_: int,
        kernel: int,
        stride: int,
        p: float,
        hidden: int,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.block = nn.Sequential(
            ConvBnAct(in_channels, hidden, kernel=kernel, stride=stride),
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


class Mbconv3(nn.Module):
    """The `mbconv` block: mbconv(out, kernel, stride, expand, fused, p, bn, hidden, squeeze).

    Instances of it that differ in structure from these are built by Mbconv, Mbconv2.
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
            ConvBnAct(in_channels, 24, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(24, 24, 3, 1, 0),
                Mbconv(24, 24, 3, 1, 0.0035087719298245615),
                Mbconv(24, 24, 3, 1, 0.007017543859649123),
            ),
            nn.Sequential(
                Mbconv2(24, 48, 3, 2, 0.010526315789473686, 96),
                Mbconv2(48, 48, 3, 1, 0.014035087719298246, 192, residual=True),
                Mbconv2(48, 48, 3, 1, 0.017543859649122806, 192, residual=True),
                Mbconv2(48, 48, 3, 1, 0.02105263157894737, 192, residual=True),
                Mbconv2(48, 48, 3, 1, 0.024561403508771933, 192, residual=True),
            ),
            nn.Sequential(
                Mbconv2(48, 80, 3, 2, 0.028070175438596492, 192),
                Mbconv2(80, 80, 3, 1, 0.031578947368421054, 320, residual=True),
                Mbconv2(80, 80, 3, 1, 0.03508771929824561, 320, residual=True),
                Mbconv2(80, 80, 3, 1, 0.03859649122807018, 320, residual=True),
                Mbconv2(80, 80, 3, 1, 0.04210526315789474, 320, residual=True),
            ),
            nn.Sequential(
                Mbconv3(80, 160, 3, 2, 0.0456140350877193, 320, 20),
                Mbconv3(160, 160, 3, 1, 0.04912280701754387, 640, 40, residual=True),
                Mbconv3(160, 160, 3, 1, 0.05263157894736842, 640, 40, residual=True),
                Mbconv3(160, 160, 3, 1, 0.056140350877192984, 640, 40, residual=True),
                Mbconv3(160, 160, 3, 1, 0.05964912280701755, 640, 40, residual=True),
                Mbconv3(160, 160, 3, 1, 0.06315789473684211, 640, 40, residual=True),
                Mbconv3(160, 160, 3, 1, 0.06666666666666667, 640, 40, residual=True),
            ),
            nn.Sequential(
                Mbconv3(160, 176, 3, 1, 0.07017543859649122, 960, 40),
                Mbconv3(176, 176, 3, 1, 0.0736842105263158, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.07719298245614035, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.08070175438596493, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.08421052631578949, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.08771929824561403, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.0912280701754386, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.09473684210526316, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.09824561403508773, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.10175438596491229, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.10526315789473684, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.10877192982456141, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.11228070175438597, 1056, 44, residual=True),
                Mbconv3(176, 176, 3, 1, 0.11578947368421054, 1056, 44, residual=True),
            ),
            nn.Sequential(
                Mbconv3(176, 304, 3, 2, 0.1192982456140351, 1056, 44),
                Mbconv3(304, 304, 3, 1, 0.12280701754385964, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.12631578947368421, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.1298245614035088, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.13333333333333333, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.1368421052631579, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.14035087719298245, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.14385964912280705, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.1473684210526316, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.15087719298245614, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.1543859649122807, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.15789473684210525, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.16140350877192985, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.1649122807017544, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.16842105263157897, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.17192982456140352, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.17543859649122806, 1824, 76, residual=True),
                Mbconv3(304, 304, 3, 1, 0.17894736842105266, 1824, 76, residual=True),
            ),
            nn.Sequential(
                Mbconv3(304, 512, 3, 1, 0.1824561403508772, 1824, 76),
                Mbconv3(512, 512, 3, 1, 0.18596491228070178, 3072, 128, residual=True),
                Mbconv3(512, 512, 3, 1, 0.18947368421052632, 3072, 128, residual=True),
                Mbconv3(512, 512, 3, 1, 0.19298245614035087, 3072, 128, residual=True),
                Mbconv3(512, 512, 3, 1, 0.19649122807017547, 3072, 128, residual=True),
            ),
            ConvBnAct(512, 1280),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetV2M(nn.Module):
    """The efficientnet_v2_m network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.3, classes: int = 1000) -> None:
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


def build(dropout: float = 0.3, classes: int = 1000) -> nn.Module:
    """The efficientnet_v2_m network, with freshly initialised weights."""
    return EfficientnetV2M(dropout=dropout, classes=classes)
