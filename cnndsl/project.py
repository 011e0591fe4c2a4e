"""A project of .cnn files: directories expanded, import graphs, and the checks that need no input shape.

`cnndsl check DIR` checks every `.cnn` file below DIR; `cnndsl check --with-importers FILES` adds every file
of the repository that imports one of FILES, directly or through other files, so that breaking a block
library fails the commit that breaks it. A file of blocks only (`architectures/blocks/resnet.cnn`) is
checked as far as it can be without an input: names, arguments, labels and constant arguments.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import compiler, ops
from .compiler import BUILTINS, Compiler, Expansion, Word, choices, did_you_mean, names_in
from .errors import CnnDslError
from .ir import Network
from .syntax import (
    Branches,
    Call,
    Comprehension,
    Definition,
    For,
    If,
    Kwarg,
    Name,
    Repeat,
    Residual,
    Sequence,
    Stmt,
    syntax_errors,
    target_names,
)

SUFFIX = ".cnn"


def cnn_files(paths) -> list[str]:
    """The files named, with every `.cnn` file below each directory named (recursively, hidden directories
    skipped), in a stable order: files as given, a directory's files sorted by their path."""
    out: list[str] = []
    seen: set[str] = set()
    for arg in paths:
        p = Path(arg)
        found = [str(arg)] if not p.is_dir() else _walk(p)
        for f in found:
            key = os.path.normpath(os.path.abspath(f))
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def _walk(directory: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(root, f) for f in files if f.endswith(SUFFIX) and not f.startswith(".")]
    return sorted(found, key=lambda f: Path(f).parts)


_IMPORT = re.compile(r'"[^"\\\n]*"|#[^\n]*|\bimport\s*("[^"\\\n]*")')


def imports_of(path: str | Path) -> list[str]:
    """The paths a file imports, as written (strings and comments skipped, so no parse is needed: a file
    with a syntax error still has importers)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [m.group(1)[1:-1] for m in _IMPORT.finditer(text) if m.group(1)]


def importers(changed, root: str | Path = ".") -> list[str]:
    """Every `.cnn` file below `root` that imports one of `changed`, directly or transitively (not the
    changed files themselves), sorted by path."""
    files = _walk(Path(root))
    imported_by: dict[str, list[str]] = {}
    for f in files:
        base = Path(f).resolve().parent
        for imp in imports_of(f):
            try:
                target = str((base / imp).resolve())
            except (OSError, RuntimeError):
                continue
            imported_by.setdefault(target, []).append(f)
    start = {str(Path(c).resolve()) for c in changed}
    todo, found = list(start), {}
    while todo:
        for f in imported_by.get(todo.pop(), ()):
            key = str(Path(f).resolve())
            if key not in start and key not in found:
                found[key] = f
                todo.append(key)
    return sorted(found.values(), key=lambda f: Path(f).parts)


# --- checking a file ----------------------------------------------------------------------------------


def check_compiled(c: Compiler, path: str, settings=()) -> tuple[list[Network], list[CnnDslError], list[Definition]]:
    """What `cnndsl check` (and the language server) report for a file read by `c`: its networks, the errors
    (in the blocks no network uses, then in each network), and those unused blocks. `settings`: `--set`'s."""
    names = c.network_names()
    unused = unused_blocks(c, path)
    if not names and not unused:
        raise CnnDslError("E210", "no network is defined", path, 1, 1, hint="define one: network name { ... }")
    errors = check_blocks(c, unused)
    networks = []
    for d in network_definitions(c):
        try:
            networks.append(c.compile(d.name, settings=c.settings_for(d.name, settings)))
        except CnnDslError as e:
            errors += [found.in_networks(((d.span.path, d.name),)) for found in (e, *errors_after(c, d, e))]
    errors.sort(key=lambda e: (e.path != path, e.path, e.line, e.column))  # in source order, this file's first
    return networks, distinct(errors), unused


def distinct(errors: list[CnnDslError]) -> list[CnnDslError]:
    """Each error once, in the order found, with every network it was found in: an error in a block that 11
    networks use is the same error 11 times (same place, code and message)."""
    merged: dict[tuple, CnnDslError] = {}
    for e in errors:
        key = (e.path, e.line, e.column, e.code, e.message)
        first = merged.setdefault(key, e)
        if first is not e:
            merged[key] = first.in_networks(first.networks + e.networks)
    return list(merged.values())


