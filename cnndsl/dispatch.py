"""Dispatch on op kind: every consumer of the IR is a table from `kind` to handler.

A consumer (the summary, receptive fields, diagrams, weight transfer, each backend) subclasses `Dispatcher`
and handles an op kind with a method named after it (`def conv(self, node, ...)`) or an entry in its
`TRANSFORMS` table, as sqlglot's generators do. A kind it cannot handle is listed in `UNSUPPORTED` and gets
a located error (E500) rather than a default branch. Consumers that handle activation functions one by one
list them in `ACTIVATIONS`. tests/test_registry.py walks `ops.REGISTRY` against every subclass, so a new op
that a consumer lacks fails a test, never a user's run with a wrong result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar

from . import ops
from .errors import CnnDslError


class Dispatcher:
    """The base of a consumer of the IR; see the module's docstring."""

    WHAT: ClassVar[str] = ""  # what the consumer is, for messages: "backend keras"
    TRANSFORMS: ClassVar[dict[str, Callable]] = {}  # kind -> handler, for kinds without a method
    UNSUPPORTED: ClassVar[frozenset[str]] = frozenset()  # kinds refused with E500
    ACTIVATIONS: ClassVar[dict | None] = None  # activation function -> how, where handled one by one

    @classmethod
    def table(cls) -> dict[str, Callable]:
        """kind -> handler: the methods named after a kind, then TRANSFORMS (built once per class)."""
        cached = cls.__dict__.get("_table")
        if cached is None:
            cached = {k: getattr(cls, k) for k in ops.REGISTRY if callable(getattr(cls, k, None))}
            cached.update(cls.TRANSFORMS)
            cls._table = cached
        return cached

    @classmethod
    def missing(cls) -> list[str]:
        """The kinds (and activation functions) this consumer neither handles nor refuses: a bug."""
        lacking = [k for k in ops.REGISTRY if k not in cls.table() and k not in cls.UNSUPPORTED]
        if cls.ACTIVATIONS is not None and "activation" in cls.table():
            lacking += [f"activation {f}" for f in ops.ACTIVATIONS if f not in cls.ACTIVATIONS]
        return lacking

    def handler(self, node) -> Callable:
        """The bound handler of a node's op (or of an op); E500 where this consumer cannot handle it."""
        kind = node.kind if isinstance(node, ops.Op) else node.op.kind
        if kind in self.TRANSFORMS:
            return functools.partial(self.TRANSFORMS[kind], self)
        if kind not in self.table():
            raise self.unsupported(node)
        return getattr(self, kind)

    def unsupported(self, node, what: str | None = None) -> CnnDslError:
        """The error for a node (or an op) this consumer cannot handle, at the node's place in the source."""
        if isinstance(node, ops.Op):
            return CnnDslError("E500", f"{self.WHAT} cannot handle {what or repr(node.kind)} yet")
        span = node.span
        return CnnDslError(
            "E500", f"{self.WHAT} cannot handle {what or repr(node.op.kind)} yet ({node.name})",
            span.path, span.line, span.column, hint="see docs/language.md for what each backend supports",
        )  # fmt: skip
