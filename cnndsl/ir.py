"""The intermediate representation: a validated DAG of nodes with every shape inferred.

A `Network` is what every backend reads. Nodes are in topological order and `node.id` is the index in
`net.nodes`. Blocks are expanded, but each node points at the innermost `Scope` (block instance or
sequence) it came from, and scopes point at their parents, so a backend can rebuild the hierarchy
(`layer2` → `layer2.0` (basic(128, stride=2)) → `layer2.0.conv1`).

The classes are frozen dataclasses: the compiler builds them from values it has checked, at no cost
beyond the objects themselves. An IR that comes from outside (`Network.from_json`) is validated by
pydantic, strictly (every type and bound of every field, each op's own rules), then for the names the
code generators write into source and for the graph's references; pydantic also writes JSON and the
JSON Schema, and is imported only for these.
"""

from __future__ import annotations

import functools
import keyword
import math
import re
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import Literal

from typing_extensions import TypeAliasType

from .errors import Span
from .expr import Expr
from .expr import check as check_expr
from .ops import STRICT, Dim, Op, ShapeError, add_weights, infer_and_cost, layout, shape_str
from .util import Frozen, frozen_dataclass

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_POSITION = re.compile(r"[0-9]+")
# A quoted label: a module name that need not be an identifier (RegNet's "block1-0", keras.applications'
# "1_conv"): letters, digits, `_` and `-`, but not only digits (those are positions: they must not collide).
MODULE_NAME = re.compile(r"(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9_-]{0,199}")


def identifier(name: str) -> str:
    """A name as the compiler admits it (a network, block, parameter or label): a letter, then letters,
    digits and `_`, and no Python keyword. The code generators write these names into Python source, so an
    IR read from JSON is held to the same rule."""
    if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"{name[:80]!r} is not a valid name")
    return name


def dotted(name: str) -> str:
    """A node's path of labels, quoted labels and positions: `layer2.0.conv1`, `trunk.block1-0.0`."""
    for part in name.split("."):
        if not _POSITION.fullmatch(part) and not MODULE_NAME.fullmatch(part):
            identifier(part)
    return name


def scope_path(name: str) -> str:
    """A scope's path: as a node's, or "" for the network itself."""
    return dotted(name) if name else name


def check_finite(net: Network) -> None:
    """ValueError if a network or block argument is infinite or NaN: JSON holds neither (pydantic writes them as
    null, so the IR would not read back), and pydantic's allow_inf_nan does not reach into the recursive `Value`."""

    def finite(v) -> None:
        if isinstance(v, tuple):
            for item in v:
                finite(item)
        elif isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"an argument is {v}: it must be a finite number")

    for args in [net.args, *(s.args for s in net.scopes)]:
        for v in args.values():
            finite(v)


def check_names(net: Network) -> None:
    """ValueError unless every name in `net` is one the compiler could have written: checked when an IR is
    read from JSON, and by each code generator before it writes names into source (an IR built or
    changed in Python, with `dataclasses.replace`, is not validated)."""
    identifier(net.name)
    for n in net.nodes:
        dotted(n.name)
        for e in n.exprs.values():
            check_expr(e)
    for s in net.scopes:
        scope_path(s.name)
        for name in [*([s.block] if s.block is not None else []), *s.args, *s.exprs]:
            identifier(name)
        for e in s.exprs.values():
            check_expr(e)
    for block, params in net.blocks.items():
        for name in [block, *params]:
            identifier(name)
        for e in params.values():
            if e is not None:
                check_expr(e)
    for name in net.args:
        identifier(name)


Scalar = bool | int | float | str
# A block argument: a number, a tuple, a table of settings, nested as deep as the .cnn text nests them (a row of
# settings may hold a size: `(3x3, 64)`).
Value = TypeAliasType("Value", "Scalar | tuple[Value, ...]")


@frozen_dataclass(kw_only=True, slots=True)
class Scope(Frozen):
    """A named container of nodes: the network itself, a block instance, or a sequence."""

    __pydantic_config__ = STRICT

    id: int
    name: str  # dotted path from the network ("" for the network itself)
    kind: Literal["network", "block", "sequence"]
    block: str | None = None  # the block definition, for kind == "block"
    args: dict[str, Value] = field(default_factory=dict)  # the block's arguments, every default filled in
    parent: int | None = None
    input: int | None = None  # the node feeding the scope (None for the network)
    output: int | None = None  # the node whose value the scope returns
    # a block's arguments written in terms of the caller's parameters, as Node.exprs
    exprs: dict[str, Expr] = field(default_factory=dict)
    span: Span


