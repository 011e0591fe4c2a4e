"""The arithmetic of block parameters as the code generators evaluate it, without `eval`.

The IR keeps an argument written with block parameters as an expression tree (cnndsl/expr.py); a generator
turns it into a Python `ast` tree and evaluates it for each instance, to see whether it reproduces the IR's
value. The IR may come from a JSON file nobody checked, so `evaluate` walks the tree itself, computing only
numbers (no sequence repetition, no integers larger than any size could be), and refuses trees nested deeper
than the compiler's expressions may be. `parse` reads an expression from text, for callers that hold one.
"""

from __future__ import annotations

import ast
import operator

MAX_DEPTH = 100  # the compiler's bound on expression nesting (compiler.MAX_DEPTH)
MAX_BITS = 4096  # integers beyond this are no size: refused before they make arithmetic slow

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}  # fmt: skip
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def parse(text: str) -> ast.Expression:
    """`text` as an expression tree; ValueError if it is none or nests deeper than MAX_DEPTH."""
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a NUL, a 5,000-digit number
        raise ValueError(f"not an expression: {text[:80]!r}") from None
    if depth(tree.body) > MAX_DEPTH:
        raise ValueError(f"expression nested deeper than {MAX_DEPTH} levels: {text[:80]!r}")
    return tree


def depth(tree: ast.AST) -> int:
    """How deep the tree nests (a name or a literal is 1), counted without recursion."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, d = todo.pop()
        deepest = max(deepest, d)
        todo += [(child, d + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]
    return deepest


def evaluate(tree: ast.AST, env: dict):
    """The value of an arithmetic tree (literals, names of `env`, + - * / // %, unary - and +, tuples) as
    Python computes it. TypeError for anything else, or arithmetic on anything but numbers; NameError for a
    name `env` lacks; ArithmeticError for a division by zero or a number out of range."""
    if depth(tree) > MAX_DEPTH:
        raise ValueError(f"expression nested deeper than {MAX_DEPTH} levels")
    return _value(tree, env)


def _value(node: ast.AST, env: dict):
    if isinstance(node, ast.Expression):
        return _value(node.body, env)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool, str):
        return _checked(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise NameError(f"name {node.id!r} is not defined")
        return _checked(env[node.id])
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, env) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_number(_value(node.operand, env))))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        a, b = _number(_value(node.left, env)), _number(_value(node.right, env))
        return _checked(_BINARY[type(node.op)](a, b))
    raise TypeError(f"not arithmetic: {type(node).__name__}")


def _number(v):
    if type(v) not in (int, float, bool):
        raise TypeError(f"arithmetic on {type(v).__name__}")
    return v


def _checked(v):
    if type(v) is int and v.bit_length() > MAX_BITS:
        raise OverflowError("integer out of range")
    return v


def sum_of(terms: list[ast.expr]) -> ast.expr:
    """The sum of `terms` with like terms collected: `stem + growth + growth` is `stem + 2 * growth`, as DenseNet's
    concatenations would otherwise write the growth rate once per layer. Integer literals are added up where the
    first one stands; a term `k * x` (k an integer literal) counts as k of `x`."""
    counts: dict[str, int] = {}  # ast.unparse of a term -> how many, in order of first appearance
    trees: dict[str, ast.expr] = {}
    constant = None
    todo = list(reversed(terms))
    while todo:
        term = todo.pop()
        if isinstance(term, ast.BinOp) and isinstance(term.op, ast.Add):
            todo += [term.right, term.left]
            continue
        if isinstance(term, ast.Constant) and type(term.value) is int:
            constant = term.value if constant is None else constant + term.value
            counts.setdefault("", 0)
            continue
        k = 1
        if isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult) and _is_int(term.left):
            k, term = term.left.value, term.right
        key = ast.unparse(term)
        counts[key] = counts.get(key, 0) + k
        trees.setdefault(key, term)
    parts = []
    for key, k in counts.items():
        if key == "":
            parts.append(ast.Constant(constant))
        elif k:
            parts.append(trees[key] if k == 1 else ast.BinOp(ast.Constant(k), ast.Mult(), trees[key]))
    if not parts:
        return ast.Constant(0)
    tree = parts[0]
    for part in parts[1:]:
        tree = ast.BinOp(tree, ast.Add(), part)
    return tree


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int
