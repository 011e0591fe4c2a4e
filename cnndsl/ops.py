"""The operations of the IR: one frozen pydantic model per op, with its shape rule and its cost.

Adding an op means adding a class here (its fields are its .cnn arguments, in positional order after
`kind`) and one entry per backend. The grammar needs no change: every layer is a call.

Shapes are tuples: (C, H, W) for feature maps, (N,) after flatten/dense. A spatial size left open
(`input(3, ?, ?)`) is carried as a symbolic string ("H", "H//2", ...), so that two paths that compute
the same size compare equal, until a global or adaptive pool fixes it.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Dim = int | str  # a size, or a symbolic expression of an open input size
Shape = tuple[Dim, ...]

ACTIVATIONS = (
    "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "relu6", "hardswish",
)  # fmt: skip
Activation = Literal[
    "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "relu6", "hardswish"
]  # fmt: skip


class ShapeError(Exception):
    """A shape rule failed; the compiler adds the source position and the block path."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


# --- argument normalisation -------------------------------------------------------------------


def _pair(v):
    """3 -> (3, 3); (3, 5) stays; lists from JSON become tuples."""
    if isinstance(v, bool):
        return v  # let validation refuse it
    if isinstance(v, (int, float)):
        return (v, v)  # a float is checked as an integer: 3.0 passes, 3.5 is refused as a size
    if isinstance(v, list):
        return tuple(v)
    return v


def _padding(v):
    """valid -> (0, 0); same stays "same"; 1 -> (1, 1); (1, 2) stays."""
    if v == "valid":
        return (0, 0)
    return _pair(v)


def _activation(v):
    if v in ("none", "linear"):
        return None
    if v == "swish":
        return "silu"
    return v


PosInt = Annotated[int, Field(ge=1, strict=False)]
NonNegInt = Annotated[int, Field(ge=0)]
Pair = Annotated[tuple[PosInt, PosInt], BeforeValidator(_pair)]
NonNegPair = Annotated[tuple[NonNegInt, NonNegInt], BeforeValidator(_pair)]
Padding = Annotated[Literal["same"] | tuple[NonNegInt, NonNegInt], BeforeValidator(_padding)]
OptActivation = Annotated[Activation | None, BeforeValidator(_activation)]


# --- symbolic sizes -------------------------------------------------------------------------------

_OFFSET = re.compile(r"^(.*?)([+-]\d+)?$")


def _sym_add(x: str, k: int) -> str:
    base, off = _OFFSET.match(x).groups()
    total = (int(off) if off else 0) + k
    return base if total == 0 else f"{base}{total:+d}"


def _atom(x: str) -> str:
    return x if re.fullmatch(r"\w+", x) else f"({x})"