@frozen_dataclass(kw_only=True, slots=True)
class Node(Frozen):
    """One op applied to earlier nodes, with its output shape and cost."""

    __pydantic_config__ = STRICT

    id: int
    name: str  # dotted path, as torch names submodules: "layer2.0.conv1"
    op: Op
    inputs: tuple[int, ...]
    shape: tuple[Dim, ...]  # output shape, (C, H, W) or (N,); open sizes are symbolic strings
    params: int
    buffers: int  # non-trainable state: batch norm's running mean and variance
    macs: int | None  # multiply-adds of conv/dense weights; None where a size is open
    scope: int
    exprs: dict[str, Expr] = field(default_factory=dict)  # arguments in terms of block parameters: strides=stride
    span: Span


@frozen_dataclass(kw_only=True)
class Network(Frozen):
    """A compiled network: what every backend reads."""

    __pydantic_config__ = STRICT

    name: str
    source: str  # the file it was compiled from
    args: dict[str, Value] = field(default_factory=dict)
    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...]
    output: int  # the main output
    # Further outputs (`output ...` statements: auxiliary classifiers, deep supervision, detection heads), in
    # source order; every backend returns them after the main one.
    extra_outputs: tuple[int, ...] = ()
    # The blocks used, each with its parameters in order and their defaults (None: required), for backends
    # that emit one function or class per block definition.
    blocks: dict[str, dict[str, Expr | None]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | bytes) -> Network:
        """An IR written by `to_json` (or `cnndsl compile --backend ir`), validated: ValueError (pydantic's
        ValidationError) if any field, op rule, name or node reference is wrong, or if a node's shape, params,
        buffers or multiply-adds are not what its op gives on its inputs (re-inferred as the compiler infers
        them, within the same bounds on what a backend may build)."""
        net = _adapter().validate_json(text)
        check_finite(net)
        check_names(net)
        check_graph(net)
        check_inference(net)
        return net

    def to_cnn(self) -> str:
        """The .cnn text of the network: what `cnndsl.from_torch` (and the other importers) wrote, or the
        file it was compiled from."""
        text = self.__dict__.get("_cnn_text")
        return text if text is not None else Path(self.source).read_text(encoding="utf-8")

    def to_json(self, indent: int | None = 2) -> str:
        return _adapter().dump_json(self, indent=indent).decode()

    @staticmethod
    def json_schema() -> dict:
        return _adapter().json_schema()

    @property
    def input_shape(self) -> tuple[Dim, ...]:
        return self.nodes[0].shape

    @property
    def output_shape(self) -> tuple[Dim, ...]:
        return self.nodes[self.output].shape

    @property
    def outputs(self) -> tuple[int, ...]:
        """Every output: the main one, then the extra ones."""
        return (self.output, *self.extra_outputs)

    def output_name(self, node_id: int) -> str:
        """An output's name: the label of the statement that made it (the top-level scope it closes, or the
        node itself)."""
        for s in self.scopes[1:]:
            if s.output == node_id and s.parent == 0:
                return s.name
        return self.nodes[node_id].name

    @cached_property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @cached_property
    def buffers(self) -> int:
        return sum(n.buffers for n in self.nodes)

    @cached_property
    def macs(self) -> int | None:
        total = 0
        for n in self.nodes:
            if n.macs is None:
                return None
            total += n.macs
        return total

    @property
    def flops(self) -> int | None:
        return None if self.macs is None else 2 * self.macs

    @cached_property
    def activation_elements(self) -> int | None:
        """Elements of every node's output for one sample: the memory a forward pass keeps for backward."""
        total = 0
        for n in self.nodes:
            size = 1
            for d in n.shape:
                if not isinstance(d, int):
                    return None
                size *= d
            total += size
        return total

    @cached_property
    def held_last(self) -> frozenset[int]:
        """The nodes whose output is held channels-last (between `channels_last()` and `channels_first()`):
        the backends lay those tensors out N×H×W×C."""
        held: set[int] = set()
        for n in self.nodes[1:]:
            if layout(n.op, [self.nodes[i].shape for i in n.inputs], [i in held for i in n.inputs]):
                held.add(n.id)
        return frozenset(held)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def scope_path(self, node: Node) -> list[Scope]:
        """The scopes around a node, outermost first."""
        path = []
        scope: int | None = node.scope
        while scope is not None:
            path.append(self.scopes[scope])
            scope = self.scopes[scope].parent
        return path[::-1]

    def summary(self, receptive_field: bool = False, depth: int | None = None, width: int | None = None) -> str:
        """The per-layer table of `cnndsl summary`. depth: leave out rows nested deeper than this (their
        block's row totals them); width: fit the lines to this many columns (None: no limit)."""
        from .summary import table

        return table(self, receptive_field, depth, width)

    def __str__(self) -> str:
        """`resnet34: 3×224×224 → 1000, 21,797,672 params`; extra outputs follow the main one with their names:
        `googlenet: 3×224×224 → 1000 (+ aux1 1000, aux2 1000), 13,004,888 params`. Here rather than in
        summary.py, which `cnndsl check` (printing this line per network) then need not import."""
        out = shape_str(self.output_shape)
        if self.extra_outputs:
            extra = ", ".join(f"{self.output_name(i)} {shape_str(self.nodes[i].shape)}" for i in self.extra_outputs)
            out += f" (+ {extra})"
        return f"{self.name}: {shape_str(self.input_shape)} → {out}, {self.params:,} params"


