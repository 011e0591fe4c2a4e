"""The operations of the IR: one frozen dataclass per op, with its argument types, shape rule and cost.

Adding an op means adding a class here (its fields are its .cnn arguments, in positional order after
`kind`) and one entry per backend. The grammar needs no change: every layer is a call.

Arguments are checked twice over the same declarations: `make` checks a .cnn call's values against the
field types (and expands the language's shorthands: `3` for (3, 3), `valid`, `swish`), and pydantic checks
an IR read from JSON (`Network.from_json`). Rules between arguments live in `__post_init__`, which both
run. The ops are plain dataclasses so that `cnndsl check` never pays for building pydantic validators.

Shapes are tuples: (C, H, W) for feature maps, (N,) after flatten/dense. A spatial size left open
(`input(3, ?, ?)`) is carried as a symbolic string ("H", "H//2", ...), so that two paths that compute
the same size compare equal, until a global or adaptive pool fixes it.
"""

import dataclasses
import functools
import math
import operator
import re
import types
from typing import Annotated, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from .util import Frozen, frozen_dataclass

Dim = int | str  # a size, or a symbolic expression of an open input size

# What a backend may be asked to build (E406), checked where every shape and cost is computed
# (`infer_and_cost`, `add_weights`), by the compiler and for an IR read from JSON alike. The largest layers of
# real CNNs are far below: VGG-16's fc6 has 102,760,448 weights, its 11×11 kernels are AlexNet's.
MAX_KERNEL = 1 << 20  # elements of one kernel window, h × w (1024 × 1024): a fixed one is built as data
MAX_LAYER = 1 << 30  # weights and buffers of one layer (4 GiB as float32): dense units × inputs and the like
MAX_WEIGHTS = 1 << 33  # weights and buffers of a whole network (32 GiB as float32)
Shape = tuple[Dim, ...]

# The activation functions, each usable as a layer (`relu()`) and as a layer's `activation=`. A new one is
# an entry here and one in each backend's ACTIVATIONS table (tests/test_registry.py holds them in step).
ACTIVATIONS = (
    "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "relu6", "hardswish", "hardsigmoid",
)  # fmt: skip
Activation = Literal[ACTIVATIONS]


