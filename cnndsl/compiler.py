"""Syntax tree to IR: resolve imports, expand blocks and repetitions, infer every shape.

One pass over the statements of a network, in order. Each statement takes the current tensor (a node
id) and returns the next one; each node's shape, parameters and multiply-adds are computed as the node
is created, so the work is linear in the size of the expanded network.

Naming follows torch.nn.Sequential: inside a scope every statement takes the next index, and a
statement is named by its label if it has one, else by that index. `residual` and `concat {}`/`add {}`
are transparent: their statements are numbered in the enclosing scope, then the merge node is.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import keyword
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import expr, ops
from .errors import CnnDslError, Span
from .ir import Network, Node, Scope
from .syntax import (
    BinOp,
    Branches,
    Call,
    Const,
    Definition,
    Module,
    Name,
    Neg,
    Open,
    Repeat,
    Residual,
    Sequence,
    Stmt,
    TupleExpr,
    parse,
    parse_file,
)  # fmt: skip
from .util import literal, without_gc

MAX_NODES = 1_000_000  # default budget of expanded nodes per network
MAX_DEPTH = 100  # nesting of scopes, block calls and expressions
MAX_BYTES = 1 << 20  # a .cnn file read from disk (text given to the API is the caller's to bound): a
# network takes a few kilobytes, and the parser reads some 200 kB a second
MAX_INT = 2**53  # values beyond this are typos, and would make shape arithmetic slow
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# A quoted label: a module name that need not be an identifier (RegNet's "block1-0"), but that every backend
# can still write as a string: letters, digits, `_` and `-`, and not only digits (those are positions).
_MODULE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# Calls the compiler itself handles: they make no node.
BUILTINS = ("identity",)


class Word(str):
    """A bare name that is not a parameter: an enum value such as `same`, `relu`, `nearest`."""

    span: Span


@dataclass
class Frame:
    """The scope being filled during expansion."""

    scope: int
    prefix: str  # "layer2.0." ("" at the network's top level)
    env: dict  # parameter values
    labels: dict = field(default_factory=dict)  # label -> node id, visible in nested sequences
    shortcuts: set = field(default_factory=set)  # shortcut labels: names of sequences, so no label may repeat one
    outer: Frame | None = None  # enclosing frame of the same block instance, for label lookup
    counter: int = 0

    def take(self, label: str | None) -> str:
        """The local name of the next statement: its label, or its position."""
        index = self.counter
        self.counter += 1
        return label if label is not None else str(index)

    def lookup(self, label: str) -> int | None:
        frame = self
        while frame is not None:
            if label in frame.labels:
                return frame.labels[label]
            frame = frame.outer
        return None

    def visible_labels(self) -> list[str]:
        names, frame = [], self
        while frame is not None:
            names += frame.labels
            frame = frame.outer
        return names


def _did_you_mean(name: str, candidates) -> str | None:
    import difflib  # only for errors

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.7)  # 0.6 offers concat for frobnicate
    return f"did you mean '{close[0]}'?" if close else None


def _ir_expr(e) -> expr.Expr | None:
    """A syntax tree's expression as the IR keeps it (cnndsl/expr.py); None for one it has no form for, or
    that nests deeper than expr.MAX_DEPTH (a flat sum of 5,000 terms): the backends write its value."""
    spine = []  # a left-leaning chain, `1 + 1 - 2 + ...`, walked in a loop rather than by recursion
    while isinstance(e, BinOp):
        spine.append(e)
        e = e.left
    if spine:
        left = _ir_expr(e)
        for b in reversed(spine):
            right = _ir_expr(b.right) if left is not None else None
            if right is None or len(spine) > expr.MAX_DEPTH:
                return None
            left = expr.BinOp(op=b.op, left=left, right=right)
        return left if expr.depth(left) <= expr.MAX_DEPTH else None
    if isinstance(e, Const):
        return expr.Const(value=e.value) if type(e.value) in (bool, int, float, str) else None
    if isinstance(e, Name):
        return expr.Param(name=e.id)
    parts = [e.operand] if isinstance(e, Neg) else list(e.items) if isinstance(e, TupleExpr) else []
    converted = [_ir_expr(p) for p in parts]
    if not parts or None in converted:
        return None
    out = expr.Neg(operand=converted[0]) if isinstance(e, Neg) else expr.Tuple(items=tuple(converted))
    return out if expr.depth(out) <= expr.MAX_DEPTH else None


def _exprs(given, env) -> dict:
    """The arguments written with the caller's parameters, as IR expressions."""
    out = {p: _ir_expr(a) for p, a in given if _names_in(a) & env.keys()}
    return {p: e for p, e in out.items() if e is not None}


_GROUP = {"+": 0, "-": 0, "*": 1, "/": 1, "//": 1, "%": 1}  # operators of one precedence level


def _chain(expr: BinOp) -> tuple[object, list[tuple[str, object]]]:
    """A left-leaning chain of operators of one precedence level, `1 + 1 - 2 + ...`, as its first operand
    and the (operator, operand) pairs after it: a flat sum is walked in a loop, not nested recursion (and
    counts as one level of nesting, not one per term)."""
    rest = []
    group = _GROUP[expr.op]
    while isinstance(expr, BinOp) and _GROUP[expr.op] == group:
        rest.append((expr.op, expr.right))
        expr = expr.left
    return expr, rest[::-1]


def _names_in(expr) -> set[str]:
    if isinstance(expr, Name):
        return {expr.id}
    if isinstance(expr, BinOp):
        first, rest = _chain(expr)
        return _names_in(first).union(*(_names_in(right) for _, right in rest))
    if isinstance(expr, Neg):
        return _names_in(expr.operand)
    if isinstance(expr, TupleExpr):
        return set().union(*(_names_in(i) for i in expr.items))
    return set()


