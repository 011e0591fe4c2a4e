"""What the code generators share: the runtime definitions they copy into emitted files, the literals both
write (their lines are written by `writer`), and what both work out from the IR the same way (`same` padding,
the order of block definitions)."""

from __future__ import annotations

import ast
import functools
import math
from dataclasses import dataclass
from pathlib import Path

from .. import ops

_RUNTIME = Path(__file__).resolve().parent.parent / "runtime"


@dataclass(frozen=True)
class Definition:
    """A top-level function or class of a runtime module, as source to copy into an emitted file."""

    name: str
    source: str  # from its first decorator to its last line
    needs: tuple[str, ...]  # the other definitions of its modules it refers to


@functools.cache
def runtime(*modules: str) -> dict[str, Definition]:
    """The definitions of `cnndsl/runtime/<module>.py` for each module, in file order. The files are read, not
    imported: the emitters need torch or Keras no more than `cnndsl check` does."""
    found: list[tuple[str, str, set[str]]] = []
    for module in modules:
        text = (_RUNTIME / f"{module}.py").read_text(encoding="utf-8")
        lines = text.splitlines()
        for stmt in ast.parse(text).body:
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                start = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)])
                names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
                found.append((stmt.name, "\n".join(lines[start - 1 : stmt.end_lineno]), names))
    defined = {name for name, _, _ in found}
    return {name: Definition(name, source, tuple(sorted((names & defined) - {name}))) for name, source, names in found}


def needed(definitions: dict[str, Definition], wanted) -> list[Definition]:
    """The definitions `wanted` names and those they need, in file order (a base class before its subclasses)."""
    todo, out = list(wanted), set()
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo += definitions[name].needs
    return [d for name, d in definitions.items() if name in out]


# --- Python literals ---------------------------------------------------------------------------------------


def quote(s: str) -> str:
    """A string literal, double-quoted as ruff formats it where that needs no escape."""
    text = repr(s)
    if text[0] == "'" and '"' not in text and "\\" not in text:
        text = f'"{text[1:-1]}"'
    return text


def literal(v) -> str:
    """An IR value (a number, a word, None, a tuple of them) as a Python literal."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, float) and not math.isfinite(v):
        return f'float("{v}")'
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(literal(i) for i in v) + ("," if len(v) == 1 else "") + ")"
    raise ValueError(f"unexpected value {v!r}")


def pair(v) -> str:
    """A size pair as both frameworks take it: `3` for (3, 3), `(3, 5)` otherwise."""
    return literal(v[0]) if v[0] == v[1] else literal(tuple(v))


def matrix(rows) -> str:
    """A fixed filter's matrix as a module-level constant's value, one row a line."""
    return "\n".join(["(", *(f"    {literal(tuple(row))}," for row in rows), ")"])


# --- what both generators work out the same way ------------------------------------------------------------------


def same_pads(shape, kernel, strides, dilation=(1, 1)) -> tuple[int, ...] | None:
    """TensorFlow's `same` padding of a (C, H, W) input as (top, bottom, left, right): ceil(size / stride)
    outputs, the odd pixel last. None where it depends on a size left open."""
    pads: list[int] = []
    for size, k, s, d in zip(shape[1:], kernel, strides, dilation, strict=True):
        if s == 1:
            total = d * (k - 1)  # whatever the size
            pads += [total // 2, total - total // 2]
        elif isinstance(size, int):
            pads += ops.same_pads(size, k, s, d)
        else:
            return None
    return tuple(pads)


def code_owners(net) -> list[int]:
    """For each scope, the block instance (or the network) whose code holds it: sequences belong to the
    block or network around them."""
    owner: list[int] = []
    for s in net.scopes:  # parents come before their children
        owner.append(owner[s.parent] if s.kind == "sequence" else s.id)
    return owner


def block_definitions(net) -> list[str]:
    """The block definitions the network uses, each after the ones its instances call, in order of use."""
    owner = code_owners(net)
    calls: dict[str, list[str]] = {}
    for s in net.scopes:
        if s.kind == "block":
            calls.setdefault(s.block, [])
            caller = net.scopes[owner[s.parent]]
            if caller.kind == "block" and s.block not in calls.setdefault(caller.block, []):
                calls[caller.block].append(s.block)
    order: list[str] = []

    def visit(d: str) -> None:
        if d not in order:
            for callee in calls[d]:
                visit(callee)
            order.append(d)

    for d in calls:
        visit(d)
    return order
