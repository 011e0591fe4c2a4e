"""The intermediate representation: a validated DAG of nodes with every shape inferred.

A `Network` is what every backend reads. Nodes are in topological order and `node.id` is the index in
`net.nodes`. Blocks are expanded, but each node points at the innermost `Scope` (block instance or
sequence) it came from, and scopes point at their parents, so a backend can rebuild the hierarchy
(`layer2` → `layer2.0` (basic(128, stride=2)) → `layer2.0.conv1`). The IR round-trips through JSON.
"""

from __future__ import annotations

import keyword
import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from .ops import AnyOp, Dim

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_POSITION = re.compile(r"[0-9]+")


def identifier(name: str) -> str:
    """A name as the compiler admits it (a network, block, parameter or label): a letter, then letters,
    digits and `_`, and no Python keyword. The code generators write these names into Python source, so an
    IR read from JSON is held to the same rule."""
    if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"{name[:80]!r} is not a valid name")
    return name


def dotted(name: str) -> str:
    """A node's path of labels and positions: `layer2.0.conv1`."""
    for part in name.split("."):
        if not _POSITION.fullmatch(part):
            identifier(part)
    return name


def scope_path(name: str) -> str:
    """A scope's path: as a node's, or "" for the network itself."""
    return dotted(name) if name else name


def check_names(net: Network) -> None:
    """ValueError unless every name in `net` is one the compiler could have written: for an IR built in
    Python without validation (`model_construct`, `model_copy(update=...)`) before a backend writes code."""
    identifier(net.name)
    for n in net.nodes:
        dotted(n.name)
    for s in net.scopes:
        scope_path(s.name)
        for name in [*([s.block] if s.block is not None else []), *s.args, *s.exprs]:
            identifier(name)
    for block, params in net.blocks.items():
        for name in [block, *params]:
            identifier(name)
    for name in net.args:
        identifier(name)


Identifier = Annotated[str, AfterValidator(identifier)]
Dotted = Annotated[str, AfterValidator(dotted)]
ScopePath = Annotated[str, AfterValidator(scope_path)]
Scalar = bool | int | float | str
Value = Scalar | tuple[Scalar, ...]  # a block argument


class Span(BaseModel):
    """Where a node came from in the source."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    path: str
    line: int
    column: int


class Scope(BaseModel):
    """A named container of nodes: the network itself, a block instance, or a sequence."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    id: int
    name: ScopePath  # dotted path from the network ("" for the network itself)
    kind: Literal["network", "block", "sequence"]
    block: Identifier | None = None  # the block definition, for kind == "block"
    args: dict[Identifier, Value] = {}  # the block's arguments, every default filled in
    parent: int | None = None
    input: int | None = None  # the node feeding the scope (None for the network)
    output: int | None = None  # the node whose value the scope returns
    exprs: dict[Identifier, str] = {}  # a block's arguments written in terms of the caller's parameters, as Node.exprs
    span: Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    id: int
    name: Dotted  # dotted path, as torch names submodules: "layer2.0.conv1"
    op: AnyOp
    inputs: tuple[int, ...]
    shape: tuple[Dim, ...]  # output shape, (C, H, W) or (N,); open sizes are symbolic strings
    params: int
    buffers: int  # non-trainable state: batch norm's running mean and variance
    macs: int | None  # multiply-adds of conv/dense weights; None where a size is open
    scope: int
    exprs: dict[Identifier, str] = {}  # arguments written in terms of block parameters, e.g. {"strides": "stride"}
    span: Span


class Network(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    name: Identifier
    source: str  # the file it was compiled from
    args: dict[Identifier, Value] = {}
    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...]
    output: int
    # The blocks used, each with its parameters in order and their defaults as source text (None: required),
    # for backends that emit one function or class per block definition.
    blocks: dict[Identifier, dict[Identifier, str | None]] = {}

    @property
    def input_shape(self) -> tuple[Dim, ...]:
        return self.nodes[0].shape

    @property
    def output_shape(self) -> tuple[Dim, ...]:
        return self.nodes[self.output].shape

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

    def summary(self, receptive_field: bool = False) -> str:
        """The per-layer table of `cnndsl summary`."""
        from .summary import table

        return table(self, receptive_field)

    def __str__(self) -> str:
        from .summary import one_line

        return one_line(self)