SYNTAX = ("E100", "E101", "E102")


def recovered(c: Compiler, e: CnnDslError) -> list[CnnDslError]:
    """A file's errors when reading it stopped at `e`: with every syntax error of that file after it (the parser
    recovers at the next token it can go on with), else `e` alone."""
    if e.code not in SYNTAX or e.path not in c.sources:
        return [e]
    found = syntax_errors("\n".join(c.sources[e.path]), e.path)
    if not found or (found[0].line, found[0].column, found[0].code) != (e.line, e.column, e.code):
        return [e]
    return [e, *found[1:]]


def network_definitions(c: Compiler) -> list[Definition]:
    """The networks of the file a compiler read, in order."""
    networks = c.networks
    return list(networks.values() if isinstance(networks, dict) else networks)


def errors_after(c: Compiler, d: Definition, first: CnnDslError) -> list[CnnDslError]:
    """The errors of a network that stopped at `first` which show without knowing any tensor's shape: the
    statements after it are checked as a block's are (names, arguments, labels, constant values), and
    those written after the first error are reported with it, in source order."""
    checker = _BlockChecker(c, network=True)
    checker.definition(d)
    where = (first.line, first.column) if first.path == d.span.path else (0, 0)
    seen = {(first.path, first.line, first.column, first.code)}
    out = []
    for e in sorted(checker.errors, key=lambda e: (e.line, e.column)):
        key = (e.path, e.line, e.column, e.code)
        if e.path == d.span.path and (e.line, e.column) > where and key not in seen:
            seen.add(key)
            out.append(e)
    return out


# --- blocks checked without an input ------------------------------------------------------------------


def unused_blocks(c: Compiler, path: str) -> list[Definition]:
    """The blocks defined in `path` that no network of the compiler calls: expanding a network checks the
    blocks it uses, these are checked by `check_blocks`."""
    called: set[str] = set()
    todo = network_definitions(c)
    while todo:
        d = todo.pop()
        for name in _calls(d.body):
            if name in c.blocks and name not in called:
                called.add(name)
                todo.append(c.blocks[name])
    return [d for d in c.blocks.values() if d.span.path == path and d.name not in called]


def _calls(stmts):
    for stmt in stmts:
        yield from _calls_in(stmt.item if isinstance(stmt, Stmt) else stmt)


def _calls_in(item):
    if isinstance(item, Call):
        yield item.name
    elif isinstance(item, Repeat):
        yield from _calls_in(item.item)
    elif isinstance(item, Sequence | Branches):
        yield from _calls(item.body)
    elif isinstance(item, Residual):
        yield from _calls(item.main)
        yield from _calls(item.shortcut or ())
    elif isinstance(item, If):
        yield from _calls(item.body)
        yield from _calls(item.orelse)
    elif isinstance(item, For):
        yield from _calls(item.body)


def check_blocks(c: Compiler, blocks: list[Definition]) -> list[CnnDslError]:
    """Every error in these blocks that shows without an input shape, in source order."""
    checker = _BlockChecker(c)
    for d in blocks:
        checker.definition(d)
    return sorted(checker.errors, key=lambda e: (e.path, e.line, e.column))


