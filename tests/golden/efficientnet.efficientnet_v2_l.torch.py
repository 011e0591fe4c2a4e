"""The efficientnet_v2_l network, compiled by cnndsl from architectures/efficientnet.cnn.

Input: N x 3 x 224 x 224. Output: N x 1000. 118,515,272 parameters.
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
            ConvBnAct(in_channels, 32, kernel=3, stride=2),
            nn.Sequential(
                Mbconv(32, 32, 3, 1, 0),
                Mbconv(32, 32, 3, 1, 0.002531645569620253),
                Mbconv(32, 32, 3, 1, 0.005063291139240506),
                Mbconv(32, 32, 3, 1, 0.007594936708860761),
            ),
            nn.Sequential(
                Mbconv2(32, 64, 3, 2, 0.010126582278481013, 128),
                Mbconv2(64, 64, 3, 1, 0.012658227848101266, 256, residual=True),
                Mbconv2(64, 64, 3, 1, 0.015189873417721522, 256, residual=True),
                Mbconv2(64, 64, 3, 1, 0.017721518987341773, 256, residual=True),
                Mbconv2(64, 64, 3, 1, 0.020253164556962026, 256, residual=True),
                Mbconv2(64, 64, 3, 1, 0.02278481012658228, 256, residual=True),
                Mbconv2(64, 64, 3, 1, 0.02531645569620253, 256, residual=True),
            ),
            nn.Sequential(
                Mbconv2(64, 96, 3, 2, 0.027848101265822787, 256),
                Mbconv2(96, 96, 3, 1, 0.030379746835443044, 384, residual=True),
                Mbconv2(96, 96, 3, 1, 0.03291139240506329, 384, residual=True),
                Mbconv2(96, 96, 3, 1, 0.035443037974683546, 384, residual=True),
                Mbconv2(96, 96, 3, 1, 0.0379746835443038, 384, residual=True),
                Mbconv2(96, 96, 3, 1, 0.04050632911392405, 384, residual=True),
                Mbconv2(96, 96, 3, 1, 0.04303797468354431, 384, residual=True),
            ),
            nn.Sequential(
                Mbconv3(96, 192, 3, 2, 0.04556962025316456, 384, 24),
                Mbconv3(192, 192, 3, 1, 0.04810126582278482, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.05063291139240506, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.053164556962025315, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.055696202531645575, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.05822784810126583, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.06075949367088609, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.06329113924050633, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.06582278481012659, 768, 48, residual=True),
                Mbconv3(192, 192, 3, 1, 0.06835443037974684, 768, 48, residual=True),
            ),
            nn.Sequential(
                Mbconv3(192, 224, 3, 1, 0.07088607594936709, 1152, 48),
                Mbconv3(224, 224, 3, 1, 0.07341772151898734, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.0759493670886076, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.07848101265822785, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.0810126582278481, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.08354430379746836, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.08607594936708862, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.08860759493670886, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.09113924050632911, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.09367088607594937, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.09620253164556963, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.09873417721518989, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.10126582278481013, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.10379746835443039, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.10632911392405063, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.10886075949367088, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.11139240506329115, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.11392405063291139, 1344, 56, residual=True),
                Mbconv3(224, 224, 3, 1, 0.11645569620253166, 1344, 56, residual=True),
            ),
            nn.Sequential(
                Mbconv3(224, 384, 3, 2, 0.11898734177215191, 1344, 56),
                Mbconv3(384, 384, 3, 1, 0.12151898734177217, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.12405063291139241, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.12658227848101267, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.12911392405063293, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.13164556962025317, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.13417721518987344, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.13670886075949368, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.13924050632911392, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.14177215189873418, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.14430379746835442, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.1468354430379747, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.14936708860759496, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.1518987341772152, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.15443037974683546, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.1569620253164557, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.15949367088607597, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.1620253164556962, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.16455696202531644, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.1670886075949367, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.16962025316455698, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.17215189873417724, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.17468354430379748, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.17721518987341772, 2304, 96, residual=True),
                Mbconv3(384, 384, 3, 1, 0.179746835443038, 2304, 96, residual=True),
            ),
            nn.Sequential(
                Mbconv3(384, 640, 3, 1, 0.18227848101265823, 2304, 96),
                Mbconv3(640, 640, 3, 1, 0.1848101265822785, 3840, 160, residual=True),
                Mbconv3(640, 640, 3, 1, 0.18734177215189873, 3840, 160, residual=True),
                Mbconv3(640, 640, 3, 1, 0.189873417721519, 3840, 160, residual=True),
                Mbconv3(640, 640, 3, 1, 0.19240506329113927, 3840, 160, residual=True),
                Mbconv3(640, 640, 3, 1, 0.1949367088607595, 3840, 160, residual=True),
                Mbconv3(640, 640, 3, 1, 0.19746835443037977, 3840, 160, residual=True),
            ),
            ConvBnAct(640, 1280),
        )


class Classifier(nn.Sequential):
    """The `classifier` block of architectures/efficientnet.cnn: classifier(rate, classes)."""

    def __init__(self, in_channels: int, rate: float, classes: int) -> None:
        super().__init__(
            nn.Dropout(p=rate),
            nn.Linear(in_channels, classes),
        )


class EfficientnetV2L(nn.Module):
    """The efficientnet_v2_l network of architectures/efficientnet.cnn."""

    def __init__(self, dropout: float = 0.4, classes: int = 1000) -> None:
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


def build(dropout: float = 0.4, classes: int = 1000) -> nn.Module:
    """The efficientnet_v2_l network, with freshly initialised weights."""
    return EfficientnetV2L(dropout=dropout, classes=classes)