class ShapeError(Exception):
    """A shape rule failed; the compiler adds the source position (of the argument `field` where the call
    gives it, else of the layer) and the block path."""

    def __init__(self, code: str, message: str, hint: str | None = None, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.field = field


class ArgumentError(ValueError):
    """An argument the op does not admit. `field` names it (None: a rule between arguments); `depth` is
    how far into the value the check got, so that of a union's failures the most specific is reported."""

    def __init__(self, message: str, field: str | None = None, depth: int = 0, literal: bool = False):
        super().__init__(message)
        self.message = message
        self.field = field
        self.depth = depth
        self.literal = literal


class MissingArgument(ArgumentError):
    """A required argument was not given."""


# pydantic's config for the IR's classes: an IR read from JSON is held to exact types, as `make` holds a
# call (no "3" for 3, no true for 1). A plain dict: defining it imports nothing.
# Every IR class validates strictly, and no IR number is infinite or NaN (JSON has neither: pydantic would write
# them as null, and the IR would not read back).
STRICT = {"strict": True, "allow_inf_nan": False}


# --- argument types ------------------------------------------------------------------------------


class Arg:
    """What an argument admits beyond its Python type: bounds, and the .cnn shorthand it accepts
    (`before` turns `3` into (3, 3); `expects` is what to say when the value has the wrong form).
    pydantic reads the bounds through `__get_pydantic_core_schema__`; shorthands are the language's
    and are expanded by `make` only (an IR holds the expanded values)."""

    __slots__ = ("bounds", "before", "expects")

    # pydantic's name for a bound -> what a value breaking it is told, and the test that it breaks it
    LIMITS = {
        "ge": ("must be at least", operator.lt), "gt": ("must be greater than", operator.le),
        "le": ("must be at most", operator.gt), "lt": ("must be less than", operator.ge),
    }  # fmt: skip

    def __init__(self, *, ge=None, gt=None, le=None, lt=None, before=None, expects=None):
        self.bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
        self.before, self.expects = before, expects

    def check_bounds(self, v, depth: int) -> None:
        for key, bound in self.bounds.items():
            words, broken = self.LIMITS[key]
            if broken(v, bound):
                raise ArgumentError(f"{words} {bound}", depth=depth + 1)

    def __get_pydantic_core_schema__(self, source, handler):
        return {**handler(source), **self.bounds}


def _pair(v):
    """3 -> (3, 3); (3, 5) stays."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (v, v)  # a float is checked as an integer: 3.0 passes, 3.5 is refused as a size
    return v


def _padding(v):
    """valid -> (0, 0); same stays "same"; 1 -> (1, 1); (1, 2) stays."""
    return (0, 0) if v == "valid" else _pair(v)


def _activation(v):
    if v in ("none", "linear"):
        return None
    return "silu" if v == "swish" else v


PAIR = "an integer or a pair such as (3, 5)"
PosInt = Annotated[int, Arg(ge=1)]
NonNegInt = Annotated[int, Arg(ge=0)]
Pair = Annotated[tuple[PosInt, PosInt], Arg(before=_pair, expects=PAIR)]
NonNegPair = Annotated[tuple[NonNegInt, NonNegInt], Arg(before=_pair, expects=PAIR)]
Padding = Annotated[
    Literal["same"] | NonNegPair, Arg(before=_padding, expects="same, valid, an integer or a pair such as (1, 2)")
]
OptActivation = Annotated[Activation | None, Arg(before=_activation)]


def _literal_words(choices) -> str:
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


_SCALARS = {
    # type: (admits, converts, what to say otherwise). The language's numbers: 3.0 is the integer 3 (sizes
    # computed with `/` are floats) and 3 the float 3.0; a bool is neither. (IR JSON is read strictly.)
    bool: (lambda v: isinstance(v, bool), bool, "expected true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer(), int,
          "expected an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), float, "expected a number"),
    str: (lambda v: isinstance(v, str), str, "expected a name"),
}  # fmt: skip


@functools.cache
def checker(tp):
    """A function `(value, depth) -> value` that returns `value` as type `tp` admits it (tuples, Literal,
    unions, Annotated with `Arg`) or raises ArgumentError; built once per type, since every layer of a
    network is checked."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        arg = next((m for m in meta if isinstance(m, Arg)), None) or Arg()
        inner, before, expects, bounded = checker(base), arg.before, arg.expects, bool(arg.bounds)

        def check_annotated(value, depth):
            if before is not None:
                value = before(value)
            try:
                value = inner(value, depth)
            except ArgumentError as e:
                if expects and e.depth == depth and not e.literal:  # the value has the wrong form
                    raise ArgumentError(f"expected {expects}", depth=depth) from None
                raise
            if bounded:
                arg.check_bounds(value, depth)
            return value

        return check_annotated
    if origin in (Union, types.UnionType):
        members = [checker(m) for m in get_args(tp)]

        def check_union(value, depth):
            errors = []
            for member in members:
                try:
                    return member(value, depth)
                except ArgumentError as e:
                    errors.append(e)
            # the branch that got furthest: for padding=(1, -1) "must be at least 0", not "expected 'same'"
            raise max(errors, key=lambda e: (not e.literal, e.depth))

        return check_union
    if origin is Literal or tp is type(None):
        choices = get_args(tp) if origin is Literal else (None,)
        message = "expected " + (_literal_words(choices) if origin is Literal else "none")

        def check_literal(value, depth):
            if (value is None or isinstance(value, str)) and value in choices:
                return value
            raise ArgumentError(message, depth=depth, literal=True)

        return check_literal
    if origin is tuple:
        args = get_args(tp)
        variadic = len(args) == 2 and args[1] is Ellipsis
        items = [checker(t) for t in args[: 1 if variadic else None]]

        def check_tuple(value, depth):
            if isinstance(value, list):
                value = tuple(value)
            if not isinstance(value, tuple):
                raise ArgumentError("expected a tuple", depth=depth)
            if not variadic and len(items) != len(value):
                raise ArgumentError(f"expected {len(items)} values, got {len(value)}", depth=depth)
            return tuple(check(v, depth + 1) for v, check in zip(value, items * len(value) if variadic else items))

        return check_tuple
    admits, convert, message = _SCALARS[tp]

    def check_scalar(value, depth):
        if admits(value):
            return convert(value)
        raise ArgumentError(message, depth=depth)

    return check_scalar


@functools.cache
def _fields(cls) -> tuple[dict, tuple[str, ...]]:
    """Each field's checker, and the fields without a default."""
    hints = get_type_hints(cls, include_extras=True)
    fields = dataclasses.fields(cls)
    required = tuple(f.name for f in fields if f.default is f.default_factory is dataclasses.MISSING)
    return {f.name: checker(hints[f.name]) for f in fields}, required


def make(cls: type["Op"], values: dict) -> "Op":
    """An op from the values of a .cnn call, each checked against its field's type; ArgumentError if one
    is not admitted, missing, or breaks a rule between arguments."""
    checkers, required = _fields(cls)
    checked = {}
    for name, value in values.items():
        try:
            checked[name] = checkers[name](value, 0)
        except ArgumentError as e:
            e.field = name
            raise
    for name in required:
        if name not in checked:
            raise MissingArgument(f"{name} is required", field=name)
    return cls(**checked)


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
    import hashlib  # rarely needed: not worth its import time on every `cnndsl check`

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
    """`64×56×56`; an open size that is an expression in parentheses: `16×((H-3)//2+1)×((W-3)//2+1)`."""
    return "×".join(str(d) if isinstance(d, int) else _atom(d) for d in shape)


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


def _check_positive(op: str, shape: Shape, inp: Shape, hint: str, field: str) -> Shape:
    for d in shape[1:]:
        if isinstance(d, int) and d < 1:
            raise ShapeError("E301", f"{op} on {shape_str(inp)} gives an empty output (size {d})", hint, field)
    return shape


# --- the ops ------------------------------------------------------------------------------------

# kind -> op class: the one list of ops. Everything else that lists ops (pydantic's union, the layers a
# .cnn call may name, the merges) is derived from it, and every consumer of the IR dispatches on its keys.
REGISTRY: dict[str, type["Op"]] = {}


def register(cls):
    """Class decorator (outermost, after @dataclass) that adds an op to REGISTRY under its `kind`."""
    kind = cls.kind_of()
    assert kind not in REGISTRY, kind
    REGISTRY[kind] = cls
    return cls


# Every op class is a frozen dataclass whose generated methods Frozen supplies once: ~6 ms of start-up.
dataclass = frozen_dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Op(Frozen):
    """The base of every op: the shape rule and cost of an op that changes neither."""

    __pydantic_config__ = STRICT

    positional: ClassVar[tuple[str, ...]] = ()  # argument order in .cnn calls
    trainable: ClassVar[bool] = False  # has weights
    merge: ClassVar[bool] = False  # joins several tensors: `kind { branches }` and `kind(label, ...)`
    # .cnn layer name -> fixed attributes, for ops that more than one name calls (default: {kind: {}})
    layer_names: ClassVar[dict[str, dict] | None] = None

    @classmethod
    def kind_of(cls) -> str:
        return cls.__dataclass_fields__["kind"].default

    def infer(self, inputs: list[Shape]) -> Shape:
        """The output shape for these input shapes; raises ShapeError."""
        return inputs[0]

    def cost(self, inputs: list[Shape], out: Shape) -> tuple[int, int, int | None]:
        """(parameters, buffer elements, multiply-adds) for these shapes."""
        return 0, 0, 0

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        """A field typed `Op` holds any op, told apart by `kind` (pydantic's discriminated union)."""
        if cls is not Op:
            return handler(source)
        from pydantic_core import core_schema

        return core_schema.tagged_union_schema(
            {kind: handler.generate_schema(op) for kind, op in REGISTRY.items()}, discriminator="kind"
        )


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Input(Op):
    """The network's input: (C, H, W) or (N,); `?` leaves a spatial size open."""

    kind: Literal["input"] = "input"
    shape: tuple[PosInt | Literal["?"], ...]

    def __post_init__(self):
        if len(self.shape) not in (1, 3):
            raise ArgumentError("input takes (channels, height, width) or (features,)", "shape")
        if self.shape[0] == "?":
            raise ArgumentError("the number of channels cannot be left open", "shape")

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


@register
@dataclass(frozen=True, kw_only=True, slots=True)
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
    use_bias: bool | None = None  # None: True, or False for a fixed kernel
    activation: OptActivation = None
    # the width of weights=gaussian: below 0.05 (a single pixel whatever the kernel) the weights of an even
    # kernel underflow to 0; above 10^6 (a box) its square overflows
    sigma: Annotated[float, Arg(ge=0.05, le=1e6)] | None = None
    weights: Preset | Matrix | None = None  # a fixed kernel: a preset's name, or the matrix itself

    positional: ClassVar = ("filters", "kernel_size")
    trainable: ClassVar = True

    def __post_init__(self):
        w, sigma = self.weights, self.sigma
        if sigma is not None and w != "gaussian":
            raise ArgumentError("sigma goes with weights=gaussian only", "weights" if w is not None else None)
        if w is None:
            object.__setattr__(self, "use_bias", self.use_bias is not False)
            return
        if isinstance(w, str):  # box and gaussian take any size; the matrix is only built by a backend
            if w in PRESETS and self.kernel_size != (3, 3):
                kh, kw = self.kernel_size
                raise ArgumentError(f"the {w} filter is 3×3, not {kh}×{kw}", "weights")
        elif (len(w), {len(r) for r in w}) != (self.kernel_size[0], {self.kernel_size[1]}):
            kh, kw = self.kernel_size
            raise ArgumentError(f"must be a {kh}×{kw} matrix, as kernel_size", "weights")
        elif not all(math.isfinite(x) for r in w for x in r):
            raise ArgumentError("must be finite numbers", "weights")
        if self.use_bias:
            raise ArgumentError("a fixed filter has no bias: leave use_bias out")
        object.__setattr__(self, "use_bias", False)
        if w == "gaussian" and sigma is None:
            object.__setattr__(self, "sigma", 1.0)

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
                field="groups",
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
        hint = "the kernel is larger than the padded input; pad it or shrink the kernel"
        return _check_positive(f"conv {shape_str(self.kernel_size)}", out, x, hint, "kernel_size")

    def cost(self, inputs, out):
        cin = inputs[0][0]
        weights = self.filters * (cin // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        positions = _elements(out[1:])
        macs = None if positions is None else weights * positions
        if self.weights is not None:  # a fixed kernel is state, not a parameter
            return 0, weights, macs
        return weights + (self.filters if self.use_bias else 0), 0, macs


@register
@dataclass(frozen=True, kw_only=True, slots=True)
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
                field="groups",
            )
        for op, s in zip(self.output_padding, self.strides):
            if op >= s and op >= 1:
                raise ShapeError(
                    "E205",
                    f"conv_transpose: output_padding {shape_str(self.output_padding)} must be smaller than "
                    f"strides {shape_str(self.strides)}",
                    field="output_padding",
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
        hint = "the padding is larger than the output"
        return _check_positive("conv_transpose", (self.filters, *sizes), x, hint, "padding")

    def cost(self, inputs, out):
        cin = inputs[0][0]
        weights = cin * (self.filters // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        positions = _elements(inputs[0][1:])  # each input position scatters one kernel
        return weights + (self.filters if self.use_bias else 0), 0, None if positions is None else weights * positions


@dataclass(frozen=True, kw_only=True, slots=True)
class _Pool(Op):
    """The window and padding that max and average pooling share."""

    pool_size: Pair
    strides: Pair | None = None  # None before validation only: defaults to pool_size
    padding: Padding = (0, 0)
    ceil_mode: bool = False

    positional: ClassVar = ("pool_size", "strides")

    def __post_init__(self):
        if self.padding != "same" and any(2 * p > k for p, k in zip(self.padding, self.pool_size)):
            raise ArgumentError(f"must be at most half the pool size {shape_str(self.pool_size)}", "padding")
        if self.strides is None:
            object.__setattr__(self, "strides", self.pool_size)

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
        return _check_positive(self.kind, out, x, "the pool window is larger than the input", "pool_size")


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class MaxPool(_Pool):
    """Max pooling (padding counts as −∞, as in PyTorch)."""

    kind: Literal["maxpool"] = "maxpool"


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class AvgPool(_Pool):
    """Average pooling; `count_include_pad` as in PyTorch."""

    kind: Literal["avgpool"] = "avgpool"
    count_include_pad: bool = True


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class GlobalAvgPool(Op):
    """Average over all positions; keeps C×1×1 (as torch's AdaptiveAvgPool2d(1)); flatten() follows."""

    kind: Literal["global_avgpool"] = "global_avgpool"

    def infer(self, inputs):
        _spatial(inputs[0], self.kind)
        return (inputs[0][0], 1, 1)


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class GlobalMaxPool(GlobalAvgPool):
    """Max over all positions; keeps C×1×1."""

    kind: Literal["global_maxpool"] = "global_maxpool"


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class AdaptiveAvgPool(Op):
    """Average pooling to a fixed output size, as torchvision's AlexNet and VGG use before the classifier."""

    kind: Literal["adaptive_avgpool"] = "adaptive_avgpool"
    output_size: Pair

    positional: ClassVar = ("output_size",)

    def infer(self, inputs):
        _spatial(inputs[0], self.kind)
        return (inputs[0][0], *self.output_size)


@register
@dataclass(frozen=True, kw_only=True, slots=True)
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


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class BatchNorm(Op):
    """Batch normalisation over channels (torch's eps and momentum conventions)."""

    kind: Literal["batchnorm"] = "batchnorm"
    eps: Annotated[float, Arg(gt=0)] = 1e-5
    momentum: Annotated[float, Arg(ge=0, le=1)] = 0.1

    positional: ClassVar = ()
    trainable: ClassVar = True

    def cost(self, inputs, out):
        c = inputs[0][0]
        return 2 * c, 2 * c, 0


@register
@dataclass(frozen=True, kw_only=True, slots=True)
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


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Dropout(Op):
    """Dropout at `rate` while training."""

    kind: Literal["dropout"] = "dropout"
    rate: Annotated[float, Arg(ge=0, lt=1)] = 0.5

    positional: ClassVar = ("rate",)


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Flatten(Op):
    """A feature map to a vector, in C, H, W order (as torch.flatten)."""

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


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Dense(Op):
    """Fully connected layer on a vector; on a map held channels-last (`channels_last()`), on the channels at
    each position, as PyTorch's Linear acts on the last axis: C×H×W → units×H×W, a 1×1 convolution's
    arithmetic with a units×C weight. `layout` refuses it on a map held channels-first."""

    kind: Literal["dense"] = "dense"
    units: PosInt
    use_bias: bool = True
    activation: OptActivation = None

    positional: ClassVar = ("units",)
    trainable: ClassVar = True

    def infer(self, inputs):
        return (self.units, *inputs[0][1:])

    def cost(self, inputs, out):
        weights = inputs[0][0] * self.units
        positions = _elements(out[1:])
        return weights + (self.units if self.use_bias else 0), 0, None if positions is None else weights * positions


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Act(Op):
    """An activation function as a layer of its own: relu(), leaky_relu(0.2), softmax() ..."""

    kind: Literal["activation"] = "activation"
    function: Activation
    alpha: float | None = None  # the slope of leaky_relu, the scale of elu; None for the others

    positional: ClassVar = ("alpha",)
    layer_names: ClassVar = {**{f: {"function": f} for f in ACTIVATIONS}, "swish": {"function": "silu"}}

    def __post_init__(self):
        defaults = {"leaky_relu": 0.01, "elu": 1.0}
        if self.function not in defaults:
            if self.alpha is not None:
                raise ArgumentError(f"{self.function} takes no alpha (only leaky_relu and elu have one)", "alpha")
        elif self.alpha is None:
            object.__setattr__(self, "alpha", defaults[self.function])


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Concat(Op):
    """Concatenation on channels; spatial sizes must match."""

    kind: Literal["concat"] = "concat"

    merge: ClassVar = True

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


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Add(Op):
    """Element-wise sum; shapes must match."""

    kind: Literal["add"] = "add"

    merge: ClassVar = True

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


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Multiply(Op):
    """Element-wise product with broadcasting: a C×1×1 gate scales a C×H×W map (squeeze-excitation), as
    PyTorch's `*` does. Each size must be equal or 1 in one of the inputs."""

    kind: Literal["multiply"] = "multiply"

    merge: ClassVar = True

    def infer(self, inputs):
        out = list(inputs[0])
        for other in inputs[1:]:
            if len(other) != len(out):
                raise ShapeError(
                    "E300", f"multiply: {shape_str(tuple(out))} and {shape_str(other)} differ in rank",
                    "multiply broadcasts sizes of 1: a C×1×1 gate times a C×H×W map",
                )  # fmt: skip
            for i, (a, b) in enumerate(zip(out, other)):
                if a == 1:
                    out[i] = b
                elif b != 1 and a != b and (isinstance(a, int) and isinstance(b, int)):
                    raise ShapeError(
                        "E300", f"multiply: {shape_str(tuple(out))} and {shape_str(other)} differ",
                        "multiply broadcasts sizes of 1: every other size must be equal",
                    )  # fmt: skip
        return tuple(out)


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class Chunk(Op):
    """One of `chunks` equal groups of channels, the `index`-th (from 0): `torch.chunk(x, chunks, 1)[index]`.
    ShuffleNetV2 splits its input in two this way."""

    kind: Literal["chunk"] = "chunk"
    chunks: PosInt
    index: NonNegInt

    positional: ClassVar = ("chunks", "index")

    def __post_init__(self):
        if self.index >= self.chunks:
            raise ArgumentError(f"must be less than chunks ({self.chunks})", "index")

    def infer(self, inputs):
        (x,) = inputs
        if x[0] % self.chunks:
            raise ShapeError(
                "E302", f"chunk: {x[0]} channels do not split into {self.chunks} equal groups",
                "the number of channels must be a multiple of chunks", "chunks",
            )  # fmt: skip
        return (x[0] // self.chunks, *x[1:])


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle: channels seen as `groups` × C/groups, transposed, flattened again."""

    kind: Literal["channel_shuffle"] = "channel_shuffle"
    groups: PosInt = 2

    positional: ClassVar = ("groups",)

    def infer(self, inputs):
        (x,) = inputs
        _spatial(x, "channel_shuffle")
        if x[0] % self.groups:
            raise ShapeError(
                "E302", f"channel_shuffle: {x[0]} channels do not split into {self.groups} groups",
                "the number of channels must be a multiple of groups", "groups",
            )  # fmt: skip
        return x


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class StochasticDepth(Op):
    """Stochastic depth (Huang et al., 2016) on a residual branch: while training, drops the whole branch
    for a sample (mode `row`) or the batch (mode `batch`) with probability `p`, scaling the rest by 1/(1-p);
    the identity in inference. Put it last in a residual's main path, as torchvision does."""

    kind: Literal["stochastic_depth"] = "stochastic_depth"
    p: Annotated[float, Arg(ge=0, lt=1)]
    mode: Literal["row", "batch"] = "row"

    positional: ClassVar = ("p", "mode")


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class LayerNorm(Op):
    """Layer normalisation over channels (Ba et al., 2016): at each position, the C channels are brought to
    mean 0 and variance 1 (biased, plus eps), then scaled and shifted per channel by learned weights; on a
    vector, over its features. PyTorch's nn.LayerNorm(C) on a map held channels-last, torchvision's
    LayerNorm2d on one held channels-first: the same numbers either way."""

    kind: Literal["layernorm"] = "layernorm"
    eps: Annotated[float, Arg(gt=0)] = 1e-5

    positional: ClassVar = ()
    trainable: ClassVar = True

    def cost(self, inputs, out):
        return 2 * inputs[0][0], 0, 0


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class LayerScale(Op):
    """A learned scale per channel, initialised to `init` (CaiT's and ConvNeXt's layer scale): x · γ with γ
    of shape C×1×1 (C for a vector). γ is the layer itself, as torchvision's bare nn.Parameter: its
    state_dict key is the layer's name (`layer_scale`), without `.weight`."""

    kind: Literal["layer_scale"] = "layer_scale"
    init: float = 1e-6

    positional: ClassVar = ("init",)
    trainable: ClassVar = True

    def cost(self, inputs, out):
        return inputs[0][0], 0, 0


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelsLast(Op):
    """Holds a C×H×W map channels-last (N×H×W×C, PyTorch's `x.permute(0, 2, 3, 1)`) for the layers that act
    on each position's channels (`PER_POSITION`), as torchvision's ConvNeXt holds it around LayerNorm and
    Linear, which act on the last axis. Shapes stay written C×H×W; `channels_first()` ends it."""

    kind: Literal["channels_last"] = "channels_last"

    def infer(self, inputs):
        _spatial(inputs[0], self.kind)
        return inputs[0]


@register
@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelsFirst(ChannelsLast):
    """Ends `channels_last()`: the map is held channels-first again (`x.permute(0, 3, 1, 2)`)."""

    kind: Literal["channels_first"] = "channels_first"


# The ops that act on each position's channels alone, and so run on a map held channels-last as well as on one
# held channels-first (softmax, as a layer or a dense layer's activation, is left out: it is over dim=1 in
# PyTorch, which would then be a spatial axis).
PER_POSITION = frozenset({"layernorm", "dense", "activation", "dropout"})


def layout(op: Op, inputs: list[Shape], held_last: list[bool]) -> bool:
    """Whether the op's output is held channels-last, given its inputs' shapes and whether each is; ShapeError
    (E304) where the op cannot take its input so held. Every other rule is the op's `infer`."""
    if op.kind == "channels_last":
        if held_last[0]:
            raise ShapeError("E304", "channels_last: the map is held channels-last already")
        return True
    if op.kind == "channels_first":
        if not held_last[0]:
            raise ShapeError(
                "E304", "channels_first: the map is held channels-first already",
                "channels_first() ends what channels_last() began",
            )  # fmt: skip
        return False
    if any(held_last):
        functions = (getattr(op, "function", None), getattr(op, "activation", None))
        if op.kind in PER_POSITION and "softmax" not in functions:
            return True
        raise ShapeError(
            "E304", f"{op.kind} needs a map held channels-first, and this one is held channels-last",
            "add channels_first() before it: between channels_last() and channels_first() go only layers that act "
            "on each position's channels (layernorm, dense, activations, dropout)",
        )  # fmt: skip
    if op.kind == "dense" and len(inputs[0]) != 1:
        raise ShapeError(
            "E304", f"dense expects a vector, got {shape_str(inputs[0])}",
            "add flatten() before dense(); or, to act on the channels at each position, hold the map "
            "channels_last() first",
        )  # fmt: skip
    return False


def _mismatch(a: Shape, b: Shape) -> bool:
    """Two sizes differ for sure (symbolic sizes that are written differently may still agree)."""
    return any(isinstance(x, int) and isinstance(y, int) and x != y for x, y in zip(a, b))


OPS = tuple(REGISTRY.values())

# .cnn layer name -> (op class, fixed attributes). Activation layers are one op with a `function`.
LAYERS: dict[str, tuple[type[Op], dict]] = {
    name: (cls, fixed) for cls in OPS for name, fixed in (cls.layer_names or {cls.kind_of(): {}}).items()
}

MERGES = tuple(kind for kind, cls in REGISTRY.items() if cls.merge)


@functools.cache
def fields_of(cls: type[Op]) -> tuple[str, ...]:
    """The arguments a layer accepts, positional ones first (cached: asked once per layer compiled)."""
    names = [f.name for f in dataclasses.fields(cls) if f.name not in ("kind", "function")]
    return (*cls.positional, *(n for n in names if n not in cls.positional))


@functools.cache
def words_of(cls: type[Op], field_name: str) -> tuple[str, ...]:
    """The words (strings of Literal types) a field of an op admits, in declaration order."""
    hint = get_type_hints(cls, include_extras=True).get(field_name)
    found: list[str] = []

    def walk(tp):
        if get_origin(tp) is Literal:
            found.extend(a for a in get_args(tp) if isinstance(a, str))
        for a in get_args(tp):
            if not isinstance(a, (str, int, float, Arg)) and a is not Ellipsis:
                walk(a)

    if hint is not None:
        walk(hint)
    return tuple(dict.fromkeys(found))


def infer_and_cost(op: Op, inputs: list[Shape]) -> tuple[Shape, int, int, int | None]:
    """The output shape, parameters, buffer elements and multiply-adds of `op` on these inputs; ShapeError
    for a shape rule broken, or for a layer larger than a backend may build (E406)."""
    kernel = getattr(op, "kernel_size", None)
    if kernel is not None and kernel[0] * kernel[1] > MAX_KERNEL:
        raise ShapeError(
            "E406", f"{op.kind}: a {shape_str(kernel)} kernel has more than {MAX_KERNEL:,} elements",
            "real kernels are at most a few dozen pixels wide", field="kernel_size",
        )  # fmt: skip
    out = op.infer(inputs)
    params, buffers, macs = op.cost(inputs, out)
    if params + buffers > MAX_LAYER:
        raise ShapeError(
            "E406", f"{op.kind}: {params + buffers:,} weights are more than the {MAX_LAYER:,} a layer may have",
            f"on input {shape_str(inputs[0])}; a flatten before a dense layer on a large map is the usual cause",
        )  # fmt: skip
    return out, params, buffers, macs


def add_weights(total: int, params: int, buffers: int) -> int:
    """`total` plus one node's weights and buffers; ShapeError (E406) past what a network may have."""
    total += params + buffers
    if total > MAX_WEIGHTS:
        raise ShapeError(
            "E406", f"the network has more than {MAX_WEIGHTS:,} weights and buffers by this layer",
            "a network this large cannot be built in memory",
        )  # fmt: skip
    return total
