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
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import expr, ops
from .errors import CnnDslError, Span
from .ir import MODULE_NAME, Network, Node, Scope
from .syntax import (
    BinOp,
    BoolOp,
    Branches,
    Call,
    Compare,
    Comprehension,
    Const,
    Definition,
    FnCall,
    FnDef,
    For,
    If,
    IfExp,
    Index,
    Kwarg,
    Let,
    Module,
    Name,
    Neg,
    Not,
    Open,
    Repeat,
    Residual,
    Sequence,
    ShapeAttr,
    Stmt,
    TupleExpr,
    parse,
    parse_expression,
    parse_file,
    target_names,
)  # fmt: skip
from .util import block_call, literal, without_gc

MAX_NODES = 1_000_000  # default budget of expanded nodes per network
MAX_DEPTH = 100  # nesting of scopes, block calls and expressions
MAX_BYTES = 1 << 20  # a .cnn file read from disk (text given to the API is the caller's to bound): a
# network takes a few kilobytes, and the parser reads some 200 kB a second
MAX_INT = 2**53  # values beyond this are typos, and would make shape arithmetic slow
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
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
    params: frozenset = frozenset()  # the parameters in env (the rest: constants, loop variables, `in`)

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
    if isinstance(e, ShapeAttr) and e.attr == "channels":
        return expr.In()
    parts = [e.operand] if isinstance(e, Neg) else list(e.items) if isinstance(e, TupleExpr) else []
    converted = [_ir_expr(p) for p in parts]
    if not parts or None in converted:
        return None
    out = expr.Neg(operand=converted[0]) if isinstance(e, Neg) else expr.Tuple(items=tuple(converted))
    return out if expr.depth(out) <= expr.MAX_DEPTH else None


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
    """The names an expression reads (`in` for `in.channels`)."""
    if isinstance(expr, Name):
        return {expr.id}
    if isinstance(expr, BinOp):
        first, rest = _chain(expr)
        return _names_in(first).union(*(_names_in(right) for _, right in rest))
    if isinstance(expr, Neg):
        return _names_in(expr.operand)
    if isinstance(expr, TupleExpr):
        return set().union(*(_names_in(i) for i in expr.items))
    if isinstance(expr, ShapeAttr):
        return {"in"}
    if isinstance(expr, Comprehension):  # its loop variables are its own
        bound = {name for name, _ in target_names(expr.target)}
        return _names_in(expr.iterable) | ((_names_in(expr.item) | _names_in(expr.cond)) - bound)
    if isinstance(expr, (Const, Open)) or not hasattr(expr, "__dataclass_fields__"):
        return set()
    names = set()  # conditions, calls, indexing: every expression they hold
    for f in expr.__dataclass_fields__:
        value = getattr(expr, f)
        for v in value if isinstance(value, tuple) else (value,):
            names |= _names_in(v.value if isinstance(v, Kwarg) else v)
    return names


def _arithmetic(expr) -> bool:
    """Whether an expression is arithmetic on names, numbers and `in.channels`, which the code generators can
    read back (backends/arith.py); conditions, calls, indexing and the input's other sizes are kept as their
    values only."""
    if isinstance(expr, (Name, Const)):
        return True
    if isinstance(expr, ShapeAttr):
        return expr.attr == "channels"
    if isinstance(expr, BinOp):
        first, rest = _chain(expr)
        return _arithmetic(first) and all(_arithmetic(right) for _, right in rest)
    if isinstance(expr, Neg):
        return _arithmetic(expr.operand)
    if isinstance(expr, TupleExpr):
        return all(_arithmetic(i) for i in expr.items)
    return False


def _symbolic(e, frame: Frame) -> expr.Expr | None:
    """An argument as an IR expression of the parameters of the enclosing block or network, when it uses
    them and nothing else the generated code would lack (constants, loop variables)."""
    names = _names_in(e)
    params = frame.params | ({"in"} if "in" in frame.env else set())  # a block's input channels: a parameter too
    if not names & params or names & (frame.env.keys() - params) or not _arithmetic(e):
        return None
    return _ir_expr(e)