class Compiler:
    """Compiles the networks of one source file (and the blocks it imports)."""

    def __init__(self, max_nodes: int = MAX_NODES, import_paths: tuple[str, ...] = ()):
        self.max_nodes = max_nodes
        self.import_paths = [Path(p).resolve() for p in import_paths]
        self.blocks: dict[str, Definition] = {}
        self.networks: dict[str, Definition] = {}  # by name, in the order of the file
        self.sources: dict[str, list[str]] = {}  # path -> lines, for the caret under errors
        self._root: Path | None = None
        self._imported: set[str] = set()  # resolved paths already read: a diamond import reads a file once

    # --- reading files ---------------------------------------------------------------------------

    @without_gc
    def add_text(self, text: str, path: str = "<string>") -> None:
        text = text.removeprefix("\ufeff")
        self.sources[path] = text.splitlines()
        module = self._guard(lambda: parse(text, path))
        self._root = Path(path).resolve().parent if path != "<string>" else Path.cwd()
        self._add_module(module, top=True, chain=(str(Path(path).resolve()),) if path != "<string>" else ())

    @without_gc
    def add_file(self, path: str | Path) -> None:
        p = Path(path)
        # Shown in messages and the IR as given, but as valid UTF-8: the undecodable bytes of a file name
        # (os.fsdecode's surrogates) as escapes, which the IR's JSON and ONNX's strings can hold.
        path = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
        if not p.is_file():
            what = "it is a directory" if p.is_dir() else "not a regular file" if p.exists() else "no such file"
            raise CnnDslError("E400", f"cannot read '{path}': {what}", path, 0, 0)  # no place in it to point at
        self._root = p.resolve().parent
        module = self._read(p, path)
        self._add_module(module, top=True, chain=(str(p.resolve()),))

    def _read(self, p: Path, shown: str) -> Module:
        try:
            size = p.stat().st_size
            if size > MAX_BYTES:
                raise _too_large(shown, size)
            raw = p.read_bytes()
        except OSError as e:
            raise CnnDslError("E400", f"cannot read '{shown}': {e.strerror}", shown, 1, 1) from None
        self.sources[shown] = raw.decode("utf-8", errors="replace").removeprefix("\ufeff").splitlines()
        return self._guard(lambda: parse_file(p, shown))

    def _guard(self, fn):
        try:
            return fn()
        except CnnDslError as e:
            self._attach_source(e)
            raise

    def _attach_source(self, e: CnnDslError) -> None:
        if e.source_line is None and e.path in self.sources:
            lines = self.sources[e.path]
            if 0 < e.line <= len(lines):
                e.source_line = lines[e.line - 1]

    def _error(self, code: str, message: str, span: Span, hint: str | None = None) -> CnnDslError:
        e = CnnDslError(code, message, span.path, span.line, span.column, hint=hint)
        self._attach_source(e)
        return e

    def _add_module(self, module: Module, top: bool, chain: tuple[str, ...]) -> None:
        for imp in module.imports:
            self._import(imp, module.path, chain)
        for d in module.definitions:
            if d.kind == "block":
                self._check_name(d.name, d.span, "block")
                if d.name in ops.LAYERS or d.name in BUILTINS:
                    raise self._error("E207", f"block '{d.name}' has the name of a built-in layer", d.span)
                if d.name in self.blocks:
                    other = self.blocks[d.name].span
                    raise self._error(
                        "E207", f"block '{d.name}' is defined twice", d.span,
                        hint=f"the first definition is at {other.path}:{other.line}:{other.column}",
                    )  # fmt: skip
                self.blocks[d.name] = d
            elif top:
                self._check_name(d.name, d.span, "network")
                if d.name in self.networks:
                    raise self._error("E207", f"network '{d.name}' is defined twice", d.span)
                self.networks[d.name] = d

    def _import(self, imp, importer: str, chain: tuple[str, ...]) -> None:
        base = Path(chain[-1]).parent if chain else Path.cwd()  # the importer's real path (`importer` is as shown)
        named = imp.path if len(imp.path) <= 200 else imp.path[:200] + "..."
        try:
            target = (base / imp.path).resolve()
            allowed = [self._root, *self.import_paths]
            if not any(target == a or a in target.parents for a in allowed if a is not None):
                raise self._error(
                    "E400", f"import '{named}' leaves the directory of the file being compiled", imp.span,
                    hint="allow another directory with --import-path",
                )  # fmt: skip
            if str(target) in chain:
                cycle = " → ".join(Path(c).name for c in (*chain[chain.index(str(target)) :], str(target)))
                raise self._error("E401", f"import cycle: {cycle}", imp.span)
            if not target.is_file():
                what = "is a directory" if target.is_dir() else "does not exist"
                what = "is not a regular file" if target.exists() and not target.is_dir() else what
                raise self._error("E400", f"cannot import '{named}': {what}", imp.span)
        except (OSError, RuntimeError) as e:  # a name too long for the file system; resolve() finding a loop
            reason = getattr(e, "strerror", None) or "a loop of symbolic links"
            raise self._error("E400", f"cannot import '{named}': {reason}", imp.span) from None
        if len(chain) > MAX_DEPTH:
            raise self._error("E404", "imports are nested too deeply", imp.span)
        if str(target) in self._imported:
            return
        self._imported.add(str(target))
        # Shown relative to the importer as the user wrote it, so messages and the IR do not depend on
        # where the checkout lives.
        shown = os.path.normpath(os.path.join(os.path.dirname(importer), imp.path))
        module = self._read(target, shown)
        self._add_module(module, top=False, chain=(*chain, str(target)))

    def _check_name(self, name: str, span: Span, what: str) -> None:
        if what == "module name":
            if len(name) > 200 or not _MODULE_RE.fullmatch(name):
                raise self._error(
                    "E212", f"'{name[:80]}' cannot be used as a module name", span,
                    hint="a quoted label starts with a letter and holds letters, digits, '_' and '-'",
                )  # fmt: skip
            return
        if not _NAME_RE.fullmatch(name) or keyword.iskeyword(name) or keyword.issoftkeyword(name):
            raise self._error(
                "E212", f"'{name}' cannot be used as a {what} name", span,
                hint="names start with a letter and are not Python keywords",
            )  # fmt: skip
        if what == "label" and name == "training":  # a label names a torch module; .eval() would assign to it
            raise self._error(
                "E212", "'training' cannot be used as a label name", span,
                hint="PyTorch modules keep their train/eval flag under that name: choose another",
            )  # fmt: skip

    # --- networks ----------------------------------------------------------------------------------

    def _suggest(self, name: str) -> str | None:
        """'did you mean ...?' among the networks: difflib is quadratic, so among at most 1,000 names (the
        ones that share the first letter, where there are more)."""
        candidates = list(self.networks)
        if len(candidates) > 1000:
            candidates = [n for n in candidates if n[:1] == name[:1]][:1000]
        return _did_you_mean(name, candidates)

    def network_names(self) -> list[str]:
        return list(self.networks)

    def _listed(self, limit: int = 10) -> str:
        """The networks' names for a message: the first `limit`, then how many more."""
        names = list(itertools.islice(self.networks, limit))
        more = len(self.networks) - len(names)
        return ", ".join(names) + (f" … and {more:,} more" if more else "")

    @without_gc
    def compile(self, name: str | None = None, args: dict | None = None) -> Network:
        if not self.networks:
            path = next(iter(self.sources), "<string>")
            raise CnnDslError("E210", "no network is defined", path, 1, 1, hint="define one: network name { ... }")
        if name is None:
            if len(self.networks) > 1:
                d = list(itertools.islice(self.networks.values(), 2))[1]
                raise self._error(
                    "E210", f"several networks are defined ({self._listed()}); name one",
                    d.span, hint="pass --network NAME (or network= in Python)",
                )  # fmt: skip
            definition = next(iter(self.networks.values()))
        else:
            definition = self.networks.get(name)
            if definition is None:
                path = next(iter(self.networks.values())).span.path
                raise CnnDslError(
                    "E210", f"no network named '{name}'", path, 1, 1,
                    hint=self._suggest(name) or f"networks: {self._listed()}",
                )  # fmt: skip
        return _Expansion(self, definition, args or {}).run()


