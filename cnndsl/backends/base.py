"""What the code generators share: the runtime definitions they copy into emitted files."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

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