class Compiler:
    """Compiles the networks of one source file (and the blocks it imports)."""

    def __init__(self, max_nodes: int = MAX_NODES, import_paths: tuple[str, ...] = ()):
        self.max_nodes = max_nodes
        self.import_paths = [Path(p).resolve() for p in import_paths]
        self.blocks: dict[str, Definition] = {}
        self.lets: dict[str, Let | FnDef] = {}  # constants and functions, of this file and the files it imports
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
        for d in module.lets:  # one namespace, as for blocks: an imported file's constants are the importer's
            what = "constant" if isinstance(d, Let) else "function"
            self._check_name(d.name, d.span, what)
            if d.name in self.lets or (what == "function" and d.name in FUNCTIONS):
                other = self.lets.get(d.name)
                raise self._error(
                    "E207", f"{what} '{d.name}' is defined twice" if other else f"'{d.name}' is a built-in function",
                    d.span, hint=f"the first definition is at {other.span.path}:{other.span.line}:{other.span.column}"
                    if other else "choose another name",
                )  # fmt: skip
            self.lets[d.name] = d
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
            if not MODULE_NAME.fullmatch(name):
                raise self._error(
                    "E212", f"'{name[:80]}' cannot be used as a module name", span,
                    hint="a quoted label holds letters, digits, '_' and '-' (up to 200), and not only digits",
                )  # fmt: skip
        elif not _NAME_RE.fullmatch(name) or keyword.iskeyword(name) or keyword.issoftkeyword(name):
            raise self._error(
                "E212", f"'{name}' cannot be used as a {what} name", span,
                hint="names start with a letter and are not Python keywords",
            )  # fmt: skip
        # A label, quoted or not, names a torch module, and .eval() would assign to one named `training`.
        if what in ("label", "module name") and name == "training":
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

    def settings_for(self, name: str, settings: list) -> list:
        """The `--set` settings that apply to one of several networks checked at once: those naming its
        parameters, or all of them where a name is a parameter of none (so that it is reported)."""
        params = {p.name for d in self.networks.values() for p in d.params}
        if any(k not in params for k, _ in settings):
            return settings
        own = {p.name for p in self.networks[name].params}
        return [(k, v) for k, v in settings if k in own]

    @without_gc
    def compile(self, name: str | None = None, args: dict | None = None, settings=()) -> Network:
        """The network named (or the only one); `args` are Python values for its parameters, `settings`
        (name, expression text) pairs as `--set NAME=VALUE` gives them, checked as values in the file are."""
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
        return _Expansion(self, definition, args or {}, settings).run()