class _Expansion:
    """The expansion of one network."""

    def __init__(self, compiler: Compiler, definition: Definition, args: dict):
        self.c = compiler
        self.definition = definition
        self.args = args
        self.nodes: list[Node] = []
        self.scopes: list[Scope] = []
        self.calls: list[str] = []  # the block call stack, to refuse recursion
        self.depth = 0
        self.signatures: dict[str, dict[str, expr.Expr | None]] = {}  # block -> parameter -> default
        self.estimates: dict = {}  # (block, arguments) -> a lower bound on its nodes
        # Networks repeat their layers: equal calls share one (immutable) op, and an op's shape and cost are
        # computed once per input shape. Keys carry each value's type, so that true and 1 stay apart.
        self.ops: dict = {}  # (layer, arguments) -> op
        self.inferred: dict = {}  # (op, input shapes) -> (shape, params, buffers, macs)
        self.weights = 0  # parameters and buffer elements so far
        self.outputs: list[int] = []  # the network's extra outputs (`output ...` statements), in order

    def error(self, code, message, span, hint=None):
        return self.c._error(code, message, span, hint)

    def run(self) -> Network:
        d = self.definition
        env = self.bind_params(d, [], [(k, v, None) for k, v in self.args.items()], d.span, {})
        root = self.new_scope("", "network", d.span, None, None, None, {})
        frame = Frame(scope=root, prefix="", env=env)
        x = self.run_stmts(d.body, frame, None)
        if x is None:
            raise self.error("E211", f"network '{d.name}' has no input", d.span, hint="start it with input(C, H, W)")
        self.close_scope(root, x)
        return Network(
            name=d.name, source=d.span.path, args=env, nodes=tuple(self.nodes), scopes=tuple(self.scopes), output=x,
            extra_outputs=tuple(self.outputs), blocks=self.signatures,
        )  # fmt: skip

    # --- scopes and nodes -------------------------------------------------------------------------

    def new_scope(self, name, kind, span, parent, block, x, args, exprs=None) -> int:
        sid = len(self.scopes)
        self.scopes.append(
            Scope(
                id=sid, name=name, kind=kind, block=block, args=args, parent=parent, input=x, output=None,
                exprs=exprs or {}, span=span,
            )  # fmt: skip
        )
        return sid

    def close_scope(self, sid: int, out: int | None) -> None:
        self.scopes[sid] = dataclasses.replace(self.scopes[sid], output=out)

    def add_node(
        self, name: str, op: ops.Op, inputs: tuple[int, ...], span: Span, frame: Frame, exprs=None, spans=None
    ) -> int:
        """Append a node; `spans` (argument -> position) lets a shape error point at the argument at fault."""
        if len(self.nodes) >= self.c.max_nodes:
            raise self.error(
                "E403", f"the network expands to more than {self.c.max_nodes:,} nodes", span,
                hint="raise the budget with --max-nodes if this is intended",
            )  # fmt: skip
        shapes = tuple(self.nodes[i].shape for i in inputs)
        if (op, shapes) not in self.inferred:
            try:
                self.inferred[op, shapes] = ops.infer_and_cost(op, list(shapes))
            except ops.ShapeError as e:
                where = (spans or {}).get(e.field, span)
                raise self.error(e.code, e.message + self.where(frame), where, e.hint) from None
        shape, params, buffers, macs = self.inferred[op, shapes]
        try:
            self.weights = ops.add_weights(self.weights, params, buffers)
        except ops.ShapeError as e:
            raise self.error(e.code, e.message + self.where(frame), span, e.hint) from None
        nid = len(self.nodes)
        self.nodes.append(
            Node(
                id=nid, name=name, op=op, inputs=inputs, shape=shape, params=params, buffers=buffers,
                macs=macs, scope=frame.scope, exprs=exprs or {}, span=span,
            )  # fmt: skip
        )
        return nid

    def warn_channels_last(self, shape: tuple, call: Call) -> None:
        """input(32, 32, 3), channels last as Keras writes it, is valid (32 channels of 32×3): say so."""
        if len(shape) == 3 and all(isinstance(d, int) for d in shape) and shape[2] in (1, 3, 4) and shape[0] > 4:
            import warnings

            from .errors import CnnDslWarning

            span = call.args[2].span
            w = CnnDslWarning(
                f"input({', '.join(map(str, shape))}) reads as {shape[0]} channels of {shape[1]}×{shape[2]}; "
                f"the last size, {shape[2]}, looks like channels",
                span.path, span.line, span.column,
                hint=f"sizes are channels first: input({shape[2]}, {shape[0]}, {shape[1]})",
            )  # fmt: skip
            self.c._attach_source(w)
            warnings.warn_explicit(w, CnnDslWarning, span.path, span.line)

    def where(self, frame: Frame) -> str:
        """' in layer2.0 (basic(128, stride=2))' for messages about nodes inside blocks."""
        sid = frame.scope
        while sid is not None:
            s = self.scopes[sid]
            if s.kind == "block":
                args = ", ".join(f"{k}={literal(v)}" for k, v in s.args.items())
                return f" (in {s.name}: {s.block}({args}))"
            sid = s.parent
        return ""

    def shape_of(self, x: int) -> str:
        return ops.shape_str(self.nodes[x].shape)

    # --- statements ---------------------------------------------------------------------------------

    def enter(self, span: Span) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("E404", f"nesting is deeper than {MAX_DEPTH} levels", span)

    def run_stmts(self, stmts, frame: Frame, x: int | None) -> int | None:
        for stmt in stmts:
            x = self.run_stmt(stmt, frame, x)
        return x

    def run_stmt(self, stmt: Stmt, frame: Frame, x: int | None) -> int | None:
        label = stmt.label
        if label is not None:
            self.c._check_name(label, stmt.label_span, "module name" if stmt.quoted else "label")
            if label in frame.labels or label in frame.shortcuts:
                raise self.error("E208", f"label '{label}' is used twice in this scope", stmt.label_span)
        item = stmt.item
        span = getattr(item, "span", stmt.label_span)
        if stmt.output:
            if frame.scope != 0:
                raise self.error(
                    "E213", "output statements belong to the network's own body", span,
                    hint="write `output ...` in the network, after the layer it branches from",
                )  # fmt: skip
            x = self.need_input(x, span, "output")
        self.enter(span)
        try:
            out = self.run_item(item, label, frame, x)
        finally:
            self.depth -= 1
        if label is not None:
            frame.labels[label] = out
        if stmt.output:
            if out == x:
                raise self.error("E213", "an output statement must compute something from its input", span)
            self.outputs.append(out)
            return x  # a side branch: the statements after it read what it read
        return out

    def run_item(self, item, label: str | None, frame: Frame, x: int | None) -> int | None:
        if isinstance(item, Call):
            return self.run_call(item, label, frame, x)
        if isinstance(item, Sequence):
            return self.run_sequence(item.body, label, frame, x, item.span)
        if isinstance(item, Repeat):
            return self.run_repeat(item, label, frame, x)
        if isinstance(item, Residual):
            return self.run_residual(item, label, frame, x)
        if isinstance(item, Branches):
            return self.run_branches(item, label, frame, x)
        raise AssertionError(item)

    def need_input(self, x: int | None, span: Span, what: str) -> int:
        if x is None:
            raise self.error("E211", f"{what} has no input: the network must start with input(C, H, W)", span)
        return x

    def run_sequence(self, body, label, frame: Frame, x, span: Span) -> int | None:
        name = frame.prefix + frame.take(label)
        sid = self.new_scope(name, "sequence", span, frame.scope, None, x, {})
        inner = Frame(scope=sid, prefix=name + ".", env=frame.env, outer=frame)
        out = self.run_stmts(body, inner, x)
        self.close_scope(sid, out)
        return out

    def run_repeat(self, item: Repeat, label, frame: Frame, x) -> int | None:
        count = self.evaluate(item.count, frame.env)
        if isinstance(count, Word):
            raise self.unknown_name(count, frame.env)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise self.error("E205", f"repeat needs a count of 0 or more, got {literal(count)}", item.count.span)
        budget = self.c.max_nodes
        if count > budget or len(self.nodes) + count * self.min_nodes(item.item, frame.env) > budget:
            raise self.error(
                "E403", f"repeat {count:,} expands past the budget of {self.c.max_nodes:,} nodes", item.count.span,
                hint="raise the budget with --max-nodes (max_nodes= in Python) if this is intended",
            )  # fmt: skip
        if isinstance(item.item, Sequence) and item.item.bare:
            body = item.item.body * count  # `repeat 2 { conv(..); relu() }` splices the statements in place
        else:
            body = (Stmt(None, None, item.item),) * count
        if label is not None:  # a labelled repeat is a sequence of its own: x.0, x.1, ...
            return self.run_sequence(body, label, frame, x, item.span)
        return self.run_stmts(body, frame, x)

    def run_residual(self, item: Residual, label, frame: Frame, x) -> int:
        x = self.need_input(x, item.span, "residual")
        main = self.run_stmts(item.main, frame, x)
        if main is None or main == x:
            raise self.error("E205", "the main path of a residual is empty", item.span)
        shortcut_label = item.shortcut_label
        if shortcut_label is not None:  # it names a sequence: checked, and unique in its scope, as labels are
            at = item.shortcut_label_span
            self.c._check_name(shortcut_label, at, "label")
            if shortcut_label in frame.labels or shortcut_label in frame.shortcuts:
                raise self.error("E208", f"label '{shortcut_label}' is used twice in this scope", at)
            frame.shortcuts.add(shortcut_label)
        # A declared shortcut takes its position whether or not this instance needs the projection.
        shortcut_name = frame.take(item.shortcut_label) if item.shortcut is not None else None
        same = self.nodes[main].shape == self.nodes[x].shape
        if item.shortcut is None or same:
            shortcut = x  # identity; a declared projection is used only where the shape changes
        else:
            name = frame.prefix + shortcut_name
            sid = self.new_scope(name, "sequence", item.shortcut_span, frame.scope, None, x, {})
            inner = Frame(scope=sid, prefix=name + ".", env=frame.env, outer=frame)
            shortcut = self.run_stmts(item.shortcut, inner, x)
            self.close_scope(sid, shortcut)
        if self.nodes[main].shape != self.nodes[shortcut].shape and ops._mismatch(
            self.nodes[main].shape, self.nodes[shortcut].shape
        ):
            which = "the identity shortcut" if shortcut == x else "the shortcut"
            hint = (
                "add a projection shortcut: residual { ... } shortcut { conv(C, 1, strides=S) }"
                if shortcut == x
                else "make the shortcut produce the main path's shape"
            )
            raise self.error(
                "E300", f"add: main path gives {self.shape_of(main)} but {which} gives {self.shape_of(shortcut)}"
                + self.where(frame), item.span, hint,
            )  # fmt: skip
        name = frame.prefix + frame.take(label)
        return self.add_node(name, ops.Add(), (main, shortcut), item.span, frame)

    def run_branches(self, item: Branches, label, frame: Frame, x) -> int:
        if item.kind == "inline":  # statements of the enclosing scope, grouped: no scope, no index of its own
            return self.run_stmts(item.body, frame, self.need_input(x, item.span, "inline"))
        if item.kind not in ops.MERGES:
            merges = ", ".join(ops.MERGES)
            raise self.error(
                "E200", f"'{item.kind} {{ ... }}' is not a construct: branches merge with {merges}; inline groups",
                item.span, hint=_did_you_mean(item.kind, (*ops.MERGES, "inline"))
                or (f"did you mean '{_ALIASES[item.kind]}'?" if item.kind in _ALIASES else None),
            )  # fmt: skip
        x = self.need_input(x, item.span, item.kind)
        if not item.body:
            raise self.error("E205", f"{item.kind} {{ }} needs at least one branch", item.span)
        outs = []
        for stmt in item.body:
            out = self.run_stmt(stmt, frame, x)
            outs.append(out)
        op = ops.REGISTRY[item.kind]()
        name = frame.prefix + frame.take(label)
        try:
            return self.add_node(name, op, tuple(outs), item.span, frame)
        except CnnDslError as e:
            if item.kind != "concat":
                raise
            raise self.branch_at_fault(e, op, item, outs, frame) from None

    def branch_at_fault(self, e: CnnDslError, op: ops.Op, item: Branches, outs: list[int], frame: Frame):
        """A concat's size error, pointing at the first branch that does not fit the first one."""
        first = self.nodes[outs[0]].shape
        for i, (stmt, out) in enumerate(zip(item.body[1:], outs[1:]), 2):
            try:
                ops.infer_and_cost(op, [first, self.nodes[out].shape])
            except ops.ShapeError:
                what = f"branch {i}" + (f" ({stmt.label})" if stmt.label else "")
                message = (
                    f"{item.kind}: {what} gives {ops.shape_str(self.nodes[out].shape)} but branch 1 gives "
                    f"{ops.shape_str(first)}" + self.where(frame)
                )
                return self.error(e.code, message, stmt.label_span or getattr(stmt.item, "span", item.span), e.hint)
        return e

    # --- calls ---------------------------------------------------------------------------------------

    def run_call(self, call: Call, label, frame: Frame, x) -> int | None:
        if call.name == "identity":  # the current tensor, unchanged: an explicit branch of a merge
            if call.args or call.kwargs:
                extra = (*call.args, *call.kwargs)[0]
                raise self.error("E203", "identity() takes no arguments", extra.span)
            return self.need_input(x, call.span, "identity")
        if call.name in ops.LAYERS:
            return self.run_layer(call, label, frame, x)
        if call.name in self.c.blocks:
            return self.run_block(call, label, frame, x)
        candidates = [*ops.LAYERS, *BUILTINS, *self.c.blocks]
        hint = _did_you_mean(call.name, candidates)
        lower = call.name.lower()
        if lower in _ALIASES or lower in ops.LAYERS:  # names other frameworks use: Conv2D, ReLU
            hint = f"did you mean '{_ALIASES.get(lower, lower)}'?"
        raise self.error(
            "E200", f"unknown layer or block '{call.name}'" + (f" — {hint}" if hint else ""), call.span,
            hint=None if hint else "see docs/language.md for the layers; blocks are defined with 'block name(...) { }'",
        )  # fmt: skip

    def run_block(self, call: Call, label, frame: Frame, x) -> int | None:
        definition = self.c.blocks[call.name]
        if call.name in self.calls:
            chain = " → ".join([*self.calls[self.calls.index(call.name) :], call.name])
            raise self.error("E402", f"block '{call.name}' calls itself ({chain})", call.span)
        if len(self.nodes) + self.min_nodes(call, frame.env) > self.c.max_nodes:
            raise self.error(
                "E403", f"block '{call.name}' expands past the budget of {self.c.max_nodes:,} nodes", call.span,
                hint="raise the budget with --max-nodes (max_nodes= in Python) if this is intended",
            )  # fmt: skip
        args = [(None, self.evaluate(a, frame.env), a.span) for a in call.args]
        kwargs = [(k.name, self.evaluate(k.value, frame.env), k.span) for k in call.kwargs]
        env = self.bind_params(definition, args, kwargs, call.span, frame.env)
        # As for layers, the arguments that use the caller's parameters are kept as expressions, so that a
        # backend can write `conv_bn(c1, 1)` inside `inception` as a call in terms of `c1`.
        given = [*zip((p.name for p in definition.params), call.args), *((k.name, k.value) for k in call.kwargs)]
        exprs = _exprs(given, frame.env)
        self.signatures.setdefault(
            call.name, {p.name: None if p.default is None else _ir_expr(p.default) for p in definition.params}
        )
        name = frame.prefix + frame.take(label)
        sid = self.new_scope(name, "block", call.span, frame.scope, call.name, x, env, exprs)
        inner = Frame(scope=sid, prefix=name + ".", env=env)  # a block sees only its own labels
        self.calls.append(call.name)
        out = self.run_stmts(definition.body, inner, x)
        self.calls.pop()
        self.close_scope(sid, out)
        return out

    def bind_params(self, d: Definition, args, kwargs, span: Span, caller_env) -> dict:
        """Match call arguments to a definition's parameters; defaults may use earlier parameters."""
        names = [p.name for p in d.params]
        seen = set()
        for p in d.params:
            self.c._check_name(p.name, p.span, "parameter")
            if p.name in seen:
                raise self.error("E207", f"parameter '{p.name}' is declared twice", p.span)
            seen.add(p.name)
        what = f"{d.kind} '{d.name}'"
        if len(args) > len(names):
            message = f"{what} takes {len(names)} positional arguments, got {len(args)}"
            raise self.error("E203", message, args[len(names)][2])
        given = {names[i]: (v, s) for i, (_, v, s) in enumerate(args)}
        for k, v, s in kwargs:
            if k not in names:
                hint = _did_you_mean(k, names)
                raise self.error("E201", f"{what} has no parameter '{k}'", _span_or(s, span), hint=hint)
            if k in given:
                raise self.error("E204", f"argument '{k}' of {what} is given twice", _span_or(s, span))
            given[k] = (v, s)
        env = {}
        for p in d.params:
            if p.name in given:
                value = given[p.name][0]
            elif p.default is not None:
                value = self.evaluate(p.default, env)
            else:
                raise self.error("E202", f"{what} needs the argument '{p.name}'", span)
            if isinstance(value, Word) and value not in _words():  # `same`, `relu` ... may be passed on
                raise self.unknown_name(value, caller_env if p.name in given else env)
            env[p.name] = value
        return env

    def run_layer(self, call: Call, label, frame: Frame, x) -> int:
        cls, fixed = ops.LAYERS[call.name]
        if call.name == "input":
            if x is not None or frame.scope != 0:
                raise self.error("E211", "input(...) may only start a network", call.span)
            values = {"shape": tuple(self.evaluate(a, frame.env) for a in call.args)}
            spans = {"shape": call.args[0].span if call.args else call.span}
            for k in call.kwargs:
                raise self.error("E201", f"input has no argument '{k.name}'", k.span, hint="input(C, H, W)")
            op = self.make_op(call, cls, fixed, values, spans, frame.env)
            self.warn_channels_last(values["shape"], call)
            return self.add_node(label or "input", op, (), call.span, frame)  # takes no index: it is no layer
        x = self.need_input(x, call.span, call.name)
        inputs = (x,)
        if call.name in ops.MERGES:  # concat(enc1): merge with earlier labelled tensors
            if not call.args or call.kwargs:
                raise self.error(
                    "E202", f"{call.name}(...) needs the labels of the tensors to merge with", call.span,
                    hint=f"{call.name}(enc1), or {call.name} {{ ... }} for parallel branches",
                )  # fmt: skip
            refs = []
            for a in call.args:
                if not isinstance(a, Name) or a.id in frame.env:
                    raise self.error("E205", f"{call.name}(...) takes labels of earlier layers", a.span)
                ref = frame.lookup(a.id)
                if ref is None:
                    hint = _did_you_mean(a.id, frame.visible_labels())
                    raise self.error("E209", f"no earlier layer is labelled '{a.id}'", a.span, hint=hint)
                refs.append(ref)
            # The current tensor comes first, unless it is one of the labels: then the labels' order is the order.
            inputs = tuple(refs) if x in refs else (x, *refs)
            op = cls()
            return self.add_node(frame.prefix + frame.take(label), op, inputs, call.span, frame)
        names = ops.fields_of(cls)
        names = [n for n in names if n not in fixed]
        positional = names  # like a Python signature: any argument may be given by position, in order
        values, spans, exprs = {}, {}, {}
        if len(call.args) > len(positional):
            extra = call.args[len(positional)]
            raise self.error(
                "E203", f"{call.name} takes {len(positional)} positional arguments, got {len(call.args)}", extra.span,
                hint=f"{call.name}({', '.join(positional + [n + '=...' for n in names if n not in positional])})",
            )  # fmt: skip
        for field_name, a in zip(positional, call.args):
            values[field_name] = self.evaluate(a, frame.env)
            spans[field_name] = a.span
            exprs.update(_exprs([(field_name, a)], frame.env))
        for k in call.kwargs:
            if k.name not in names:
                raise self.error(
                    "E201", f"{call.name} has no argument '{k.name}'", k.span,
                    hint=(f"did you mean '{_ARG_ALIASES[k.name]}'?" if _ARG_ALIASES.get(k.name) in names else None)
                    or _did_you_mean(k.name, names) or f"{call.name} takes: {', '.join(names) or 'no arguments'}",
                )  # fmt: skip
            if k.name in values:
                raise self.error("E204", f"argument '{k.name}' of {call.name} is given twice", k.span)
            values[k.name] = self.evaluate(k.value, frame.env)
            spans[k.name] = k.value.span
            exprs.update(_exprs([(k.name, k.value)], frame.env))
        try:
            op = self.make_op(call, cls, fixed, values, spans, frame.env)
        except CnnDslError as e:
            e.message += self.where(frame)  # which call of a block gave the bad value
            raise
        return self.add_node(frame.prefix + frame.take(label), op, inputs, call.span, frame, exprs, spans)

    def make_op(self, call: Call, cls, fixed: dict, values: dict, spans: dict, env: dict) -> ops.Op:
        plain = {k: _plain(v) for k, v in values.items()}
        key = (call.name, *((k, _typed(v)) for k, v in plain.items()))
        if key in self.ops:
            return self.ops[key]
        try:
            op = self.ops[key] = ops.make(cls, {**fixed, **plain})
            return op
        except ops.ArgumentError as err:
            field_name = err.field
            span = spans.get(field_name, call.span)
            if isinstance(err, ops.MissingArgument):
                raise self.error(
                    "E202", f"{call.name} needs the argument '{field_name}'", call.span,
                    hint=f"{call.name}({', '.join(n for n in cls.positional if n not in fixed)}, ...)",
                ) from None  # fmt: skip
            value = values.get(field_name)
            words = [w for w in _flatten(value) if isinstance(w, Word)]
            choices = _choices(cls, field_name)
            if words and not (choices and words[0] in choices) and (choices or words[0] not in _words()):
                if not choices:
                    raise self.unknown_name(words[0], env) from None
                raise self.error(
                    "E205", f"{call.name}: '{words[0]}' is not a valid {field_name}", span,
                    hint=_did_you_mean(words[0], choices) or f"choose one of: {', '.join(choices)}",
                ) from None  # fmt: skip
            if field_name is None:  # a rule between arguments
                raise self.error("E205", f"{call.name}: {err.message}", call.span) from None
            shown = f" = {literal(value)}" if field_name in values else ""
            raise self.error("E205", f"{call.name}: {field_name}{shown}: {err.message}", span) from None

    def unknown_name(self, word: Word, env: dict) -> CnnDslError:
        hint = _did_you_mean(word, env) or _did_you_mean(word, _words())
        if not hint and env:
            hint = f"parameters here: {', '.join(env)}"
        return self.error("E206", f"unknown name '{word}'", word.span, hint=hint)

    # --- the node budget, checked before expanding --------------------------------------------------

    def min_nodes(self, item, env: dict, active: tuple = (), depth: int = 0) -> int:
        """A lower bound on the nodes `item` expands to (capped just past the budget): a repeat or a block
        call that cannot fit is refused at once, not after building a million nodes (repeats multiply here
        instead of iterating, and block calls are memoised by their arguments)."""
        cap = self.c.max_nodes + 1
        if isinstance(item, Stmt):
            item = item.item
        if depth > MAX_DEPTH:
            return 0
        if isinstance(item, Call):
            d = self.c.blocks.get(item.name)
            if d is None or item.name in ops.LAYERS:
                return 1
            if item.name in active:
                return 0  # recursion, refused when it is expanded
            env = self.known_args(d, item, env)
            key = (item.name, tuple(env.items()))
            if key not in self.estimates:
                self.estimates[key] = self.min_nodes_of(d.body, env, (*active, item.name), depth + 1)
            return self.estimates[key]
        if isinstance(item, Repeat):
            count = self.try_evaluate(item.count, env)
            if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
                return 0
            return min(cap, count * self.min_nodes(item.item, env, active, depth + 1))
        if isinstance(item, Sequence):
            return self.min_nodes_of(item.body, env, active, depth + 1)
        if isinstance(item, Residual):
            return min(cap, 1 + self.min_nodes_of(item.main, env, active, depth + 1))
        if isinstance(item, Branches):
            return min(cap, 1 + self.min_nodes_of(item.body, env, active, depth + 1))
        return 0

    def min_nodes_of(self, stmts, env: dict, active: tuple, depth: int) -> int:
        total = 0
        for stmt in stmts:
            total += self.min_nodes(stmt, env, active, depth)
            if total > self.c.max_nodes:
                break
        return total

    def known_args(self, d: Definition, call: Call, env: dict) -> dict:
        """The parameters of a block call whose values can be computed now (as bind_params would bind them)."""
        given = {p.name: a for p, a in zip(d.params, call.args)}
        given.update({k.name: k.value for k in call.kwargs})
        out = {}
        for p in d.params:
            value = self.try_evaluate(given[p.name], env) if p.name in given else None
            if value is None and p.name not in given and p.default is not None:
                value = self.try_evaluate(p.default, out)
            if value is not None and not isinstance(value, Word):
                out[p.name] = value
        return out

    def try_evaluate(self, expr, env: dict):
        try:
            return self.evaluate(expr, env)
        except CnnDslError:
            return None

    # --- expressions ---------------------------------------------------------------------------------

    def evaluate(self, expr, env: dict, depth: int = 0):
        if depth > MAX_DEPTH:
            raise self.error("E404", f"expression nested deeper than {MAX_DEPTH} levels", expr.span)
        if isinstance(expr, Const):
            if isinstance(expr.value, str):  # quoted text only names files to import
                raise self.error(
                    "E205", f'"{expr.value}" is a string; arguments are numbers, sizes, true/false or names',
                    expr.span, hint="write names such as same or relu without quotes",
                )  # fmt: skip
            return expr.value
        if isinstance(expr, Open):
            return "?"
        if isinstance(expr, Name):
            if expr.id in env:
                return env[expr.id]
            w = Word(expr.id)
            w.span = expr.span
            return w
        if isinstance(expr, TupleExpr):
            return tuple(self.evaluate(i, env, depth + 1) for i in expr.items)
        if isinstance(expr, Neg):
            v = self.number(self.evaluate(expr.operand, env, depth + 1), expr.operand, env)
            return -v
        if isinstance(expr, BinOp):
            first, rest = _chain(expr)
            a = self.number(self.evaluate(first, env, depth + 1), first, env)
            for op, right in rest:
                b = self.number(self.evaluate(right, env, depth + 1), right, env)
                a = self.arithmetic(op, a, b, right, expr)
            return a
        raise AssertionError(expr)

    def arithmetic(self, op: str, a, b, right, expr):
        """`a op b`, checked: division by zero, numbers out of range (located on the whole expression)."""
        if op in ("/", "//", "%") and b == 0:
            raise self.error("E205", "division by zero", right.span)
        result = {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
            "/": lambda: a / b, "//": lambda: a // b, "%": lambda: a % b,
        }[op]()  # fmt: skip
        if isinstance(result, float) and result.is_integer() and op == "/":
            result = int(result) if abs(result) <= MAX_INT else result
        if abs(result) > MAX_INT or result != result:
            raise self.error("E405", "number out of range", expr.span)
        return result

    def number(self, v, expr, env):
        if isinstance(v, Word):
            raise self.unknown_name(v, env)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error("E205", f"arithmetic needs numbers, got {literal(v)}", expr.span)
        return v


