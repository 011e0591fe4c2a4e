"""`cnndsl lsp`: a Language Server over standard input and output, built on pygls.

Every change of a document is checked as `cnndsl check` checks a file (the unsaved text; imports read from
disk next to it) and its errors published as diagnostics, with their codes and hints. The compiled networks
answer hovers: a statement shows its output shape, parameters, multiply-adds and receptive field (for each
instance, inside a block); a layer or argument name shows its documentation and default; a loop's, a
generator's or a function's variable, what binds it. Definitions (blocks, labels, imports, parameters, loop
and generator variables), completion (layers, blocks, arguments, labels), the outline and formatting
(`cnndsl fmt`) complete it.

`Analysis` and the functions below it know nothing of the protocol's transport; `server()` wires them to
pygls, which is imported only here (`pip install 'cnndsl[lsp]'`).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import __version__, ops
from .compiler import BUILTINS, FUNCTIONS, INPUT_SIZES, UNUSED, WORDS, Compiler
from .errors import CnnDslError, Span
from .ir import Network, Node
from .project import check_compiled, network_definitions, recovered
from .summary import describe, scope_totals
from .syntax import (
    Branches,
    Call,
    Comprehension,
    Definition,
    FnDef,
    For,
    If,
    Kwarg,
    Module,
    Name,
    Repeat,
    Residual,
    Sequence,
    Stmt,
    keywords,
    target_names,
)
from .util import without_gc

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INPUT_SIZE = re.compile(r"\bin\.[A-Za-z_]*$")  # `in.` typed: the sizes of a block's input follow


@dataclass
class Analysis:
    """One version of a document: its errors, its syntax tree and its compiled networks."""

    text: str
    path: str
    errors: list[CnnDslError] = field(default_factory=list)
    module: Module | None = None  # None after a syntax error
    compiler: Compiler | None = None
    networks: list[Network] = field(default_factory=list)
    _at: dict | None = None  # (line, column) -> [(network, node)], built on the first hover
    _bound: dict | None = None  # (line, column) of a name -> the Binding it reads (bound_names)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def nodes_at(self, line: int, column: int) -> list[tuple[Network, Node]]:
        if self._at is None:
            self._at = {}
            for net in self.networks:
                for n in net.nodes:
                    if n.span is not None and n.span.path == self.path:
                        self._at.setdefault((n.span.line, n.span.column), []).append((net, n))
        return self._at.get((line, column), [])

    def binding_at(self, line: int, column: int) -> Binding | None:
        """What binds the name written at a (1-based) position: a loop, a generator or a function."""
        if self._bound is None:
            self._bound = bound_names(self)
        return self._bound.get((line, column))


@without_gc  # as the compiler's own entry points: the collector's passes cost as much as the work
def analyse(text: str, path: str) -> Analysis:
    """Check a document's text as `cnndsl check` would check the file at `path`."""
    a = Analysis(text, path)
    c = Compiler()
    try:
        c.add_text(text, path)
        a.module, a.compiler = _module_of(c, path), c
        a.networks, a.errors, _ = check_compiled(c, path)
    except CnnDslError as e:
        a.errors = recovered(c, e)
        if c.blocks or network_definitions(c):
            a.compiler = c
    return a


def _module_of(c: Compiler, path: str) -> Module:
    definitions = tuple(d for d in (*c.blocks.values(), *network_definitions(c)) if d.span.path == path)
    return Module(path, (), tuple(sorted(definitions, key=lambda d: (d.span.line, d.span.column))))


# --- positions ---------------------------------------------------------------------------------------


def word_at(text_line: str, character: int) -> tuple[str, int] | None:
    """The name under the cursor (0-based character) and where it starts."""
    for m in _WORD.finditer(text_line):
        if m.start() <= character <= m.end():
            return m.group(), m.start()
    return None


