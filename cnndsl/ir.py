"""The intermediate representation: a validated DAG of nodes with every shape inferred.

A `Network` is what every backend reads. Nodes are in topological order and `node.id` is the index in
`net.nodes`. Blocks are expanded, but each node points at the innermost `Scope` (block instance or
sequence) it came from, and scopes point at their parents, so a backend can rebuild the hierarchy
(`layer2` → `layer2.0` (basic(128, stride=2)) → `layer2.0.conv1`). The IR round-trips through JSON.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .ops import AnyOp, Dim

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
    name: str  # dotted path from the network ("" for the network itself)
    kind: Literal["network", "block", "sequence"]
    block: str | None = None  # the block definition, for kind == "block"
    args: dict[str, Value] = {}  # the block's arguments, every default filled in
    parent: int | None = None
    input: int | None = None  # the node feeding the scope (None for the network)
    output: int | None = None  # the node whose value the scope returns
    exprs: dict[str, str] = {}  # a block's arguments written in terms of the caller's parameters, as Node.exprs
    span: Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    id: int
    name: str  # dotted path, as torch names submodules: "layer2.0.conv1"
    op: AnyOp
    inputs: tuple[int, ...]
    shape: tuple[Dim, ...]  # output shape, (C, H, W) or (N,); open sizes are symbolic strings
    params: int
    buffers: int  # non-trainable state: batch norm's running mean and variance
    macs: int | None  # multiply-adds of conv/dense weights; None where a size is open
    scope: int
    exprs: dict[str, str] = {}  # arguments written in terms of block parameters, e.g. {"strides": "stride"}
    span: Span


class Network(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    name: str
    source: str  # the file it was compiled from
    args: dict[str, Value] = {}
    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...]
    output: int
    # The blocks used, each with its parameters in order and their defaults as source text (None: required),
    # for backends that emit one function or class per block definition.
    blocks: dict[str, dict[str, str | None]] = {}

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