class _Expansion:
    """The expansion of one network."""

    def __init__(self, compiler: Compiler, definition: Definition, args: dict, settings=()):
        self.c = compiler
        self.definition = definition
        self.args = args
        self.settings = settings
        self.consts: dict = {}  # the file's constants, by name
        self.calls_made: dict = {}  # (function, arguments) -> value: a function is computed once per arguments
        self.work = 0  # loop iterations and function calls so far, bounded by the node budget
        self.fn_stack: list[str] = []  # the functions being evaluated, to refuse recursion
        self.loops = 0  # how many loops are running
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
        self.held_last: set[int] = set()  # the nodes whose output is held channels-last (`ops.layout`)

    def error(self, code, message, span, hint=None):
        return self.c._error(code, message, span, hint)

    def run(self) -> Network:
        d = self.definition
        self.constants()
        kwargs = [(k, v, None) for k, v in self.args.items()] + self.overrides(d)
        env = self.bind_params(d, [], kwargs, d.span, self.consts, self.consts)
        params = {p.name: env[p.name] for p in d.params}
        root = self.new_scope("", "network", d.span, None, None, None, {})
        frame = Frame(scope=root, prefix="", env=env, params=frozenset(params))
        x = self.run_stmts(d.body, frame, None)
        if x is None:
            raise self.error("E211", f"network '{d.name}' has no input", d.span, hint="start it with input(C, H, W)")
        self.close_scope(root, x)
        for out in (x, *self.outputs):
            if out in self.held_last:
                node = self.nodes[out]
                raise self.error(
                    "E304", f"the network's output {node.name} is held channels-last", node.span,
                    hint="end with channels_first(): a network gives C×H×W maps",
                )  # fmt: skip
        return Network(
            name=d.name, source=d.span.path, args=params, nodes=tuple(self.nodes), scopes=tuple(self.scopes), output=x,
            extra_outputs=tuple(self.outputs), blocks=self.signatures,
        )  # fmt: skip

    def constants(self) -> dict:
        """The file's constants, evaluated in order: a constant sees the constants before it."""
        for let in self.c.lets.values():
            if isinstance(let, Let):
                self.consts[let.name] = self.evaluate(let.value, self.consts)
        return self.consts

    def overrides(self, d: Definition) -> list:
        """`--set NAME=VALUE`: each VALUE parsed and evaluated as an expression of the file (its constants
        and functions are visible). Errors point into the setting, shown as line k of `--set`."""
        out = []
        lines = self.c.sources[SETTINGS] = []
        for name, text in self.settings:
            lines.append(f"{name}={text}")
            line = len(lines)
            span = Span(SETTINGS, line, 1)
            names = [p.name for p in d.params]
            if name not in names:
                hint = _did_you_mean(name, names)
                raise self.error(
                    "E201", f"network {d.name} has no parameter '{name}'" + (f" — {hint}" if hint else ""), span,
                    hint=None if hint else f"its parameters: {', '.join(names)}" if names else "it has no parameters",
                )  # fmt: skip
            expr = self.c._guard(lambda: parse_expression(text, SETTINGS, line, len(name) + 2))  # noqa: B023
            value = self.evaluate(expr, self.consts)
            if isinstance(value, Word) and value not in _words():
                raise self.unknown_name(value, self.consts)
            out.append((name, value, expr.span))
        return out

    # --- scopes and nodes -------------------------------------------------------------------------

    def new_scope(self, name, kind, span, parent, block, x, args, exprs=None) -> int:
        sid = len(self.scopes)
        self.scopes.append(
            Scope(
                id=sid,
                name=name,
                kind=kind,
                block=block,
                args=args,
                parent=parent,
                input=x,
                output=None,
                exprs=exprs or {},
                span=span,
            )
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
            if ops.layout(op, list(shapes), [i in self.held_last for i in inputs]):
                self.held_last.add(len(self.nodes))
        except ops.ShapeError as e:
            raise self.error(e.code, e.message + self.where(frame), span, e.hint) from None
        try:
            self.weights = ops.add_weights(self.weights, params, buffers)
        except ops.ShapeError as e:
            raise self.error(e.code, e.message + self.where(frame), span, e.hint) from None
        nid = len(self.nodes)
        self.nodes.append(
            Node(
                id=nid,
                name=name,
                op=op,
                inputs=inputs,
                shape=shape,
                params=params,
                buffers=buffers,
                macs=macs,
                scope=frame.scope,
                exprs=exprs or {},
                span=span,
            )
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
                return f" (in {s.name}: {block_call(s)})"
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
            if stmt.__class__ is If:  # the statements of the branch taken, in this scope
                x = self.run_stmts(self.branch_taken(stmt, frame), frame, x)
            elif stmt.item.__class__ is For and stmt.label is None and not stmt.output:
                for _ in self.iterations(stmt.item, frame, x):
                    x = self.run_stmts(stmt.item.body, frame, x)
            else:
                x = self.run_stmt(stmt, frame, x)
        return x

    def flat(self, stmts, frame: Frame):
        """The statements that `stmts` run, with `if` and `for` done (the branches of a merge): each one is
        yielded while frame.env holds its loop variables."""
        for stmt in stmts:
            if stmt.__class__ is If:
                yield from self.flat(self.branch_taken(stmt, frame), frame)
            elif stmt.item.__class__ is For and stmt.label is None and not stmt.output:
                for _ in self.iterations(stmt.item, frame, None):
                    yield from self.flat(stmt.item.body, frame)
            else:
                yield stmt

    def branch_taken(self, item: If, frame: Frame) -> tuple:
        cond = self.evaluate(item.cond, frame.env)
        if cond is not True and cond is not False:
            raise self.not_boolean(cond, item.cond, frame.env, "an if statement")
        return item.body if cond else item.orelse

    def not_boolean(self, value, expr, env, what: str) -> CnnDslError:
        if isinstance(value, Word) and value not in _words():
            return self.unknown_name(value, env)
        return self.error(
            "E214", f"the condition of {what} must be true or false, got {literal(value)}", expr.span,
            hint="compare it: x > 0, x == 1",
        )  # fmt: skip

    def iterations(self, item: For, frame: Frame, x):
        """Runs a loop: yields once per item, with frame.env holding the loop variables. Refused before the
        first iteration when the items times the nodes of the body would pass the node budget."""
        items = self.loop_items(item, frame.env, 0)
        self.work += len(items)
        budget = self.c.max_nodes
        outer = dict(frame.env)
        if self.work > budget or len(self.nodes) + len(items) * self.min_nodes_of(item.body, outer, (), 0) > budget:
            raise self.error(
                "E403", f"a loop over {len(items):,} items expands past the budget of {budget:,} nodes", item.span,
                hint="raise the budget with --max-nodes (max_nodes= in Python) if this is intended",
            )  # fmt: skip
        self.loops += 1
        try:
            for value in items:
                env = dict(outer)
                self.bind_target(item.target, value, env, item.iterable.span)
                frame.env = env
                yield
        finally:
            frame.env = outer
            self.loops -= 1

    def loop_items(self, loop: For | Comprehension, env: dict, depth: int) -> tuple:
        """The items a for loop or a comprehension runs over, once its loop variables are known to be names of
        their own."""
        items = self.evaluate(loop.iterable, env, depth + 1)
        if not isinstance(items, tuple):
            if isinstance(items, Word) and items not in _words():
                raise self.unknown_name(items, env)
            what, hint = ("a for loop", "for i in range(n) { ... }") if isinstance(loop, For) else ("'for'", None)
            raise self.error(
                "E214", f"{what} runs over a tuple or range(n), got {literal(items)}", loop.iterable.span, hint=hint
            )  # fmt: skip
        names = [(name, span) for name, span in target_names(loop.target) if name != UNUSED]
        for name, span in names:
            self.c._check_name(name, span, "loop variable")
            if name in env or name == "in" or [n for n, _ in names].count(name) > 1:
                raise self.error(
                    "E207", f"'{name}' is already defined here", span,
                    hint="a loop variable takes a name of its own: not a parameter's, a constant's or an outer loop's",
                )  # fmt: skip
        return items

    def comprehension(self, expr: Comprehension, env: dict, depth: int) -> tuple:
        """`n for _, n in table if n > 1`: the values of the items the filter keeps, as a tuple. Its iterations
        (kept or not) count against the node budget, as a loop's and a function's calls do."""
        items = self.loop_items(expr, env, depth)
        self.work += len(items)
        if self.work > self.c.max_nodes:
            raise self.error(
                "E403", f"expressions and loops take more than {self.c.max_nodes:,} steps", expr.span,
                hint="raise the budget with --max-nodes (max_nodes= in Python) if this is intended",
            )  # fmt: skip
        values = []
        for value in items:
            inner = dict(env)
            self.bind_target(expr.target, value, inner, expr.iterable.span)
            if expr.cond is not None:
                keep = self.evaluate(expr.cond, inner, depth + 1)
                if keep is not True and keep is not False:
                    raise self.not_boolean(keep, expr.cond, inner, "a generator's 'if'")
                if not keep:
                    continue
            value = self.evaluate(expr.item, inner, depth + 1)
            if isinstance(value, Word) and value not in _words():
                raise self.unknown_name(value, inner)
            values.append(value)
        return tuple(values)

    def bind_target(self, target, value, env: dict, span: Span) -> None:
        if isinstance(target[0], str):  # (name, span)
            if target[0] != UNUSED:
                env[target[0]] = value
            return
        if not isinstance(value, tuple) or len(value) != len(target):
            raise self.error(
                "E214", f"cannot unpack {literal(value)} into {len(target)} names", span,
                hint=f"each item must be a tuple of {len(target)}",
            )  # fmt: skip
        for t, v in zip(target, value):
            self.bind_target(t, v, env, span)

    def label_of(self, stmt: Stmt, frame: Frame) -> str:
        """A computed label (`denselayer{i + 1}`): its parts, each expression an integer or a name."""
        parts = []
        for part in stmt.template:
            if isinstance(part, str):
                parts.append(part)
                continue
            value = self.evaluate(part, frame.env)
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                if isinstance(value, Word) and value not in _words():
                    raise self.unknown_name(value, frame.env)
                raise self.error("E214", f"a label is made of integers and names, got {literal(value)}", part.span)
            parts.append(str(value))
        return "".join(parts)

    def run_stmt(self, stmt: Stmt, frame: Frame, x: int | None) -> int | None:
        label = stmt.label
        if label is not None:
            if stmt.template is not None:
                label = self.label_of(stmt, frame)
            self.c._check_name(label, stmt.label_span, "module name" if stmt.quoted else "label")
            if label in frame.labels or label in frame.shortcuts:
                raise self.error(
                    "E208", f"label '{label}' is used twice in this scope", stmt.label_span,
                    hint="in a loop, compute the label from the loop variable: name{i}" if self.loops else None,
                )  # fmt: skip
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
        if isinstance(item, For):  # labelled: a sequence of its own, as a labelled repeat
            return self.run_sequence((Stmt(None, None, item),), label, frame, x, item.span)
        raise AssertionError(item)

    def need_input(self, x: int | None, span: Span, what: str) -> int:
        if x is None:
            raise self.error("E211", f"{what} has no input: the network must start with input(C, H, W)", span)
        return x

    def run_sequence(self, body, label, frame: Frame, x, span: Span) -> int | None:
        name = frame.prefix + frame.take(label)
        sid = self.new_scope(name, "sequence", span, frame.scope, None, x, {})
        inner = Frame(scope=sid, prefix=name + ".", env=frame.env, outer=frame, params=frame.params)
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
        # (an inline one takes none: its statements are numbered as they run, as an `inline { }` branch's)
        declared = item.shortcut is not None and not item.shortcut_inline
        shortcut_name = frame.take(item.shortcut_label) if declared else None
        same = self.nodes[main].shape == self.nodes[x].shape
        if item.shortcut is None or same:
            shortcut = x  # identity; a declared projection is used only where the shape changes
        elif item.shortcut_inline:  # layers of the block's own (keras.applications' `0_conv`, `0_bn`)
            shortcut = self.run_stmts(item.shortcut, frame, x)
        else:
            name = frame.prefix + shortcut_name
            sid = self.new_scope(name, "sequence", item.shortcut_span, frame.scope, None, x, {})
            inner = Frame(scope=sid, prefix=name + ".", env=frame.env, outer=frame, params=frame.params)
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
                item.span, hint=_suggest(item.kind, (*ops.MERGES, "inline")),
            )  # fmt: skip
        x = self.need_input(x, item.span, item.kind)
        outs = []
        for stmt in self.flat(item.body, frame):  # an `if` or a `for` among the branches adds the ones it runs
            out = self.run_stmt(stmt, frame, x)
            outs.append(out)
        if not outs:
            raise self.error("E205", f"{item.kind} {{ }} needs at least one branch", item.span)
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
        hint = _suggest(call.name, [*ops.LAYERS, *BUILTINS, *self.c.blocks])
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
        # A block sees the file's constants, its parameters, and `in`: the shape of its input.
        base = self.consts if x is None else {**self.consts, "in": self.nodes[x].shape}
        env = self.bind_params(definition, args, kwargs, call.span, frame.env, base)
        params = {p.name: env[p.name] for p in definition.params}
        # As for layers, the arguments that use the caller's parameters are kept as IR expressions, so that a
        # backend can write `conv_bn(c1, 1)` inside `inception` as a call in terms of `c1`.
        given = [*zip((p.name for p in definition.params), call.args), *((k.name, k.value) for k in call.kwargs)]
        exprs = {p: text for p, a in given if (text := _symbolic(a, frame)) is not None}
        if call.name not in self.signatures:  # a default the generators cannot compute makes the argument required
            self.signatures[call.name] = {
                p.name: _ir_expr(p.default) if p.default is not None and _arithmetic(p.default) else None
                for p in definition.params
            }
        name = frame.prefix + frame.take(label)
        sid = self.new_scope(name, "block", call.span, frame.scope, call.name, x, params, exprs)
        inner = Frame(scope=sid, prefix=name + ".", env=env, params=frozenset(params))  # only its own labels
        self.calls.append(call.name)
        out = self.run_stmts(definition.body, inner, x)
        self.calls.pop()
        self.close_scope(sid, out)
        return out

    def bind_params(self, d, args, kwargs, span: Span, caller_env, base=None) -> dict:
        """Match call arguments to a definition's parameters; defaults may use earlier parameters, and the
        names of `base` (constants, `in`). Returns `base` with the parameters added."""
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
        env = dict(base) if base else {}
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
            if (text := _symbolic(a, frame)) is not None:
                exprs[field_name] = text
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
            if (text := _symbolic(k.value, frame)) is not None:
                exprs[k.name] = text
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
        if word == UNUSED:
            hint = "'_' names a loop variable that is not read"
            return self.error("E206", "'_' is not a value", word.span, hint=hint)
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
                inner = {**self.consts, **env}
                self.estimates[key] = self.min_nodes_of(d.body, inner, (*active, item.name), depth + 1)
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
        if isinstance(item, If):  # the branch it takes, where the condition is known now
            cond = self.try_evaluate(item.cond, env)
            if cond is True or cond is False:
                return self.min_nodes_of(item.body if cond else item.orelse, env, active, depth + 1)
            return 0
        if isinstance(item, For):  # the items times the body (its loop variables unknown: a lower bound)
            items = self.try_evaluate(item.iterable, env)
            if not isinstance(items, tuple) or not items:
                return 0
            return min(cap, len(items) * self.min_nodes_of(item.body, env, active, depth + 1))
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
                value = (
                    self.try_evaluate(p.default, {**self.consts, **out})
                    if self.consts
                    else self.try_evaluate(p.default, out)
                )
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
        return self.evaluate_more(expr, env, depth)

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
        return self.in_range(result, expr)

    def in_range(self, result, expr):
        if abs(result) > MAX_INT or result != result:
            raise self.error("E405", "number out of range", expr.span)
        return result

    def evaluate_more(self, expr, env: dict, depth: int):
        """Conditions, calls, indexing and `in`: the expressions families need beyond arithmetic."""
        if isinstance(expr, Compare):
            a = self.evaluate(expr.left, env, depth + 1)
            b = self.evaluate(expr.right, env, depth + 1)
            if expr.op in ("==", "!="):
                for v in (a, b):
                    if isinstance(v, Word) and v not in _words() and not (isinstance(a, Word) and isinstance(b, Word)):
                        raise self.unknown_name(v, env)
                return (_typed(a) == _typed(b)) == (expr.op == "==")
            a, b = self.number(a, expr.left, env), self.number(b, expr.right, env)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[expr.op]
        if isinstance(expr, BoolOp):
            a = self.boolean(self.evaluate(expr.left, env, depth + 1), expr.left, env, f"'{expr.op}'")
            if a is (expr.op == "or"):  # decided by the left side: the right one is not evaluated
                return a
            return self.boolean(self.evaluate(expr.right, env, depth + 1), expr.right, env, f"'{expr.op}'")
        if isinstance(expr, Not):
            return not self.boolean(self.evaluate(expr.operand, env, depth + 1), expr.operand, env, "'not'")
        if isinstance(expr, IfExp):
            cond = self.evaluate(expr.cond, env, depth + 1)
            if cond is not True and cond is not False:
                raise self.not_boolean(cond, expr.cond, env, "a conditional expression")
            return self.evaluate(expr.then if cond else expr.orelse, env, depth + 1)
        if isinstance(expr, Index):
            target = self.evaluate(expr.target, env, depth + 1)
            index = self.evaluate(expr.index, env, depth + 1)
            if isinstance(target, Word) and target not in _words():
                raise self.unknown_name(target, env)
            if not isinstance(target, tuple):
                raise self.error("E214", f"only a tuple can be indexed, not {literal(target)}", expr.span)
            if isinstance(index, bool) or not isinstance(index, int):
                if isinstance(index, Word) and index not in _words():
                    raise self.unknown_name(index, env)
                raise self.error("E214", f"an index is an integer, got {literal(index)}", expr.index.span)
            if not -len(target) <= index < len(target):
                raise self.error(
                    "E214", f"index {index} is out of range for a tuple of {len(target)}", expr.index.span,
                    hint=f"indices run from 0 to {len(target) - 1} (and from -1 back)" if target else None,
                )  # fmt: skip
            return target[index]
        if isinstance(expr, ShapeAttr):
            return self.shape_attr(expr, env)
        if isinstance(expr, FnCall):
            return self.call_function(expr, env, depth)
        if isinstance(expr, Comprehension):
            return self.comprehension(expr, env, depth)
        raise AssertionError(expr)

    def boolean(self, v, expr, env, what: str) -> bool:
        if v is True or v is False:
            return v
        if isinstance(v, Word) and v not in _words():
            raise self.unknown_name(v, env)
        raise self.error("E214", f"{what} needs true or false, got {literal(v)}", expr.span, hint="compare it: x > 0")

    def shape_attr(self, expr: ShapeAttr, env: dict):
        shape = env.get("in")
        if shape is None:
            raise self.error(
                "E216", f"'in.{expr.attr}': 'in' is the input of a block, and only a block has one", expr.span,
                hint="a function takes the sizes it needs as arguments" if self.functions_active else None,
            )  # fmt: skip
        names = INPUT_SIZES.get(len(shape), ())
        if expr.attr not in names:
            what = f"a vector of {shape[0]}" if len(shape) == 1 else f"{ops.shape_str(shape)}"
            hint = _did_you_mean(expr.attr, names)
            raise self.error(
                "E216", f"the input has no size '{expr.attr}': it is {what}", expr.span,
                hint=hint or (f"its sizes: {', '.join('in.' + n for n in names)}" if names else None),
            )  # fmt: skip
        return shape[names.index(expr.attr)]

    # --- functions -----------------------------------------------------------------------------------

    functions_active = 0  # how deep in `def` functions the evaluation is

    def call_function(self, expr: FnCall, env: dict, depth: int):
        self.work += 1
        if self.work > self.c.max_nodes:
            raise self.error(
                "E403", f"expressions and loops take more than {self.c.max_nodes:,} steps", expr.span,
                hint="raise the budget with --max-nodes (max_nodes= in Python) if this is intended",
            )  # fmt: skip
        d = self.c.lets.get(expr.name)
        if isinstance(d, FnDef):
            return self.call_def(d, expr, env, depth)
        if expr.name in FUNCTIONS:
            if expr.kwargs:
                raise self.error("E201", f"{expr.name}() takes no named arguments", expr.kwargs[0].span)
            args = [self.evaluate(a, env, depth + 1) for a in expr.args]
            for v in args:
                if isinstance(v, Word) and v not in _words():
                    raise self.unknown_name(v, env)
            low, high, fn = FUNCTIONS[expr.name]
            if not low <= len(args) <= high:
                many = f"{low}" if low == high else f"{low} to {high}"
                raise self.error(
                    "E203" if len(args) > high else "E202",
                    f"{expr.name}() takes {many} arguments, got {len(args)}", expr.span,
                )  # fmt: skip
            try:
                result = fn(*args)
            except (TypeError, ValueError, OverflowError, ZeroDivisionError) as e:
                shown = ", ".join(literal(a) for a in args)
                raise self.error("E214", f"{expr.name}({shown}): {_why(e)}", expr.span) from None
            if isinstance(result, range):
                if len(result) > self.c.max_nodes:
                    raise self.error(
                        "E403", f"range of {len(result):,} items is past the budget of {self.c.max_nodes:,} nodes",
                        expr.span,
                    )  # fmt: skip
                result = tuple(result)
            if isinstance(result, (int, float)) and not isinstance(result, bool):
                return self.in_range(result, expr)
            return result
        what = "a layer" if expr.name in ops.LAYERS else "a block" if expr.name in self.c.blocks else None
        if what:
            hint = f"'{expr.name}' is {what}: layers and blocks are statements, not values"
        else:
            names = [*FUNCTIONS, *(n for n, v in self.c.lets.items() if isinstance(v, FnDef))]
            hint = _did_you_mean(expr.name, names) or f"the functions: {', '.join(names)}"
        raise self.error("E215", f"unknown function '{expr.name}'", expr.span, hint=hint)

    def call_def(self, d: FnDef, expr: FnCall, env: dict, depth: int):
        args = [(None, self.evaluate(a, env, depth + 1), a.span) for a in expr.args]
        kwargs = [(k.name, self.evaluate(k.value, env, depth + 1), k.span) for k in expr.kwargs]
        if d.name in self.fn_stack:
            chain = " → ".join([*self.fn_stack[self.fn_stack.index(d.name) :], d.name])
            raise self.error("E402", f"function '{d.name}' calls itself ({chain})", expr.span)
        key = (d.name, *(_typed(v) for _, v, _ in args), *((k, _typed(v)) for k, v, _ in kwargs))
        if key in self.calls_made:
            return self.calls_made[key]
        definition = Definition("function", d.name, d.params, (), d.span)
        bound = self.bind_params(definition, args, kwargs, expr.span, env, self.consts)
        self.fn_stack.append(d.name)
        self.functions_active += 1
        try:
            value = self.evaluate(d.body, bound, depth + 1)
        finally:
            self.fn_stack.pop()
            self.functions_active -= 1
        self.calls_made[key] = value
        return value

    def number(self, v, expr, env):
        if isinstance(v, Word):
            raise self.unknown_name(v, env)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error("E205", f"arithmetic needs numbers, got {literal(v)}", expr.span)
        return v


def _round(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError("needs a number")
    return round(x)


def _numbers(*xs):
    if not xs:
        raise TypeError("needs at least one number")
    if len(xs) == 1 and isinstance(xs[0], tuple):
        xs = xs[0]
        if not xs:
            raise ValueError("the tuple is empty")
    for x in xs:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError(f"needs numbers, got {literal(x)}")
    return xs


def _integers(*xs):
    for x in xs:
        if isinstance(x, bool) or not isinstance(x, int):
            raise TypeError(f"needs integers, got {literal(x)}")
    return xs


def _log(x):
    (x,) = _numbers(x)
    if x <= 0:
        raise ValueError("needs a positive number")
    return math.log(x)


def _length(t):
    if not isinstance(t, tuple):
        raise TypeError(f"needs a tuple, got {literal(t)}")
    return len(t)


def _enumerate(t):
    _length(t)
    return tuple(enumerate(t))


# The built-in functions of expressions: name -> (fewest arguments, most arguments, function). Integers stay
# integers where Python keeps them so (`round`, `floor`, `ceil`, `int` give integers; `/` divides exactly).
FUNCTIONS = {
    "min": (1, 64, lambda *xs: min(_numbers(*xs))),
    "max": (1, 64, lambda *xs: max(_numbers(*xs))),
    "round": (1, 1, _round),  # to the nearest integer, halves to even (Python, NumPy and torch.round)
    "floor": (1, 1, lambda x: math.floor(*_numbers(x))),
    "ceil": (1, 1, lambda x: math.ceil(*_numbers(x))),
    "int": (1, 1, lambda x: int(*_numbers(x))),  # towards zero, as Python's int()
    "abs": (1, 1, lambda x: abs(*_numbers(x))),
    "log": (1, 1, _log),  # natural logarithm
    "pow": (2, 2, lambda x, y: math.pow(*_numbers(x, y))),
    "sum": (1, 64, lambda *xs: 0 if xs == ((),) else sum(_numbers(*xs))),  # of numbers or of one tuple
    "len": (1, 1, _length),
    "range": (1, 3, lambda *xs: range(*_integers(*xs))),
    "enumerate": (1, 1, _enumerate),
}


def _why(e: Exception) -> str:
    text = str(e)
    return {"math domain error": "not defined there", "math range error": "out of range"}.get(text, text)


# The sizes `in.` names, by the rank of the input.
INPUT_SIZES = {3: ("channels", "height", "width"), 1: ("features",)}
SETTINGS = "--set"  # the path errors in `--set NAME=VALUE` settings show
UNUSED = "_"  # a loop variable that is not read (`for _ in range(3)`, `for _, c in table`): bound to nothing


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


def _suggest(name: str, candidates) -> str | None:
    """'did you mean ...?': ours for a name other frameworks use (Conv2D, ReLU, linear, mul), else the closest."""
    ours = _ALIASES.get(name.lower(), name.lower())
    if ours != name and ours in candidates:
        return f"did you mean '{ours}'?"
    return _did_you_mean(name, candidates)


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