def _plain(v):
    """Words become plain strings for the op; tuples stay tuples."""
    if isinstance(v, tuple):
        return tuple(_plain(i) for i in v)
    if isinstance(v, Word):
        return str(v)
    return v


def _typed(v):
    """A value with its type, as a key: 1, 1.0 and true are equal in Python but not as arguments."""
    return tuple(_typed(i) for i in v) if isinstance(v, tuple) else (type(v), v)


def _flatten(v):
    if isinstance(v, tuple):
        for i in v:
            yield from _flatten(i)
    else:
        yield v


@functools.cache
def _choices(cls, field_name) -> tuple[str, ...]:
    """The words a field accepts (`same` for padding, the activations for activation ...): the strings of
    its type's Literals, and the shorthands its checker expands."""
    if cls is None or field_name is None:
        return ()
    words = [w for w in ops.words_of(cls, field_name) if w != "?" or field_name == "shape"]
    if field_name in ("activation", "function"):
        words += ["swish", "none", "linear"]
    if field_name == "padding":
        words.append("valid")
    return tuple(dict.fromkeys(words))


# layer names of Keras and PyTorch that are too far from ours for difflib
_ALIASES = {
    "linear": "dense", "fc": "dense", "bn": "batchnorm", "deconv": "conv_transpose", "pool": "maxpool",
    "mul": "multiply", "scale": "multiply", "cat": "concat", "sum": "add", "split": "chunk",
    "shuffle": "channel_shuffle",
    # Keras' and PyTorch's class names, lower-cased
    "conv2d": "conv", "convolution2d": "conv", "conv2dtranspose": "conv_transpose", "convtranspose2d": "conv_transpose",
    "maxpool2d": "maxpool", "maxpooling2d": "maxpool", "avgpool2d": "avgpool", "averagepooling2d": "avgpool",
    "batchnorm2d": "batchnorm", "batchnormalization": "batchnorm", "globalaveragepooling2d": "global_avgpool",
    "globalmaxpooling2d": "global_maxpool", "adaptiveavgpool2d": "adaptive_avgpool", "upsampling2d": "upsample",
    "localresponsenorm": "lrn", "relu6": "activation",
}  # fmt: skip
# arguments other frameworks name differently
_ARG_ALIASES = {"bias": "use_bias", "out_channels": "filters", "kernel": "kernel_size", "stride": "strides"}