def error_range(e: CnnDslError, lines: list[str]) -> tuple[int, int, int]:
    """(line, start, end), 0-based: the word or character the error points at."""
    line = max(0, e.line - 1)
    start = max(0, e.column - 1)
    text = lines[line] if line < len(lines) else ""
    m = re.compile(r"[A-Za-z_0-9.]+|\S").match(text, start)
    return line, start, m.end() if m else start + 1


def enclosing_call(text_line: str, character: int) -> tuple[str, list[str]] | None:
    """The layer or block whose parentheses hold the cursor, and the keywords already given."""
    before = text_line[:character]
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        ch = before[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", before[:i])
                if not m:
                    return None
                given = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", before[i:])
                return m.group(1), given
            depth -= 1
    return None


# --- the syntax tree ---------------------------------------------------------------------------------


def _flat(stmts):
    """The statements of a body, those under `if`/`else` and an unlabelled `for` included (they run in the
    enclosing scope, as the compiler runs them)."""
    for s in stmts:
        if isinstance(s, If):
            yield from _flat(s.body)
            yield from _flat(s.orelse)
        elif isinstance(s.item, For) and s.label is None and not s.output:
            yield from _flat(s.item.body)
        else:
            yield s


def statements(stmts, depth: int = 0):
    """(statement, depth) of a body and of every body nested in it, in order."""
    for s in _flat(stmts):
        yield s, depth
        yield from statements(_bodies(s.item), depth + 1)


def _bodies(item) -> list:
    if isinstance(item, Repeat):
        return _bodies(item.item)
    if isinstance(item, Sequence | Branches | For):  # a labelled `for`: a sequence of its own
        return list(item.body)
    if isinstance(item, Residual):
        return [*item.main, *(item.shortcut or ())]
    return []


def _calls(item):
    if isinstance(item, Call):
        yield item
    elif isinstance(item, Repeat):
        yield from _calls(item.item)
    for s in _flat(_bodies(item)) if not isinstance(item, Repeat) else ():
        yield from _calls(s.item)


def definition_at(a: Analysis, line: int) -> Definition | None:
    """The block or network whose text holds the (1-based) line."""
    found = None
    for d in a.module.definitions if a.module else ():
        if d.span.line <= line:
            found = d
    return found


def labels_before(d: Definition, line: int, column: int) -> list[Stmt]:
    return [
        s
        for s, _ in statements(d.body)
        if s.label is not None and (s.label_span.line, s.label_span.column) < (line, column)
    ]


def body_end(text: str, lines: list[str], line: int, column: int) -> tuple[int, int]:
    """The 1-based (line, column) just past the `}` that closes the first `{` from a position on."""
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + column - 1
    depth, i = 0, offset
    while i < len(text):
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i)
            if i < 0:
                break
        elif ch == '"':
            i = text.find('"', i + 1)
            if i < 0:
                break
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                before = text[: i + 1]
                return before.count("\n") + 1, i + 1 - (before.rfind("\n") + 1) + 1
        i += 1
    return len(lines), len(lines[-1]) + 1 if lines else 1