def window_out(size: Dim, k: int, s: int, pad_total: int, d: int = 1, ceil: bool = False) -> Dim:
    """Output size of a sliding window: floor((in + pad - d(k-1) - 1) / s) + 1 (ceil with ceil_mode)."""
    span = d * (k - 1) + 1
    if isinstance(size, int):
        n = size + pad_total - span
        if n < 0:
            return n  # the caller reports it
        out = (-(-n // s) if ceil else n // s) + 1
        if ceil and (out - 1) * s >= size + pad_total // 2:
            out -= 1  # PyTorch's ceil_mode: the last window must start inside the input or the left padding
        return out
    if s == 1:
        return _sym_add(size, pad_total - span + 1)
    inner = _sym_add(size, pad_total - span + (s - 1 if ceil else 0))
    out = f"{_atom(inner)}//{s}+1"
    if ceil and pad_total // 2 + s > span:  # the last-window rule above can apply: spell it out
        out = f"{out}-(({_atom(inner)}//{s})*{s}>={_atom(size)}+{pad_total // 2})"
    return _bounded(out)


MAX_SYMBOL = 200


def _bounded(expr: str) -> str:
    """A symbolic size longer than MAX_SYMBOL characters becomes a name standing for it, so that sizes
    stay small however many layers follow (each ceil-mode pool would otherwise repeat its input twice)."""
    if len(expr) <= MAX_SYMBOL:
        return expr
    return "S" + hashlib.sha1(expr.encode()).hexdigest()[:8]


def same_out(size: Dim, s: int) -> Dim:
    """`same` padding: ceil(in / stride)."""
    if isinstance(size, int):
        return -(-size // s)
    return size if s == 1 else _bounded(f"ceil({_atom(size)}/{s})")


def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's split of `same` padding: the odd pixel goes after (bottom/right)."""
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _scale(size: Dim, f: int) -> Dim:
    if isinstance(size, int):
        return size * f
    return size if f == 1 else f"{f}*{_atom(size)}"


def shape_str(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def _elements(shape: Shape) -> int | None:
    n = 1
    for d in shape:
        if not isinstance(d, int):
            return None
        n *= d
    return n


def _spatial(shape: Shape, op: str) -> tuple[Dim, Dim]:
    if len(shape) != 3:
        raise ShapeError(
            "E304",
            f"{op} expects a C×H×W feature map, got {shape_str(shape)}",
            "flatten() turns a feature map into a vector; a vector cannot go back through a 2-D layer",
        )
    return shape[1], shape[2]


def _check_positive(op: str, shape: Shape, inp: Shape, hint: str) -> Shape:
    for d in shape[1:]:
        if isinstance(d, int) and d < 1:
            raise ShapeError("E301", f"{op} on {shape_str(inp)} gives an empty output (size {d})", hint)
    return shape


# --- the ops ------------------------------------------------------------------------------------


class Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    positional: ClassVar[tuple[str, ...]] = ()  # argument order in .cnn calls
    trainable: ClassVar[bool] = False  # has weights

    def infer(self, inputs: list[Shape]) -> Shape:
        """The output shape for these input shapes; raises ShapeError."""
        return inputs[0]

    def cost(self, inputs: list[Shape], out: Shape) -> tuple[int, int, int | None]:
        """(parameters, buffer elements, multiply-adds) for these shapes."""
        return 0, 0, 0


class Input(Op):
    kind: Literal["input"] = "input"
    shape: tuple[PosInt | Literal["?"], ...]

    @field_validator("shape")
    @classmethod
    def _rank(cls, v):
        if len(v) not in (1, 3):
            raise ValueError("input takes (channels, height, width) or (features,)")
        if v[0] == "?":
            raise ValueError("the number of channels cannot be left open")
        return v

    def infer(self, inputs):
        return tuple(("C", "H", "W")[i] if d == "?" else d for i, d in enumerate(self.shape))


# The fixed filters of image processing, 3×3 (box and gaussian take any size): "what if we learn them instead?"
PRESETS = {
    "sharpen": ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
    "edge_enhance": ((-0.5, -0.5, -0.5), (-0.5, 5, -0.5), (-0.5, -0.5, -0.5)),  # PIL's EDGE_ENHANCE
    "laplacian": ((0, 1, 0), (1, -4, 1), (0, 1, 0)),
    "sobel_x": ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)),
    "sobel_y": ((-1, -2, -1), (0, 0, 0), (1, 2, 1)),
}
Preset = Literal["box", "gaussian", "sharpen", "edge_enhance", "laplacian", "sobel_x", "sobel_y"]


def preset_kernel(name: str, size: tuple[int, int], sigma: float) -> tuple[tuple[float, ...], ...]:
    """The matrix of a named filter: box and gaussian are normalised to sum 1."""
    h, w = size
    if name == "box":
        return tuple(tuple(1 / (h * w) for _ in range(w)) for _ in range(h))
    if name == "gaussian":
        gy = [math.exp(-((i - (h - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(h)]
        gx = [math.exp(-((j - (w - 1) / 2) ** 2) / (2 * sigma**2)) for j in range(w)]
        total = sum(gy) * sum(gx)
        return tuple(tuple(a * b / total for b in gx) for a in gy)
    if size != (3, 3):
        raise ValueError(f"the {name} filter is 3×3, not {h}×{w}")
    return tuple(tuple(float(v) for v in row) for row in PRESETS[name])


Matrix = tuple[tuple[float, ...], ...]


class Conv(Op):
    """2-D convolution with Keras Conv2D's hyperparameters. With `weights` its kernel is fixed and not trained:
    the same 2-D matrix (a preset or one written out) for every output and input channel of each group."""

    kind: Literal["conv"] = "conv"
    filters: PosInt
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Padding = (0, 0)
    dilation: Pair = (1, 1)
    groups: PosInt = 1
    use_bias: bool = True
    activation: OptActivation = None
    sigma: Annotated[float, Field(gt=0)] | None = None  # the width of weights=gaussian
    weights: Preset | Matrix | None = None  # a fixed kernel: a preset's name, or the matrix itself

    positional: ClassVar = ("filters", "kernel_size")
    trainable: ClassVar = True

    @field_validator("weights")
    @classmethod
    def _fixed_kernel(cls, v, info: ValidationInfo):
        size = info.data.get("kernel_size")
        if v is None or size is None:
            return v
        sigma = info.data.get("sigma")
        if sigma is not None and v != "gaussian":
            raise ValueError("sigma goes with weights=gaussian only")
        if isinstance(v, str):
            preset_kernel(v, size, sigma or 1.0)  # raises for a 3×3 preset of another size
            return v
        if (len(v), {len(r) for r in v}) != (size[0], {size[1]}):
            raise ValueError(f"must be a {size[0]}×{size[1]} matrix, as kernel_size")
        if not all(math.isfinite(x) for r in v for x in r):
            raise ValueError("must be finite numbers")
        return v

    @model_validator(mode="after")
    def _no_bias(self):
        if self.weights is None:
            if self.sigma is not None:
                raise ValueError("sigma goes with weights=gaussian only")
            return self
        if self.use_bias and "use_bias" in self.model_fields_set:
            raise ValueError("a fixed filter has no bias: leave use_bias out")
        object.__setattr__(self, "use_bias", False)
        if self.weights == "gaussian" and self.sigma is None:
            object.__setattr__(self, "sigma", 1.0)
        return self

    def fixed_kernel(self) -> Matrix | None:
        """The matrix of a fixed filter (the same for every output and input channel), or None."""
        if isinstance(self.weights, str):
            return preset_kernel(self.weights, self.kernel_size, self.sigma or 1.0)
        return self.weights

    def pads(self, shape: Shape) -> tuple[int, int, int, int] | None:
        """(top, bottom, left, right), or None for `same` on an open size."""
        if self.padding != "same":
            ph, pw = self.padding
            return ph, ph, pw, pw
        h, w = shape[1], shape[2]
        if not (isinstance(h, int) and isinstance(w, int)):
            return None
        t, b = same_pads(h, self.kernel_size[0], self.strides[0], self.dilation[0])
        le, r = same_pads(w, self.kernel_size[1], self.strides[1], self.dilation[1])
        return t, b, le, r

    def infer(self, inputs):
        (x,) = inputs
        h, w = _spatial(x, "conv")
        if x[0] % self.groups or self.filters % self.groups:
            raise ShapeError(
                "E302",
                f"conv with groups={self.groups} needs input channels ({x[0]}) and filters ({self.filters}) "
                f"divisible by {self.groups}",
            )
        if self.padding == "same":
            out = (self.filters, same_out(h, self.strides[0]), same_out(w, self.strides[1]))
        else:
            ph, pw = self.padding
            out = (
                self.filters,
                window_out(h, self.kernel_size[0], self.strides[0], 2 * ph, self.dilation[0]),
                window_out(w, self.kernel_size[1], self.strides[1], 2 * pw, self.dilation[1]),
            )
        k = "×".join(map(str, self.kernel_size))
        hint = "the kernel is larger than the padded input; pad it or shrink the kernel"
        return _check_positive(f"conv {k}", out, x, hint)

    def cost(self, inputs, out):
        cin = inputs[0][0]
        weights = self.filters * (cin // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        positions = _elements(out[1:])
        macs = None if positions is None else weights * positions
        if self.weights is not None:  # a fixed kernel is state, not a parameter
            return 0, weights, macs
        return weights + (self.filters if self.use_bias else 0), 0, macs


class ConvTranspose(Op):
    """Transposed convolution: learned upsampling. `same` gives in × strides, as in Keras."""

    kind: Literal["conv_transpose"] = "conv_transpose"
    filters: PosInt
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Padding = (0, 0)
    output_padding: NonNegPair = (0, 0)
    dilation: Pair = (1, 1)
    groups: PosInt = 1
    use_bias: bool = True
    activation: OptActivation = None

    positional: ClassVar = ("filters", "kernel_size")
    trainable: ClassVar = True

    def infer(self, inputs):
        (x,) = inputs
        h, w = _spatial(x, "conv_transpose")
        if x[0] % self.groups or self.filters % self.groups:
            raise ShapeError(
                "E302",
                f"conv_transpose with groups={self.groups} needs input channels ({x[0]}) and filters "
                f"({self.filters}) divisible by {self.groups}",
            )
        for op, s in zip(self.output_padding, self.strides):
            if op >= s and op >= 1:
                raise ShapeError(
                    "E205",
                    f"conv_transpose: output_padding {shape_str(self.output_padding)} must be smaller than "
                    f"strides {shape_str(self.strides)}",
                )
        if self.padding == "same":
            return (self.filters, _scale(h, self.strides[0]), _scale(w, self.strides[1]))
        sizes = []
        for size, k, s, p, op, d in zip(
            (h, w), self.kernel_size, self.strides, self.padding, self.output_padding, self.dilation
        ):
            extra = d * (k - 1) + op + 1 - 2 * p
            if isinstance(size, int):
                sizes.append((size - 1) * s + extra)
            else:
                sizes.append(_sym_add(_scale(_sym_add(size, -1), s), extra))
        return _check_positive("conv_transpose", (self.filters, *sizes), x, "the padding is larger than the output")

    def cost(self, inputs, out):
        cin = inputs[0][0]
        weights = cin * (self.filters // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        positions = _elements(inputs[0][1:])  # each input position scatters one kernel
        return weights + (self.filters if self.use_bias else 0), 0, None if positions is None else weights * positions


class _Pool(Op):
    pool_size: Pair
    strides: Pair | None = None  # None before validation only: defaults to pool_size
    padding: Padding = (0, 0)
    ceil_mode: bool = False

    positional: ClassVar = ("pool_size", "strides")

    @field_validator("padding")
    @classmethod
    def _half(cls, v, info: ValidationInfo):
        size = info.data.get("pool_size")
        if size and v != "same" and any(2 * p > k for p, k in zip(v, size)):
            raise ValueError(f"must be at most half the pool size {shape_str(size)}")
        return v

    @model_validator(mode="after")
    def _default_strides(self):
        if self.strides is None:
            object.__setattr__(self, "strides", self.pool_size)
        return self

    def infer(self, inputs):
        (x,) = inputs
        h, w = _spatial(x, self.kind)
        if self.padding == "same":
            return (x[0], same_out(h, self.strides[0]), same_out(w, self.strides[1]))
        ph, pw = self.padding
        out = (
            x[0],
            window_out(h, self.pool_size[0], self.strides[0], 2 * ph, ceil=self.ceil_mode),
            window_out(w, self.pool_size[1], self.strides[1], 2 * pw, ceil=self.ceil_mode),
        )
        return _check_positive(self.kind, out, x, "the pool window is larger than the input")


class MaxPool(_Pool):
    kind: Literal["maxpool"] = "maxpool"


class AvgPool(_Pool):
    kind: Literal["avgpool"] = "avgpool"
    count_include_pad: bool = True


class GlobalAvgPool(Op):
    """Average over all positions; keeps C×1×1 (as torch's AdaptiveAvgPool2d(1)); flatten() follows."""

    kind: Literal["global_avgpool"] = "global_avgpool"

    def infer(self, inputs):
        _spatial(inputs[0], self.kind)
        return (inputs[0][0], 1, 1)


class GlobalMaxPool(GlobalAvgPool):
    kind: Literal["global_maxpool"] = "global_maxpool"


class AdaptiveAvgPool(Op):
    """Average pooling to a fixed output size, as torchvision's AlexNet and VGG use before the classifier."""

    kind: Literal["adaptive_avgpool"] = "adaptive_avgpool"
    output_size: Pair

    positional: ClassVar = ("output_size",)

    def infer(self, inputs):
        _spatial(inputs[0], self.kind)
        return (inputs[0][0], *self.output_size)


class Upsample(Op):
    """Upsampling by an integer factor: nearest neighbour, bilinear, or zeros ("bed of nails")."""

    kind: Literal["upsample"] = "upsample"
    scale: Pair = (2, 2)
    mode: Literal["nearest", "bilinear", "zeros"] = "nearest"
    align_corners: bool = False

    positional: ClassVar = ("scale",)

    def infer(self, inputs):
        (x,) = inputs
        h, w = _spatial(x, "upsample")
        return (x[0], _scale(h, self.scale[0]), _scale(w, self.scale[1]))


class BatchNorm(Op):
    """Batch normalisation over channels (torch's eps and momentum conventions)."""

    kind: Literal["batchnorm"] = "batchnorm"
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1

    positional: ClassVar = ()
    trainable: ClassVar = True

    def cost(self, inputs, out):
        c = inputs[0][0]
        return 2 * c, 2 * c, 0


class LocalResponseNorm(Op):
    """Local response normalisation across `size` channels (AlexNet, GoogLeNet); torch's formula:
    b = a / (k + alpha / size * sum(a²)) ** beta."""

    kind: Literal["lrn"] = "lrn"
    size: PosInt = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    positional: ClassVar = ("size",)

    def infer(self, inputs):
        _spatial(inputs[0], "lrn")
        return inputs[0]


class Dropout(Op):
    kind: Literal["dropout"] = "dropout"
    rate: Annotated[float, Field(ge=0, lt=1)] = 0.5

    positional: ClassVar = ("rate",)


class Flatten(Op):
    kind: Literal["flatten"] = "flatten"

    def infer(self, inputs):
        (x,) = inputs
        n = _elements(x)
        if n is None:
            raise ShapeError(
                "E303",
                f"flatten needs a fixed size, got {shape_str(x)}",
                "the input size is open: add global_avgpool() or adaptive_avgpool(N) before flatten()",
            )
        return (n,)


class Dense(Op):
    """Fully connected layer on a vector."""

    kind: Literal["dense"] = "dense"
    units: PosInt
    use_bias: bool = True
    activation: OptActivation = None

    positional: ClassVar = ("units",)
    trainable: ClassVar = True

    def infer(self, inputs):
        (x,) = inputs
        if len(x) != 1:
            raise ShapeError("E304", f"dense expects a vector, got {shape_str(x)}", "add flatten() before dense()")
        return (self.units,)

    def cost(self, inputs, out):
        weights = inputs[0][0] * self.units
        return weights + (self.units if self.use_bias else 0), 0, weights


class Act(Op):
    """An activation function as a layer of its own: relu(), leaky_relu(0.2), softmax() ..."""

    kind: Literal["activation"] = "activation"
    function: Activation
    alpha: float | None = None  # the slope of leaky_relu, the scale of elu; None for the others

    positional: ClassVar = ("alpha",)

    @field_validator("alpha")
    @classmethod
    def _takes_alpha(cls, v, info: ValidationInfo):
        if v is not None and info.data.get("function") not in ("leaky_relu", "elu"):
            raise ValueError(f"{info.data.get('function')} takes no alpha (only leaky_relu and elu have one)")
        return v

    @model_validator(mode="after")
    def _alpha(self):
        defaults = {"leaky_relu": 0.01, "elu": 1.0}
        if self.function in defaults and self.alpha is None:
            object.__setattr__(self, "alpha", defaults[self.function])
        return self


class Concat(Op):
    """Concatenation on channels; spatial sizes must match."""

    kind: Literal["concat"] = "concat"

    def infer(self, inputs):
        first = inputs[0]
        for other in inputs[1:]:
            if len(other) != len(first) or _mismatch(first[1:], other[1:]):
                raise ShapeError(
                    "E300",
                    f"concat: {shape_str(first)} and {shape_str(other)} differ in size",
                    "concat joins channels; the other sizes must be equal",
                )
        channels = sum(x[0] for x in inputs)
        return (channels, *first[1:])


class Add(Op):
    """Element-wise sum; shapes must match."""

    kind: Literal["add"] = "add"

    def infer(self, inputs):
        first = inputs[0]
        for other in inputs[1:]:
            if len(other) != len(first) or _mismatch(first, other):
                raise ShapeError(
                    "E300",
                    f"add: {shape_str(first)} and {shape_str(other)} differ",
                    "add sums element-wise: every input must have the same shape",
                )
        return first


def _mismatch(a: Shape, b: Shape) -> bool:
    """Two sizes differ for sure (symbolic sizes that are written differently may still agree)."""
    return any(isinstance(x, int) and isinstance(y, int) and x != y for x, y in zip(a, b))


AnyOp = Annotated[
    Input | Conv | ConvTranspose | MaxPool | AvgPool | GlobalAvgPool | GlobalMaxPool | AdaptiveAvgPool | Upsample
    | BatchNorm | LocalResponseNorm | Dropout | Flatten | Dense | Act | Concat | Add,
    Field(discriminator="kind"),
]

# .cnn layer name -> (op class, fixed attributes). Activation layers are one op with a `function`.
LAYERS: dict[str, tuple[type[Op], dict]] = {
    "input": (Input, {}),
    "conv": (Conv, {}),
    "conv_transpose": (ConvTranspose, {}),
    "maxpool": (MaxPool, {}),
    "avgpool": (AvgPool, {}),
    "global_avgpool": (GlobalAvgPool, {}),
    "global_maxpool": (GlobalMaxPool, {}),
    "adaptive_avgpool": (AdaptiveAvgPool, {}),
    "upsample": (Upsample, {}),
    "batchnorm": (BatchNorm, {}),
    "lrn": (LocalResponseNorm, {}),
    "dropout": (Dropout, {}),
    "flatten": (Flatten, {}),
    "dense": (Dense, {}),
    "concat": (Concat, {}),
    "add": (Add, {}),
    **{name: (Act, {"function": name}) for name in ACTIVATIONS},
    "swish": (Act, {"function": "silu"}),
}

MERGES = ("concat", "add")


@functools.cache
def fields_of(cls: type[Op]) -> tuple[str, ...]:
    """The arguments a layer accepts, positional ones first (cached: asked once per layer compiled)."""
    names = [n for n in cls.model_fields if n not in ("kind", "function")]
    return (*cls.positional, *(n for n in names if n not in cls.positional))


def infer_and_cost(op: Op, inputs: list[Shape]) -> tuple[Shape, int, int, int | None]:
    out = op.infer(inputs)
    params, buffers, macs = op.cost(inputs, out)
    return out, params, buffers, macs