@functools.cache
def _words() -> frozenset[str]:
    """Every word an argument may take (`same`, `relu`, `nearest` ...): these may also be passed to a block.
    Computed when first needed: reading every op's type hints costs start-up ~5 ms."""
    return frozenset(w for cls in ops.OPS for f in ops.fields_of(cls) if f != "shape" for w in _choices(cls, f))


def _span_or(s, default):
    return s if s is not None else default


def _too_large(path: str, size: int) -> CnnDslError:
    return CnnDslError(
        "E400", f"cannot read '{path}': {size:,} bytes is more than the {MAX_BYTES:,} a .cnn file may have", path, 1, 1,
        hint="a network takes a few kilobytes: is this the file you meant?",
    )  # fmt: skip


# --- the public entry points --------------------------------------------------------------------


def load(
    path: str | Path, network: str | None = None, *, max_nodes: int = MAX_NODES, import_paths=(), args=None
) -> Network:
    """Compile the network of a .cnn file (its only one, or the one named)."""
    c = Compiler(max_nodes, tuple(import_paths))
    c.add_file(path)
    return c.compile(network, args)


def loads(text: str, network: str | None = None, *, path: str = "<string>", max_nodes: int = MAX_NODES, args=None):
    """Compile the network of .cnn source text."""
    c = Compiler(max_nodes)
    c.add_text(text, path)
    return c.compile(network, args)


def load_all(path: str | Path, *, max_nodes: int = MAX_NODES, import_paths=()) -> list[Network]:
    """Every network of a file, in order."""
    c = Compiler(max_nodes, tuple(import_paths))
    c.add_file(path)
    return [c.compile(n) for n in c.network_names()]


# --- for the checks that need no input shape (cnndsl.project: block libraries, errors after the first) ---

Expansion = _Expansion
did_you_mean = _did_you_mean
names_in = _names_in
choices = _choices


def __getattr__(name: str):
    if name == "WORDS":  # built on first use: see _words()
        return _words()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