# --- names bound by loops, generators and functions -------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """A loop variable (`c` in `for c, n in stages { }`), a generator's (`n` in `sum(n for _, n in stages)`) or
    a parameter of a `def`: where it is bound, and by what (the `for` keyword of the loop or the generator)."""

    name: str
    span: Span
    kind: str  # "loop", "generator" or "function"
    binder: Span


def bound_names(a: Analysis) -> dict[tuple[int, int], Binding]:
    """(line, column) -> Binding of every name of the file that a loop, a generator or a function binds: where
    it is bound and where it is read. Expressions are walked with a stack, not recursion (a long sum nests)."""
    out: dict[tuple[int, int], Binding] = {}
    todo: list[tuple[object, dict]] = []  # (syntax node or tuple of them, the names in scope there)

    def bind(target, kind: str, binder: Span, scope: dict) -> dict:
        inner = dict(scope)
        for name, span in target_names(target):
            if name != UNUSED:
                inner[name] = out[(span.line, span.column)] = Binding(name, span, kind, binder)
        return inner

    for d in a.module.definitions if a.module else ():
        todo.append((d.body, {}))
    for f in a.compiler.lets.values() if a.compiler else ():
        if isinstance(f, FnDef) and f.span.path == a.path:
            scope = {}
            for p in f.params:
                scope[p.name] = out[(p.span.line, p.span.column)] = Binding(p.name, p.span, "function", f.span)
            todo += [(p.default, scope) for p in f.params] + [(f.body, scope)]
    while todo:
        node, scope = todo.pop()
        if isinstance(node, tuple):
            todo += [(n, scope) for n in node]
        elif isinstance(node, Name):
            if node.id in scope:
                out[(node.span.line, node.span.column)] = scope[node.id]
        elif isinstance(node, For):
            todo += [(node.iterable, scope), (node.body, bind(node.target, "loop", node.span, scope))]
        elif isinstance(node, Comprehension):
            inner = bind(node.target, "generator", node.span, scope)
            todo += [(node.iterable, scope), (node.item, inner), (node.cond, inner)]
        elif isinstance(node, Kwarg):
            todo.append((node.value, scope))
        elif isinstance(node, Stmt):
            todo += [(node.template or (), scope), (node.item, scope)]
        elif hasattr(node, "__dataclass_fields__") and not isinstance(node, Span):
            todo += [(getattr(node, f), scope) for f in node.__dataclass_fields__]  # calls, bodies, operators
    return out


def _binding_doc(a: Analysis, b: Binding) -> str:
    """`c`: loop variable of `for c, n in stages` (line 12)."""
    text = a.lines[b.binder.line - 1] if 0 < b.binder.line <= len(a.lines) else ""
    start = b.binder.column - 1
    if b.kind == "function":  # the binder is the function's name
        name = _WORD.match(text, start)
        what = f"parameter of `def {name.group() if name else '…'}`"
    elif b.kind == "loop":  # the header, up to the body's `{`
        what = f"loop variable of `{text[start:].split('{', 1)[0].strip()}`"
    else:  # from `for` to the `)` that closes the generator's call
        depth, end = 0, len(text)
        for i in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth < 0:
                end = i
                break
        what = f"loop variable of the generator `{text[start:end].strip()}`"
    return f"`{b.name}`: {what}, line {b.binder.line}"


# --- hover -------------------------------------------------------------------------------------------


def hover(a: Analysis, line: int, character: int) -> str | None:
    """Markdown for the name at a 0-based position: a statement's shapes and costs, or a name's documentation."""
    lines = a.lines
    if line >= len(lines):
        return None
    found = word_at(lines[line], character)
    if not found:
        return None
    word, start = found
    where = (line + 1, start + 1)
    bound = a.binding_at(*where)
    if bound is not None:
        return _binding_doc(a, bound)
    d = definition_at(a, line + 1)
    stmt = _statement_at(d, where) if d else None
    call = enclosing_call(lines[line], start)
    if stmt is not None:
        text = _statement_hover(a, stmt)
        if text and word in ops.LAYERS and _followed_by_paren(lines[line], start + len(word)):
            return text + "\n\n---\n" + _layer_doc(word)
        if text:
            return text
    if call and call[0] in ops.LAYERS and _followed_by_equals(lines[line], start + len(word)):
        return _argument_doc(call[0], word)
    if word in ops.LAYERS and _followed_by_paren(lines[line], start + len(word)):
        return _layer_doc(word)
    if a.compiler and word in a.compiler.blocks:
        return _block_doc(a, a.compiler.blocks[word])
    if d is not None and any(p.name == word for p in d.params):
        p = next(p for p in d.params if p.name == word)
        return f"parameter `{word}` of {d.kind} `{d.name}`" + (" (required)" if p.default is None else "")
    return None


def _followed_by_equals(text: str, end: int) -> bool:
    return text[end:].lstrip().startswith("=")


def _followed_by_paren(text: str, end: int) -> bool:
    return text[end:].lstrip()[:1] in ("(", "{")


def _statement_at(d: Definition, where: tuple[int, int]) -> Stmt | None:
    """The statement whose label, keyword or call starts at a (1-based) position."""
    for s, _ in statements(d.body):
        spans = [s.label_span, getattr(s.item, "span", None)]
        if isinstance(s.item, Repeat):
            spans.append(getattr(s.item.item, "span", None))
        if any(span and (span.line, span.column) == where for span in spans):
            return s
    return None


def _statement_hover(a: Analysis, s: Stmt) -> str | None:
    item = s.item
    span = item.span
    if isinstance(item, Repeat):
        span = item.item.span if not isinstance(item.item, Sequence) else item.span
    found = a.nodes_at(span.line, span.column)
    if found:
        return _nodes_hover(found)
    scopes = [(net, sc) for net in a.networks for sc in net.scopes if sc.span and sc.span.path == a.path
              and (sc.span.line, sc.span.column) == (span.line, span.column)]  # fmt: skip
    if scopes:
        return _scopes_hover(scopes)
    return None


def _nodes_hover(found: list[tuple[Network, Node]]) -> str:
    from .receptive import describe as describe_field
    from .receptive import receptive_fields

    fields = {}
    out = []
    net, first = found[0]
    out.append(f"**{describe(first.op)}**" + (f" — {len(found)} instances" if len(found) > 1 else ""))
    out.append("")
    for net, n in found[:12]:
        if net.name not in fields:
            fields[net.name] = receptive_fields(net)
        size, jump, _ = describe_field(fields[net.name][n.id])
        rf = f", receptive field {size}" + (f" (jump {jump})" if jump else "") if size else ""
        macs = "?" if n.macs is None else f"{n.macs:,}"
        out.append(f"- `{n.name}`: {ops.shape_str(n.shape)}, {n.params:,} params, {macs} multiply-adds{rf}")
    if len(found) > 12:
        out.append(f"- … and {len(found) - 12} more")
    return "\n".join(out)


def _scopes_hover(scopes) -> str:
    out = []
    totals = {}
    for net, sc in scopes[:12]:
        if net.name not in totals:
            totals[net.name] = scope_totals(net)
        params, macs = totals[net.name][sc.id]
        shape = ops.shape_str(net.nodes[sc.output].shape) if sc.output is not None else "?"
        what = f"{sc.block}(" + ", ".join(f"{k}={v}" for k, v in sc.args.items()) + ")" if sc.block else sc.kind
        macs_text = "?" if macs is None else f"{macs:,}"
        out.append(f"- `{sc.name}` {what}: {shape}, {params:,} params, {macs_text} multiply-adds")
    if len(scopes) > 12:
        out.append(f"- … and {len(scopes) - 12} more")
    return "\n".join(out)


@cache
def _field_comments(cls) -> dict[str, str]:
    """The comments written after each field of an op class in ops.py."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+): [^\n#]*# ([^\n]*)$", source, re.M)}


