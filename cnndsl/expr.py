"""Expressions in the IR: a block argument written with parameters (`strides=stride`, `c * 4`), as a small
tagged union the code generators turn into code without parsing text.

`Node.exprs` and `Scope.exprs` hold the arguments written in terms of the caller's parameters, and
`Network.blocks` each block parameter's default. In IR JSON each expression is an object told apart by its
`kind` (pydantic's discriminated union, as for ops): `{"kind": "binop", "op": "*", "left": {"kind": "param",
"name": "c"}, "right": {"kind": "const", "value": 4}}`; a block's `in.channels` is `{"kind": "in", "attr":
"channels"}`. A parameter's name is an identifier and an operator one of six, so an IR read from JSON cannot
smuggle code into a generated file; `check` bounds the nesting.
"""

from __future__ import annotations

import operator
from typing import Literal

from .ops import STRICT
from .util import Frozen, frozen_dataclass

MAX_DEPTH = 100  # the compiler's bound on expression nesting (compiler.MAX_DEPTH)

Operator = Literal["+", "-", "*", "/", "//", "%"]


@frozen_dataclass(kw_only=True, slots=True)
class Expr(Frozen):
    """The base of the expression classes; a field typed `Expr` holds any of them."""

    __pydantic_config__ = STRICT

    def __str__(self) -> str:
        import ast

        return ast.unparse(to_ast(self))

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        if cls is not Expr:
            return handler(source)
        from pydantic_core import core_schema

        kinds = {"param": Param, "const": Const, "binop": BinOp, "neg": Neg, "tuple": Tuple, "in": In}
        return core_schema.tagged_union_schema(
            {kind: handler.generate_schema(c) for kind, c in kinds.items()}, discriminator="kind"
        )


@frozen_dataclass(kw_only=True, slots=True)
class Param(Expr):
    """A parameter of the enclosing block (or network)."""

    kind: Literal["param"] = "param"
    name: str


@frozen_dataclass(kw_only=True, slots=True)
class In(Expr):
    """`in.channels`: the channels of the block's input, which a generated class takes as a parameter
    (torchvision's `in_channels`) so that instances with different inputs share it."""

    kind: Literal["in"] = "in"
    attr: Literal["channels"] = "channels"

    @property
    def name(self) -> str:  # as `names` lists it, and a generator's `rename` maps it
        return f"in.{self.attr}"


@frozen_dataclass(kw_only=True, slots=True)
class Const(Expr):
    kind: Literal["const"] = "const"
    value: bool | int | float | str


@frozen_dataclass(kw_only=True, slots=True)
class BinOp(Expr):
    kind: Literal["binop"] = "binop"
    op: Operator
    left: Expr
    right: Expr


@frozen_dataclass(kw_only=True, slots=True)
class Neg(Expr):
    kind: Literal["neg"] = "neg"
    operand: Expr


@frozen_dataclass(kw_only=True, slots=True)
class Tuple(Expr):
    kind: Literal["tuple"] = "tuple"
    items: tuple[Expr, ...]


def names(e: Expr) -> set[str]:
    """The parameters an expression reads (`in.channels` as one)."""
    out, todo = set(), [e]
    while todo:
        e = todo.pop()
        if isinstance(e, (Param, In)):
            out.add(e.name)
        elif isinstance(e, BinOp):
            todo += [e.left, e.right]
        elif isinstance(e, Neg):
            todo.append(e.operand)
        elif isinstance(e, Tuple):
            todo += e.items
    return out


def depth(e: Expr) -> int:
    """How deep the expression nests (a parameter or a constant is 1), counted without recursion."""
    deepest, todo = 0, [(e, 1)]
    while todo:
        e, d = todo.pop()
        deepest = max(deepest, d)
        children = [e.left, e.right] if isinstance(e, BinOp) else [e.operand] if isinstance(e, Neg) else []
        todo += [(c, d + 1) for c in (e.items if isinstance(e, Tuple) else children)]
    return deepest


def constant(value) -> Expr:
    """A value (a number, a word, a tuple of them) as an expression."""
    if isinstance(value, tuple):
        return Tuple(items=tuple(constant(v) for v in value))
    return Const(value=value)


def evaluate(e: Expr, env: dict):
    """The value of the expression as Python computes it, its parameters' values taken from `env`: KeyError for
    a parameter `env` lacks, TypeError for arithmetic on anything but numbers, ArithmeticError for a division by
    zero. The IR bounds the nesting (MAX_DEPTH), so the recursion is bounded."""
    if isinstance(e, (Param, In)):
        return env[e.name]
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Tuple):
        return tuple(evaluate(i, env) for i in e.items)
    if isinstance(e, Neg):
        return -_number(evaluate(e.operand, env))
    if isinstance(e, BinOp):
        return _ARITHMETIC[e.op](_number(evaluate(e.left, env)), _number(evaluate(e.right, env)))
    raise TypeError(f"not an expression: {type(e).__name__}")


_ARITHMETIC = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
    "%": operator.mod,
}  # fmt: skip


def _number(v):
    if type(v) not in (int, float, bool):
        raise TypeError(f"arithmetic on {type(v).__name__}")
    return v


def python(e, rename: dict[str, str]):
    """The expression as a Python expression tree (`ast`), its parameters renamed to the Python names a
    generator gives them; ValueError unless it is an expression of those parameters, nested no deeper than
    MAX_DEPTH. A generator unparses or evaluates (backends/arith.py) the tree: no text is parsed."""
    if not isinstance(e, Expr) or depth(e) > MAX_DEPTH or not names(e) <= rename.keys():
        raise ValueError(f"not an expression of {sorted(rename)}: {e!r:.80}")
    return to_ast(e, rename)


def to_ast(e: Expr, rename: dict[str, str] | None = None):
    """The expression as a Python expression tree, its parameters renamed by `rename`."""
    import ast

    operators = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod}
    if isinstance(e, (Param, In)):
        return ast.Name((rename or {}).get(e.name, e.name), ast.Load())
    if isinstance(e, Const):
        value = e.value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            return ast.UnaryOp(ast.USub(), ast.Constant(-value))  # as Python writes a negative literal
        return ast.Constant(value)
    if isinstance(e, BinOp):
        return ast.BinOp(to_ast(e.left, rename), operators[e.op](), to_ast(e.right, rename))
    if isinstance(e, Neg):
        return ast.UnaryOp(ast.USub(), to_ast(e.operand, rename))
    if isinstance(e, Tuple):
        return ast.Tuple([to_ast(i, rename) for i in e.items], ast.Load())
    raise TypeError(f"not an expression: {type(e).__name__}")


def check(e: Expr) -> None:
    """ValueError unless the expression is one the compiler could have written: names that are identifiers
    (a generator writes them into source), nesting no deeper than MAX_DEPTH."""
    from .ir import identifier

    if depth(e) > MAX_DEPTH:
        raise ValueError(f"expression nested deeper than {MAX_DEPTH} levels")
    for name in names(e) - {"in.channels"}:
        identifier(name)
