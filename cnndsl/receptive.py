"""Receptive fields of every node, per spatial axis, for any DAG.

After Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks" (Distill,
2019). For each node and axis we track three numbers, in input pixels:

- size: how many input pixels one output pixel sees;
- jump (effective stride): how far apart, in input pixels, two neighbouring output pixels look;
- padding (effective padding): how far before input pixel 0 the field of output pixel 0 starts.

The field of output pixel i covers input pixels [i·jump − padding, i·jump − padding + size − 1]. A layer
with kernel k (dilated: k' = d(k − 1) + 1), stride s and left padding p maps (r, j, P) to
(r + (k' − 1)·j, j·s, P + p·j). Upsampling has a fractional stride: its jump is j / s. Merges take the
largest field and are "misaligned" when their inputs' fields have different jumps or centres. After a
global pool, flatten or dense layer every output sees the whole input (size None).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from . import ops
from .dispatch import Dispatcher
from .ir import Network


@dataclass(frozen=True)
class Axis:
    size: Fraction | None  # None: the whole input
    jump: Fraction | None
    padding: Fraction | None  # None where it depends on an open input size
    aligned: bool = True

    def as_json(self) -> dict:
        def num(x):
            if x is None:
                return None
            return int(x) if x.denominator == 1 else str(x)

        return {"size": num(self.size), "jump": num(self.jump), "padding": num(self.padding), "aligned": self.aligned}


WHOLE = Axis(None, None, None)
ONE = Axis(Fraction(1), Fraction(1), Fraction(0))


def _window(a: Axis, k: int, s, p, d: int = 1) -> Axis:
    """A sliding window: kernel k, stride s (may be a Fraction), left padding p (None if unknown)."""
    if a.size is None:
        return WHOLE
    span = d * (k - 1) + 1
    padding = None if p is None or a.padding is None else a.padding + p * a.jump
    return Axis(a.size + (span - 1) * a.jump, a.jump * s, padding, a.aligned)


def _same_left_pad(size, k: int, s: int, d: int):
    """The `same` padding before the input, when it does not depend on an open size."""
    if isinstance(size, int):
        return ops.same_pads(size, k, s, d)[0]
    if s == 1:
        return (d * (k - 1)) // 2
    return None


def _transposed(a: Axis, k: int, s: int, p: int, d: int) -> Axis:
    """Output o gathers the inputs i with i·s + m·d − p = o: at most ceil(k'/s) of them, s to an input pixel."""
    if a.size is None:
        return WHOLE
    span = d * (k - 1) + 1
    reach = -(-span // s)  # inputs contributing to one output, at most
    first = -((span - 1 - p) // s)  # the first input feeding output 0: ceil((p - (k' - 1)) / s)
    padding = None if a.padding is None else a.padding - first * a.jump
    return Axis(a.size + (reach - 1) * a.jump, a.jump / s, padding, a.aligned)


class _Field(Dispatcher):
    """One axis of a node's receptive field from its inputs' (`a`: the first input's), per op kind. Each
    handler gets the node, the inputs' fields on this axis, the first input's size on it, and the axis."""

    WHAT = "receptive fields"

    def input(self, node, fields, size, axis):
        return ONE

    def _whole(self, node, fields, size, axis):
        return WHOLE

    def _pixelwise(self, node, fields, size, axis):
        return fields[0]

    def dense(self, node, fields, size, axis):  # on a map (held channels-last): each position's channels
        return WHOLE if len(node.shape) == 1 else fields[0]

    def _merge(self, node, fields, size, axis):
        # A gate computed over the whole input (squeeze-excitation) widens the field to the whole input.
        if any(f.size is None for f in fields):
            return WHOLE
        widest = max(fields, key=lambda f: f.size)
        centres = {None if f.padding is None else f.size / 2 - f.padding for f in fields}
        aligned = all(f.aligned for f in fields) and len({f.jump for f in fields}) == 1 and len(centres) == 1
        return Axis(widest.size, widest.jump, widest.padding, aligned)

    TRANSFORMS = {
        **dict.fromkeys(("global_avgpool", "global_maxpool", "flatten"), _whole),
        # position by position (a channel shuffle or chunk moves channels, not pixels; a layout, nothing)
        **dict.fromkeys(("batchnorm", "lrn", "dropout", "activation", "layernorm", "layer_scale"), _pixelwise),
        **dict.fromkeys(
            ("chunk", "channel_shuffle", "stochastic_depth", "channels_last", "channels_first"), _pixelwise
        ),
        **dict.fromkeys(ops.MERGES, _merge),
    }

    def conv(self, node, fields, size, axis):
        op = node.op
        k, s, d = op.kernel_size[axis], op.strides[axis], op.dilation[axis]
        p = _same_left_pad(size, k, s, d) if op.padding == "same" else op.padding[axis]
        return _window(fields[0], k, s, p, d)

    def maxpool(self, node, fields, size, axis):
        op = node.op
        k, s = op.pool_size[axis], op.strides[axis]
        p = _same_left_pad(size, k, s, 1) if op.padding == "same" else op.padding[axis]
        return _window(fields[0], k, s, p)

    avgpool = maxpool

    def adaptive_avgpool(self, node, fields, size, axis):
        out = node.op.output_size[axis]
        if not isinstance(size, int):
            return WHOLE
        # torch's windows run from floor(i·n/m) to ceil((i+1)·n/m): the widest is ceil(n/m) (+1 if inexact)
        k = -(-size // out) + (0 if size % out == 0 else 1)
        return _window(fields[0], k, Fraction(size, out), 0)

    def conv_transpose(self, node, fields, size, axis):
        op = node.op
        k, s, d = op.kernel_size[axis], op.strides[axis], op.dilation[axis]
        p = (d * (k - 1) + 1 - s) // 2 if op.padding == "same" else op.padding[axis]
        return _transposed(fields[0], k, s, p, d)

    def upsample(self, node, fields, size, axis):
        op, a = node.op, fields[0]
        s = op.scale[axis]
        if op.mode != "bilinear":  # nearest and bed of nails: output o reads input o // s only
            return _transposed(a, s, s, 0, 1)
        if a.size is None:
            return WHOLE
        # Output o interpolates inputs floor(x) and floor(x) + 1: a field one input pixel wider, centred on x.
        if op.align_corners:  # x = o·(n − 1)/(m − 1)
            out = size * s if isinstance(size, int) else None
            jump = a.jump * Fraction(size - 1, out - 1) if out and out > 1 else None
            padding = None if a.padding is None else a.padding + a.jump / 2
            return Axis(a.size + a.jump, jump, padding, a.aligned)
        # half-pixel centres: x = (o + ½)/s − ½
        padding = None if a.padding is None else a.padding + a.jump * Fraction(2 * s - 1, 2 * s)
        return Axis(a.size + a.jump, a.jump / s, padding, a.aligned)


def receptive_fields(net: Network) -> list[tuple[Axis, Axis]]:
    """(height axis, width axis) for every node, in node order."""
    out: list[tuple[Axis, Axis]] = []
    rules = _Field()
    for n in net.nodes:
        rule = rules.handler(n)
        inputs = [out[i] for i in n.inputs]
        first = net.nodes[n.inputs[0]].shape if n.inputs else ()
        sizes = first[1:] if len(first) == 3 else (None, None)
        out.append(tuple(rule(n, [f[axis] for f in inputs], sizes[axis], axis) for axis in (0, 1)))
    return out


def show(value) -> str:
    if value is None:
        return "?"
    return str(value)


def describe(field: tuple[Axis, Axis]) -> tuple[str, str, str]:
    """('212', '32', '90') for a square field, ('3×5', …) otherwise, ('whole input', '', '') after a global op."""
    h, w = field
    if h.size is None or w.size is None:
        return "whole input", "", ""

    def pair(a, b):
        return show(a) if a == b else f"{show(a)}×{show(b)}"

    size = pair(h.size, w.size) + ("" if h.aligned and w.aligned else " (misaligned)")
    return size, pair(h.jump, w.jump), pair(h.padding, w.padding)