class _BlockChecker:
    def __init__(self, c: Compiler, network: bool = False):
        self.c = c
        self.network = network  # checking a network's statements: its first may be input(...)
        self.errors: list[CnnDslError] = []

    def error(self, code, message, span, hint=None):
        self.errors.append(self.c._error(code, message, span, hint))

    def guard(self, fn, *args):
        try:
            fn(*args)
        except CnnDslError as e:
            self.errors.append(e)

    def definition(self, d: Definition) -> None:
        self.expansion = Expansion(self.c, d, {})
        try:
            self.consts = self.expansion.constants()
        except CnnDslError:  # reported where a network is compiled
            self.consts = {}
        seen: list[str] = []
        for p in d.params:
            self.guard(self.c._check_name, p.name, p.span, "parameter")
            if p.name in seen:
                self.error("E207", f"parameter '{p.name}' is declared twice", p.span)
            if p.default is not None:
                self.names(p.default, seen, None)
            seen.append(p.name)
        # the names whose values are known only in an expansion: parameters, loop variables, `in`
        self.params = dict.fromkeys([*seen, "in"])
        self.first_call = getattr(d.body[0], "item", None) if d.body else None
        cycle = None if d.kind == "network" else self.cycle(d.name, (d.name,))
        if cycle:
            self.error("E402", f"block '{d.name}' calls itself ({' → '.join(cycle)})", d.span)
        self.body(d.body, [{}])

    def cycle(self, name: str, chain: tuple) -> tuple | None:
        for callee in dict.fromkeys(_calls(self.c.blocks[chain[-1]].body)):
            if callee == name:
                return (*chain, callee)
            if callee in self.c.blocks and callee not in chain and len(chain) < 100:
                found = self.cycle(name, (*chain, callee))
                if found:
                    return found
        return None

    def body(self, stmts, scopes: list[dict]) -> None:
        for stmt in stmts:
            if isinstance(stmt, If):
                self.names(stmt.cond, self.params, None)
                labels = dict(scopes[-1])
                for branch in (stmt.body, stmt.orelse):  # each branch may define the same labels
                    inner = [*scopes[:-1], dict(scopes[-1])]
                    self.body(branch, inner)
                    labels.update(inner[-1])
                scopes[-1].update(labels)
            else:
                self.stmt(stmt, scopes)

    def stmt(self, stmt: Stmt, scopes: list[dict]) -> None:
        label = stmt.label
        if stmt.output and not (self.network and len(scopes) == 1):
            self.error("E213", "output statements belong to the network's own body", stmt.item.span)
        if stmt.template is not None:  # a computed label: checked once computed
            for part in stmt.template:
                if not isinstance(part, str):
                    self.names(part, self.params, None)
            label = None
        if label is not None:
            what = "module name" if stmt.quoted else "label"
            self.guard(self.c._check_name, label, stmt.label_span, what)
            if label in scopes[-1]:
                self.error("E208", f"label '{label}' is used twice in this scope", stmt.label_span)
        self.item(stmt.item, scopes)
        if label is not None:
            scopes[-1][label] = stmt.label_span

    def item(self, item, scopes: list[dict]) -> None:
        if isinstance(item, Call):
            self.call(item, scopes)
        elif isinstance(item, For):
            self.names(item.iterable, self.params, None)
            outer = self.params
            self.params = {**outer, **dict.fromkeys(n for n, _ in target_names(item.target) if n != compiler.UNUSED)}
            try:
                self.body(item.body, scopes)
            finally:
                self.params = outer
        elif isinstance(item, Repeat):
            self.names(item.count, self.params, None)
            self.item(item.item, scopes)
        elif isinstance(item, Sequence):
            self.body(item.body, [*scopes, {}])
        elif isinstance(item, Residual):
            self.body(item.main, scopes)
            if item.shortcut_label is not None:
                self.guard(self.c._check_name, item.shortcut_label, item.shortcut_label_span, "label")
            if item.shortcut is not None:  # an inline one's statements are the enclosing scope's
                self.body(item.shortcut, scopes if item.shortcut_inline else [*scopes, {}])
        elif isinstance(item, Branches):
            if item.kind not in (*ops.MERGES, "inline"):
                merges = ", ".join(ops.MERGES)
                self.error(
                    "E200", f"'{item.kind} {{ ... }}' is not a construct: branches merge with {merges}; inline groups",
                    item.span, hint=did_you_mean(item.kind, (*ops.MERGES, "inline")),
                )  # fmt: skip
            self.body(item.body, scopes)

    def call(self, call: Call, scopes: list[dict]) -> None:
        if call.name in BUILTINS:
            return  # identity(): checked where it is expanded
        if call.name in ops.LAYERS:
            self.layer(call, scopes)
        elif call.name in self.c.blocks:
            self.block_call(call, self.c.blocks[call.name])
        else:
            hint = did_you_mean(call.name, [*ops.LAYERS, *BUILTINS, *self.c.blocks])
            self.error("E200", f"unknown layer or block '{call.name}'" + (f" — {hint}" if hint else ""), call.span)
            for a in (*call.args, *(k.value for k in call.kwargs)):
                self.names(a, self.params, None)

    def layer(self, call: Call, scopes: list[dict]) -> None:
        cls, fixed = ops.LAYERS[call.name]
        before = len(self.errors)
        if call.name == "input":
            if not (self.network and call is self.first_call):
                self.error("E211", "input(...) may only start a network", call.span)
            return
        if call.name in ops.MERGES:
            for a in call.args:
                if not isinstance(a, Name) or a.id in self.params:
                    self.error("E205", f"{call.name}(...) takes labels of earlier layers", a.span)
                elif not any(a.id in s for s in scopes):
                    hint = did_you_mean(a.id, [k for s in scopes for k in s])
                    self.error("E209", f"no earlier layer is labelled '{a.id}'", a.span, hint)
            return
        names = [n for n in ops.fields_of(cls) if n not in fixed]
        if len(call.args) > len(names):
            extra = call.args[len(names)]
            self.error("E203", f"{call.name} takes {len(names)} positional arguments, got {len(call.args)}", extra.span)
        given = dict(zip(names, call.args))
        for k in call.kwargs:
            if k.name not in names:
                hint = did_you_mean(k.name, names) or f"{call.name} takes: {', '.join(names) or 'no arguments'}"
                self.error("E201", f"{call.name} has no argument '{k.name}'", k.span, hint)
            elif k.name in given:
                self.error("E204", f"argument '{k.name}' of {call.name} is given twice", k.span)
            else:
                given[k.name] = k.value
        for field_name, expr in given.items():
            self.names(expr, self.params, choices(cls, field_name))
        if any(names_in(e) & self.params.keys() for e in given.values()) or len(self.errors) > before:
            return  # its values are known only once the block is called
        self.guard(self.constant_layer, call, cls, fixed, given)

    def constant_layer(self, call: Call, cls, fixed: dict, given: dict) -> None:
        """A layer whose arguments are all constants: built now, so that `strides=0` shows."""
        e = self.expansion
        values = {k: e.evaluate(v, self.consts) for k, v in given.items()}
        spans = {k: v.span for k, v in given.items()}
        e.make_op(call, cls, fixed, values, spans, self.consts)

    def block_call(self, call: Call, d: Definition) -> None:
        names = [p.name for p in d.params]
        what = f"block '{d.name}'"
        if len(call.args) > len(names):
            message = f"{what} takes {len(names)} positional arguments, got {len(call.args)}"
            self.error("E203", message, call.args[len(names)].span)
        given = set(names[: len(call.args)])
        for k in call.kwargs:
            if k.name not in names:
                self.error("E201", f"{what} has no parameter '{k.name}'", k.span, did_you_mean(k.name, names))
            elif k.name in given:
                self.error("E204", f"argument '{k.name}' of {what} is given twice", k.span)
            given.add(k.name)
        for p in d.params:
            if p.name not in given and p.default is None:
                self.error("E202", f"{what} needs the argument '{p.name}'", call.span)
        for a in (*call.args, *(k.value for k in call.kwargs)):
            self.names(a, self.params, None)

    def names(self, expr, params, choices) -> None:
        """Names in an expression: parameters, or words such as `same` (E206 for any other)."""
        for name in _name_nodes(expr):
            if name.id in params or name.id in compiler.WORDS or name.id in self.consts or name.id in (choices or ()):
                continue
            w = Word(name.id)
            w.span = name.span
            self.errors.append(self.expansion.unknown_name(w, dict.fromkeys(params)))


def _name_nodes(expr, bound: frozenset = frozenset()):
    """The names an expression reads, but those its comprehensions bind (`n` in `sum(n for _, n in t)`)."""
    if isinstance(expr, Name):
        if expr.id not in bound:
            yield expr
        return
    if isinstance(expr, Comprehension):
        yield from _name_nodes(expr.iterable, bound)
        inner = bound | {n for n, _ in target_names(expr.target) if n != compiler.UNUSED}
        yield from _name_nodes(expr.item, inner)
        yield from _name_nodes(expr.cond, inner)
        return
    for f in getattr(expr, "__dataclass_fields__", ()):
        value = getattr(expr, f)
        for v in value if isinstance(value, tuple) else (value,):
            yield from _name_nodes(v.value if isinstance(v, Kwarg) else v, bound)