def _fields(name: str) -> list[tuple[str, str, str]]:
    """(argument, default, comment) of a layer, in the order a call takes them."""
    cls, fixed = ops.LAYERS[name]
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    out = []
    for arg in ops.fields_of(cls):
        if arg in fixed:
            continue
        f = by_name[arg]
        if f.default is not dataclasses.MISSING:
            default = _literal(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = _literal(f.default_factory())
        else:
            default = "required"
        out.append((arg, default, _field_comments(cls).get(arg, "")))
    return out


def _literal(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _layer_doc(name: str) -> str:
    cls, _ = ops.LAYERS[name]
    args = ", ".join(a if d == "required" else f"{a}={d}" for a, d, _ in _fields(name))
    lines = [f"```cnn\n{name}({args})\n```", inspect.cleandoc(cls.__doc__ or "")]
    rows = [f"| `{a}` | {d} | {c} |" for a, d, c in _fields(name)]
    if rows:
        lines += ["", "| argument | default | |", "|---|---|---|", *rows]
    return "\n".join(lines)


def _argument_doc(layer: str, arg: str) -> str | None:
    for a, d, c in _fields(layer):
        if a == arg:
            return f"`{arg}` of `{layer}`: default {d}" + (f" — {c}" if c else "")
    return None


def _block_doc(a: Analysis, d: Definition) -> str:
    params = ", ".join(p.name if p.default is None else f"{p.name} = …" for p in d.params)
    lines = a.lines if d.span.path == a.path else _read_lines(d.span.path)
    comments = []
    i = d.span.line - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#"):
        comments.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    header = (
        lines[d.span.line - 1].strip().rstrip("{").strip()
        if 0 < d.span.line <= len(lines)
        else f"block {d.name}({params})"
    )
    where = "" if d.span.path == a.path else f"\n\n{d.span.path}:{d.span.line}"
    return f"```cnn\n{header}\n```\n" + " ".join(comments) + where


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


# --- go to definition ------------------------------------------------------------------------------


def definition(a: Analysis, line: int, character: int) -> tuple[str, int, int] | None:
    """(path, 1-based line, 1-based column) where the name at a position is defined."""
    lines = a.lines
    if line >= len(lines):
        return None
    m = re.search(r'import\s*"([^"]*)"', lines[line])
    if m and m.start(1) - 1 <= character <= m.end(1) + 1:
        target = Path(a.path).parent / m.group(1)
        return (str(target.resolve()), 1, 1) if target.is_file() else None
    found = word_at(lines[line], character)
    if not found:
        return None
    word, start = found
    bound = a.binding_at(line + 1, start + 1)
    if bound is not None:  # a loop's, a generator's or a function's variable
        return bound.span.path, bound.span.line, bound.span.column
    d = definition_at(a, line + 1)
    call = enclosing_call(lines[line], start)
    if d is not None and call and call[0] in ops.MERGES:  # concat(enc1): the labelled statement
        for s in reversed(labels_before(d, line + 1, start + 1)):
            if s.label == word:
                return s.label_span.path, s.label_span.line, s.label_span.column
    if a.compiler and word in a.compiler.blocks and _followed_by_paren(lines[line], start + len(word)):
        span = a.compiler.blocks[word].span
        return span.path, span.line, span.column
    if d is not None:
        for p in d.params:
            if p.name == word:
                return p.span.path, p.span.line, p.span.column
    return None


# --- completion --------------------------------------------------------------------------------------


def completions(a: Analysis, line: int, character: int) -> list[tuple[str, str, str]]:
    """(label, kind, detail): kind is one of layer, block, argument, label, keyword, value, function,
    constant, size. Each list comes from where the language defines it: the op registry, the grammar's
    keywords, the compiler's built-in functions and input sizes, the file's blocks, constants and functions."""
    lines = a.lines
    text = lines[line] if line < len(lines) else ""
    if _INPUT_SIZE.search(text[:character]):
        return [(n, "size", f"of the block's input ({rank}-d)") for rank, ns in INPUT_SIZES.items() for n in ns]
    call = enclosing_call(text, character)
    blocks = a.compiler.blocks if a.compiler else {}
    if call:
        name, given = call
        d = definition_at(a, line + 1)
        if name in ops.MERGES:
            stmts = labels_before(d, line + 1, character + 1) if d else []
            return [(s.label, "label", f"line {s.label_span.line}") for s in stmts]
        if name in ops.LAYERS:
            out = [(f, "argument", f"default {default}") for f, default, _ in _fields(name) if f not in given]
            return out + [(w, "value", "") for w in sorted(WORDS)] + _expression_words(a)
        if name in blocks:
            return [(p.name, "argument", "") for p in blocks[name].params if p.name not in given] + _expression_words(a)
        return _expression_words(a)
    out = [
        (name, "layer", (inspect.cleandoc(ops.LAYERS[name][0].__doc__ or "").split("\n") or [""])[0])
        for name in ops.LAYERS
    ]
    out += [(name, "layer", "the current tensor, unchanged: a branch of a merge") for name in BUILTINS]
    out += [(name, "block", f"block {name}") for name in blocks]
    out += [(k, "keyword", "") for k in (*keywords(), *ops.MERGES, "inline")]
    return out + _expression_words(a)


def _expression_words(a: Analysis) -> list[tuple[str, str, str]]:
    """What an expression may call or name besides parameters: built-in functions, and the constants and
    functions of the file (and of the files it imports)."""
    out = [(name, "function", f"built-in, {_arity(low, high)}") for name, (low, high, _) in FUNCTIONS.items()]
    for name, d in (a.compiler.lets if a.compiler else {}).items():
        out.append((name, "function", f"def {name}") if isinstance(d, FnDef) else (name, "constant", f"let {name}"))
    return out


def _arity(low: int, high: int) -> str:
    if low == high:
        return f"{low} argument" + "s" * (low != 1)
    return f"{low} to {high} arguments"


# --- outline ---------------------------------------------------------------------------------------


@dataclass
class Symbol:
    name: str
    kind: str  # network, block, label
    line: int  # 1-based start
    column: int
    end_line: int
    end_column: int
    children: list[Symbol] = field(default_factory=list)


def symbols(a: Analysis) -> list[Symbol]:
    out = []
    lines = a.lines
    for d in a.module.definitions if a.module else ():
        end = body_end(a.text, lines, d.span.line, d.span.column)
        sym = Symbol(d.name, d.kind, d.span.line, d.span.column, *end)
        sym.children = _label_symbols(d.body, a, lines)
        out.append(sym)
    return out


def _label_symbols(stmts, a: Analysis, lines) -> list[Symbol]:
    out = []
    for s in _flat(stmts):
        children = _label_symbols(_bodies(s.item), a, lines)
        if s.label is None:
            out += children
            continue
        ln, col = s.label_span.line, s.label_span.column
        if _bodies(s.item):  # from the item: a computed label (`layer{i + 1}`) has braces of its own
            end = body_end(a.text, lines, s.item.span.line, s.item.span.column)
        else:
            end = (ln, len(lines[ln - 1]) + 1)
        out.append(Symbol(s.label, "label", ln, col, *end, children))
    return out


# --- the server ------------------------------------------------------------------------------------


def server():
    """The pygls server with every feature registered."""
    from lsprotocol import types as t
    from pygls.lsp.server import LanguageServer
    from pygls.uris import to_fs_path

    ls = LanguageServer("cnndsl", __version__)
    analyses: dict[str, Analysis] = {}
    last_good: dict[str, Analysis] = {}  # the last version that parsed: completion and outline while typing

    def path_of(uri: str) -> str:
        path = to_fs_path(uri) if uri.startswith("file:") else None
        return os.path.abspath(path) if path else os.path.join(os.getcwd(), "untitled.cnn")

    def current(uri: str) -> Analysis:
        doc = ls.workspace.get_text_document(uri)
        a = analyses.get(uri)
        if a is None or a.text != doc.source:
            a = analyses[uri] = analyse(doc.source, path_of(uri))
            if a.module is not None:
                last_good[uri] = a
        return a

    def structural(uri: str) -> Analysis:
        a = current(uri)
        return a if a.module is not None else last_good.get(uri, a)

    def publish(uri: str) -> None:
        a = current(uri)
        lines = a.lines
        diagnostics = []
        for e in a.errors:
            if e.path == a.path:
                line, start, end = error_range(e, lines)
            else:  # an error in an imported file: shown on the first line, with its own location
                line, start, end = 0, 0, len(lines[0]) if lines else 0
            message = e.message if e.path == a.path else f"{e.path}:{e.line}:{e.column}: {e.message}"
            diagnostics.append(
                t.Diagnostic(
                    range=t.Range(start=t.Position(line, start), end=t.Position(line, end)),
                    message=message + e.found_in + (f"\nhint: {e.hint}" if e.hint else ""),
                    severity=t.DiagnosticSeverity.Error,
                    code=e.code,
                    source="cnndsl",
                )  # fmt: skip
            )
        version = ls.workspace.get_text_document(uri).version
        ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    @ls.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: t.DidOpenTextDocumentParams):
        publish(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: t.DidChangeTextDocumentParams):
        publish(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: t.DidSaveTextDocumentParams):
        publish(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: t.DidCloseTextDocumentParams):
        analyses.pop(params.text_document.uri, None)
        last_good.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @ls.feature(t.TEXT_DOCUMENT_HOVER)
    def on_hover(params: t.HoverParams):
        a = current(params.text_document.uri)
        value = hover(a, params.position.line, params.position.character)
        if value is None and a.module is None:
            value = hover(structural(params.text_document.uri), params.position.line, params.position.character)
        if value is None:
            return None
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=value))

    @ls.feature(t.TEXT_DOCUMENT_DEFINITION)
    def on_definition(params: t.DefinitionParams):
        a = structural(params.text_document.uri)
        found = definition(a, params.position.line, params.position.character)
        if found is None:
            return None
        path, line, column = found
        position = t.Position(line - 1, column - 1)
        return t.Location(uri=Path(path).resolve().as_uri(), range=t.Range(start=position, end=position))

    kinds = {
        "layer": t.CompletionItemKind.Function, "block": t.CompletionItemKind.Class,
        "argument": t.CompletionItemKind.Property, "label": t.CompletionItemKind.Reference,
        "keyword": t.CompletionItemKind.Keyword, "value": t.CompletionItemKind.EnumMember,
        "function": t.CompletionItemKind.Function, "constant": t.CompletionItemKind.Constant,
        "size": t.CompletionItemKind.Property,
    }  # fmt: skip

    @ls.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=["(", ",", " "]))
    def on_completion(params: t.CompletionParams):
        a = structural(params.text_document.uri)
        doc = ls.workspace.get_text_document(params.text_document.uri)
        live = Analysis(doc.source, a.path, module=a.module, compiler=a.compiler)  # the text as typed, the last tree
        items = [
            t.CompletionItem(label=label, kind=kinds[kind], detail=detail or None,
                             insert_text=f"{label}=" if kind == "argument" else None)
            for label, kind, detail in completions(live, params.position.line, params.position.character)
        ]  # fmt: skip
        return t.CompletionList(is_incomplete=False, items=items)

    symbol_kinds = {"network": t.SymbolKind.Class, "block": t.SymbolKind.Function, "label": t.SymbolKind.Field}

    def to_lsp(s: Symbol) -> t.DocumentSymbol:
        start = t.Position(s.line - 1, s.column - 1)
        return t.DocumentSymbol(
            name=s.name, kind=symbol_kinds[s.kind], detail=s.kind,
            range=t.Range(start=start, end=t.Position(s.end_line - 1, s.end_column - 1)),
            selection_range=t.Range(start=start, end=t.Position(s.line - 1, s.column - 1 + len(s.name))),
            children=[to_lsp(c) for c in s.children],
        )  # fmt: skip

    @ls.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(params: t.DocumentSymbolParams):
        return [to_lsp(s) for s in symbols(structural(params.text_document.uri))]

    @ls.feature(t.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(params: t.DocumentFormattingParams):
        from .fmt import format_text

        doc = ls.workspace.get_text_document(params.text_document.uri)
        try:
            formatted = format_text(doc.source)
        except CnnDslError:
            return None  # the diagnostics already show why
        if formatted == doc.source:
            return []
        end = t.Position(len(doc.lines), 0)
        return [t.TextEdit(range=t.Range(start=t.Position(0, 0), end=end), new_text=formatted)]

    return ls


def main() -> int:
    server().start_io()
    return 0
