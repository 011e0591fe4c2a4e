"""Text and JSON summaries of a Network, in the manner of Keras' model.summary() and torchinfo."""

from __future__ import annotations

from . import ops
from .dispatch import Dispatcher
from .ir import Network, Node
from .util import short_call, without_gc


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

    def layernorm(self, op):
        return f"layernorm, eps {op.eps:g}"

    def layer_scale(self, op):
        return f"layer_scale {op.init:g}"

    def _kind(self, op):
        return op.kind

    TRANSFORMS = dict.fromkeys(
        ("global_avgpool", "global_maxpool", "batchnorm", "flatten", "channels_last", "channels_first", *ops.MERGES),
        _kind,
    )


_DESCRIBE = Describe()


def describe(op: ops.Op) -> str:
    """A short label with the op's key hyperparameters: 'conv 3×3, 64, /2'."""
    return _DESCRIBE.handler(op)(op)


def one_line(net: Network) -> str:
    """`resnet34: 3×224×224 → 1000, 21,797,672 params` (str(net))."""
    return str(net)


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


def rows(net: Network, receptive_field: bool = False, depth: int | None = None) -> list[tuple]:
    """(indent, name, op, output shape, params, macs, connected to[, rf, jump, padding]): block and sequence
    scopes as header rows before their first node, one level out from their contents. depth: leave out the
    rows indented deeper than this (as torchinfo's depth); a scope's row already totals what it holds.
    "connected to" names a merge's inputs, as the rows shown call them."""
    totals = scope_totals(net)
    depths = _depths(net)
    fields = None
    if receptive_field:
        from .receptive import describe as describe_field  # imported here: `cnndsl check` needs none of it
        from .receptive import receptive_fields

        fields = receptive_fields(net)
    limit = INF if depth is None else depth
    # the row that shows each scope: itself, or the scope around it that the depth folds it into
    shown_as = [s.name for s in net.scopes]
    for s in net.scopes[1:]:
        if depths[s.id] - 1 > limit:
            shown_as[s.id] = shown_as[s.parent]
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
            if depths[sid] - 1 > limit:
                continue
            s = net.scopes[sid]
            op = short_call(s, net.blocks.get(s.block)) if s.kind == "block" else "sequence"
            shape = ops.shape_str(net.nodes[s.output].shape) if s.output is not None else ""
            params, macs = totals[sid]
            row = (depths[sid] - 1, s.name, op, shape, _fmt(params), _fmt(macs), "")
            out.append(row + (("", "", "") if fields else ()))
        if depths[n.scope] > limit:
            continue
        connected = ""
        if n.op.kind in ops.MERGES:
            inside = net.scopes[n.scope].name + "."  # names inside the merge's own scope go without its prefix
            connected = ", ".join(_shown_name(net, i, shown_as, depths, limit).removeprefix(inside) for i in n.inputs)
        row = (depths[n.scope], n.name, describe(n.op), ops.shape_str(n.shape), _fmt(n.params), _fmt(n.macs), connected)
        out.append(row + (describe_field(fields[n.id]) if fields else ()))
    return out


INF = 1 << 30  # deeper than any nesting


def _shown_name(net: Network, i: int, shown_as: list[str], depths: list[int], limit: int) -> str:
    """The name of the row that shows node i: its own, or that of the scope it is folded into."""
    n = net.nodes[i]
    return n.name if depths[n.scope] <= limit else shown_as[n.scope]


def terminal_width() -> int | None:
    """The width to fit a table to: COLUMNS if set, else the terminal's; None (no limit) when the output is
    not a terminal, so that a file or a pipe gets every column."""
    import os
    import shutil
    import sys

    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _si(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


# The columns a narrow terminal gives up, first to last; Layer and Params stay.
_DROP_ORDER = ("Padding", "Jump", "Receptive field", "MACs", "Connected to", "Op", "Output shape")
_MIN_WIDTH = {"Layer": 16, "Op": 18, "Connected to": 14}  # the text columns shortened with "…" before any is dropped


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@without_gc
def table(net: Network, receptive_field: bool = False, depth: int | None = None, width: int | None = None) -> str:
    """The per-layer table. depth: as in rows(). width: the widest a line may be (None: no limit); the text
    columns are shortened first (with "…"), then columns are left out, with a note saying which."""
    header = ("Layer", "Op", "Output shape", "Params", "MACs", "Connected to")
    if receptive_field:
        header += ("Receptive field", "Jump", "Padding")
    body = [("  " * r[0] + r[1], *r[2:]) for r in rows(net, receptive_field, depth)]
    columns = list(range(len(header)))
    if not any(r[5] for r in body):
        columns.remove(5)  # no merges: no "connected to"
    widths = {i: max(len(r[i]) for r in [header, *body]) for i in columns}
    natural = dict(widths)
    dropped = []

    def total():
        return sum(widths[i] for i in columns) + 2 * (len(columns) - 1)

    if width is not None:
        for name in ("Connected to", "Op", "Layer"):  # narrower text columns first
            i = header.index(name)
            if i in columns and total() > width:
                widths[i] = max(_MIN_WIDTH[name], widths[i] - (total() - width), len(name))
        for name in _DROP_ORDER:
            i = header.index(name) if name in header else -1
            if total() <= width:
                break
            if i in columns:
                columns.remove(i)
                dropped.append(name)
        for name in ("Layer", "Op", "Connected to"):  # what a dropped column freed goes back to the text
            i = header.index(name)
            if i in columns and total() < width:
                widths[i] = min(natural[i], widths[i] + width - total())
    # names, ops, shapes and connections to the left, numbers to the right; one format for every row
    layout = "  ".join(f"{{:{'<' if i in (0, 1, 2, 5) else '>'}{widths[i]}}}" for i in columns)

    def line(r):
        return layout.format(*(_shorten(r[i], widths[i]) for i in columns)).rstrip()

    rule = "=" * len(line(header))
    out = [f'Network "{net.name}" ({net.source})', rule, line(header), rule.replace("=", "-")]
    out += [line(r) for r in body]
    out.append(rule)
    if width is None:
        out += totals_lines(net)
    else:  # the totals wrap
        import textwrap

        out += [w for t in totals_lines(net) for w in textwrap.wrap(t, max(width, 40), subsequent_indent="    ")]
    if receptive_field and "Receptive field" not in dropped:
        out.append("Receptive field, jump (effective stride) and effective padding in input pixels, per axis.")
    if dropped:
        import textwrap

        note = f"Left out to fit {width} columns: {', '.join(dropped)}. Widen the terminal or set COLUMNS to see them."
        out += textwrap.wrap(note, max(width, 40))
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
