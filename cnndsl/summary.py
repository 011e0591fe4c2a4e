"""Text and JSON summaries of a Network, in the manner of Keras' model.summary() and torchinfo."""

from __future__ import annotations

from . import ops
from .dispatch import Dispatcher
from .ir import Network, Node
from .util import block_call, without_gc


def _fmt(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _pair(p) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}×{p[1]}"


def _kernel(p) -> str:
    return f"{p[0]}×{p[1]}"


class Describe(Dispatcher):
    """A short label per op kind with its key hyperparameters: 'conv 3×3, 64, /2'."""

    WHAT = "the summary"

    def input(self, op):
        return "input"

    def conv(self, op):
        parts = [f"{op.kind} {_kernel(op.kernel_size)}", str(op.filters)]
        if op.strides != (1, 1):
            parts.append(("×" if op.kind == "conv_transpose" else "/") + _pair(op.strides))
        if op.dilation != (1, 1):
            parts.append(f"dilation {_pair(op.dilation)}")
        if op.groups != 1:
            parts.append(f"groups {op.groups}")
        if getattr(op, "weights", None) is not None:
            parts.append(f"fixed {op.weights}" if isinstance(op.weights, str) else "fixed")
        if op.activation:
            parts.append(op.activation)
        return ", ".join(parts)

    conv_transpose = conv

    def maxpool(self, op):
        text = f"{op.kind} {_kernel(op.pool_size)}"
        if op.strides != op.pool_size:
            text += f", /{_pair(op.strides)}"
        return text + (", ceil" if op.ceil_mode else "")

    avgpool = maxpool

    def adaptive_avgpool(self, op):
        return f"adaptive_avgpool → {_kernel(op.output_size)}"

    def upsample(self, op):
        return f"upsample ×{_pair(op.scale)}, {op.mode}"

    def dense(self, op):
        return f"dense {op.units}" + (f", {op.activation}" if op.activation else "")

    def dropout(self, op):
        return f"dropout {op.rate:g}"

    def lrn(self, op):
        return f"lrn {op.size}"

    def activation(self, op):
        return op.function if op.alpha is None else f"{op.function} {op.alpha:g}"

    def chunk(self, op):
        return f"chunk {op.index + 1} of {op.chunks}"

    def channel_shuffle(self, op):
        return f"channel_shuffle {op.groups}"

    def stochastic_depth(self, op):
        return f"stochastic_depth {op.p:g}, {op.mode}"

    def _kind(self, op):
        return op.kind

    TRANSFORMS = dict.fromkeys(("global_avgpool", "global_maxpool", "batchnorm", "flatten", *ops.MERGES), _kind)


_DESCRIBE = Describe()


def describe(op: ops.Op) -> str:
    """A short label with the op's key hyperparameters: 'conv 3×3, 64, /2'."""
    return _DESCRIBE.handler(op)(op)


def one_line(net: Network) -> str:
    """`resnet34: 3×224×224 → 1000, 21,797,672 params`; extra outputs follow the main one with their names:
    `googlenet: 3×224×224 → 1000 (+ aux1 1000, aux2 1000), 13,004,888 params`."""
    out = ops.shape_str(net.output_shape)
    if net.extra_outputs:
        out += " (+ " + ", ".join(
            f"{net.output_name(i)} {ops.shape_str(net.nodes[i].shape)}" for i in net.extra_outputs
        )
        out += ")"
    return f"{net.name}: {ops.shape_str(net.input_shape)} → {out}, {net.params:,} params"


def scope_totals(net: Network) -> dict[int, list[int | None]]:
    """Parameters and multiply-adds under each scope, nested ones included. A scope's id is larger than
    its parent's, so one backward pass adds each scope into its parent."""
    totals = {s.id: [0, 0] for s in net.scopes}
    for n in net.nodes:
        t = totals[n.scope]
        t[0] += n.params
        t[1] = None if t[1] is None or n.macs is None else t[1] + n.macs
    for s in reversed(net.scopes):
        if s.parent is not None:
            t, child = totals[s.parent], totals[s.id]
            t[0] += child[0]
            t[1] = None if t[1] is None or child[1] is None else t[1] + child[1]
    return totals


def _depths(net: Network) -> list[int]:
    """How deep each scope is nested (the network is 0); parents come before their children."""
    depths: list[int] = []
    for s in net.scopes:
        depths.append(0 if s.parent is None else depths[s.parent] + 1)
    return depths