def check_graph(net: Network) -> None:
    """ValueError unless the nodes form the graph the backends expect: ids equal to positions, inputs that
    come earlier, scopes and outputs that exist."""
    n, m = len(net.nodes), len(net.scopes)
    if not n or not all(0 <= o < n for o in net.outputs):
        raise ValueError("the network's outputs are not among its nodes")
    if len(set(net.outputs)) != len(net.outputs):
        raise ValueError("the network names one node as two outputs")
    for i, node in enumerate(net.nodes):
        if node.id != i or not 0 <= node.scope < m or any(not 0 <= j < i for j in node.inputs):
            raise ValueError(f"node {i} ({node.name[:80]!r}) is out of order or refers to a missing node or scope")
        if (not node.inputs) != (i == 0) or (node.op.kind == "input") != (i == 0):
            raise ValueError("the first node, and only it, must be the input")
    for i, s in enumerate(net.scopes):
        refs = [r for r in (s.input, s.output) if r is not None]
        if s.id != i or any(not 0 <= r < n for r in refs) or (s.parent is not None and not 0 <= s.parent < i):
            raise ValueError(f"scope {i} is out of order or refers to a missing node or scope")
        if (s.parent is None) != (i == 0) or (s.kind == "network") != (i == 0):
            raise ValueError("the first scope, and only it, must be the network")
        # as the compiler closes scopes: the network's gives the network's output, every other has both ends
        if (s.input, s.output) != (None, net.output) if i == 0 else (s.input is None or s.output is None):
            raise ValueError(f"scope {i} ({s.name[:80]!r}) does not say which nodes it takes and gives")
    # as the compiler names them: the network's scope has no name, every other scope and node is named by one
    # label or position after its scope's path (the backends take that part for the attribute's name)
    if net.scopes[0].name:
        raise ValueError(f"the network's scope is named {net.scopes[0].name[:80]!r}; it must have no name")
    named = [
        *(("node", n.id, n.name, n.scope) for n in net.nodes),
        *(("scope", s.id, s.name, s.parent) for s in net.scopes[1:]),
    ]
    for what, i, name, parent in named:
        path = net.scopes[parent].name
        prefix = path + "." if path else ""
        local = name[len(prefix) :]
        if not name.startswith(prefix) or not local or "." in local:
            raise ValueError(f"{what} {i} ({name[:80]!r}) is not named inside its scope ({path[:80]!r})")


def check_inference(net: Network) -> None:
    """ValueError naming the first node whose recorded shape or cost contradicts its op and inputs, or that
    the compiler would refuse (a shape rule broken, a layer or network too large: E406)."""
    inferred: dict = {}  # (op, input shapes) -> result, as the compiler caches it
    total = 0
    held: set[int] = set()  # held channels-last
    for node in net.nodes:
        where = f"node {node.id} ({node.name[:80]!r}, {node.op.kind})"
        if not node.op.merge and len(node.inputs) > 1:
            raise ValueError(f"{where} takes one input, not {len(node.inputs)}")
        shapes = tuple(net.nodes[i].shape for i in node.inputs)
        try:
            if (node.op, shapes) not in inferred:
                inferred[node.op, shapes] = infer_and_cost(node.op, list(shapes))
            shape, params, buffers, macs = inferred[node.op, shapes]
            total = add_weights(total, params, buffers)
            if node.inputs and layout(node.op, list(shapes), [i in held for i in node.inputs]):
                held.add(node.id)
        except ShapeError as e:
            raise ValueError(f"{where}: {e.message} (error[{e.code}])") from None
        recorded = {"shape": node.shape, "params": node.params, "buffers": node.buffers, "macs": node.macs}
        for key, value in {"shape": shape, "params": params, "buffers": buffers, "macs": macs}.items():
            if recorded[key] != value:
                raise ValueError(f"{where}: {key} is {_short(recorded[key])}, but its op gives {_short(value)}")
    if held & set(net.outputs):
        raise ValueError("an output of the network is held channels-last: end it with channels_first()")


def _short(value) -> str:
    text = "×".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


@functools.cache
def _adapter():
    from pydantic import TypeAdapter

    return TypeAdapter(Network)