def rows(net: Network, receptive_field: bool = False) -> list[tuple]:
    """(indent, name, op, output shape, params, macs[, rf, jump, padding]): block and sequence scopes as
    header rows before their first node, one level out from their contents."""
    totals = scope_totals(net)
    depths = _depths(net)
    fields = None
    if receptive_field:
        from .receptive import describe as describe_field  # imported here: `cnndsl check` needs none of it
        from .receptive import receptive_fields

        fields = receptive_fields(net)
    shown: set[int] = {0}
    out = []
    for n in net.nodes:
        chain = []
        sid = n.scope
        while sid is not None and sid not in shown:
            chain.append(sid)
            sid = net.scopes[sid].parent
        for sid in reversed(chain):
            shown.add(sid)
            s = net.scopes[sid]
            op = block_call(s) if s.kind == "block" else "sequence"
            shape = ops.shape_str(net.nodes[s.output].shape) if s.output is not None else ""
            params, macs = totals[sid]
            row = (depths[sid] - 1, s.name, op, shape, _fmt(params), _fmt(macs))
            out.append(row + (("", "", "") if fields else ()))
        row = (depths[n.scope], n.name, describe(n.op), ops.shape_str(n.shape), _fmt(n.params), _fmt(n.macs))
        out.append(row + (describe_field(fields[n.id]) if fields else ()))
    return out


def _si(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


@without_gc
def table(net: Network, receptive_field: bool = False) -> str:
    header = ("Layer", "Op", "Output shape", "Params", "MACs")
    if receptive_field:
        header += ("Receptive field", "Jump", "Padding")
    body = [("  " * r[0] + r[1], *r[2:]) for r in rows(net, receptive_field)]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    # names, ops and shapes to the left, numbers to the right; one format for every row
    layout = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths))

    def line(r):
        return layout.format(*r).rstrip()

    rule = "=" * len(line(header))
    out = [f'Network "{net.name}" ({net.source})', rule, line(header), rule.replace("=", "-")]
    out += [line(r) for r in body]
    out.append(rule)
    out += totals_lines(net)
    if receptive_field:
        out.append("Receptive field, jump (effective stride) and effective padding in input pixels, per axis.")
    return "\n".join(out)


def _buffers(net: Network) -> str:
    """The buffers, for the totals: batch norm's running statistics, fixed filters' kernels; not trained."""
    if not net.buffers:
        return "Buffers: 0"
    norms = any(n.op.kind == "batchnorm" for n in net.nodes)
    fixed = any(getattr(n.op, "weights", None) is not None for n in net.nodes)
    held = " and ".join(
        what for what, present in (("batch-norm running statistics", norms), ("fixed filters", fixed)) if present
    )
    return f"Buffers: {net.buffers:,} ({held}, not trained)"


def totals_lines(net: Network) -> list[str]:
    macs = net.macs
    act = net.activation_elements
    output = ops.shape_str(net.output_shape)
    for i in net.extra_outputs:
        output += f"    Output {net.output_name(i)}: {ops.shape_str(net.nodes[i].shape)}"
    lines = [
        f"Input: {ops.shape_str(net.input_shape)}    Output: {output}",
        f"Trainable params: {net.params:,}",
        _buffers(net),
    ]
    if macs is None:
        lines.append("Multiply-adds (MACs): ? (the input size is open)")
    else:
        lines.append(f"Multiply-adds (MACs): {macs:,} ({_si(macs)}; conv and dense weights × output positions)")
        lines.append(f"FLOPs: {2 * macs:,} ({_si(2 * macs)}; FLOPs = 2 × MACs)")
    if act is not None:
        lines.append(f"Activation memory: {act:,} values = {act * 4 / 2**20:.2f} MiB per sample (float32, forward)")
    lines.append(f"Weights memory: {(net.params + net.buffers) * 4 / 2**20:.2f} MiB (float32)")
    return lines


@without_gc
def to_dict(net: Network) -> dict:
    """The JSON form of `cnndsl summary --format json`."""
    from .receptive import receptive_fields

    return {
        "network": net.name,
        "source": net.source,
        "input": list(net.input_shape),
        "output": list(net.output_shape),
        "extra_outputs": {net.output_name(i): list(net.nodes[i].shape) for i in net.extra_outputs},
        "params": net.params,
        "buffers": net.buffers,
        "macs": net.macs,
        "flops": net.flops,
        "activation_elements": net.activation_elements,
        "layers": [_layer(net, n, f) for n, f in zip(net.nodes, receptive_fields(net))],
    }


def _layer(net: Network, n: Node, field) -> dict:
    blocks = [s.name for s in net.scope_path(n) if s.kind == "block"]
    return {
        "name": n.name,
        "op": n.op.kind,
        "description": describe(n.op),
        "output": list(n.shape),
        "params": n.params,
        "buffers": n.buffers,
        "macs": n.macs,
        "inputs": [net.nodes[i].name for i in n.inputs],
        "block": blocks[-1] if blocks else None,
        "receptive_field": {"height": field[0].as_json(), "width": field[1].as_json()},
        "line": n.span.line,
        "column": n.span.column,
    }
