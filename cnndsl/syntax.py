"""Text to syntax tree: the Lark LALR parser for grammars/cnn.lark and the tree it builds.

The syntax tree is a handful of frozen dataclasses that keep the source position of everything they
hold, so that any later error (an unknown layer, a bad shape) can point at the right column.
The transformer runs inside the parser (no intermediate Lark tree), which keeps parsing linear and fast.
"""

from __future__ import annotations

import bisect
import contextvars
import functools
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_parser_state import ParserState

from .errors import (
    CnnDslError,
    Span,  # the syntax tree and the IR share positions: nodes keep their statement's Span
)

MAX_INT_DIGITS = 30  # far beyond any real size; keeps int() and arithmetic cheap
MAX_INT = 2**53  # the largest integer literal (as compiler.MAX_INT for computed values)


# The tree's nodes are never changed after parsing and are told apart by identity (each has its own
# position anyway): plain slotted dataclasses without generated __eq__ or __repr__, which every
# `cnndsl check` defines in about a third of the time of frozen ones.
node = dataclass(slots=True, eq=False, repr=False)


# --- expressions ---------------------------------------------------------------------------------


@node
class Const:
    """A literal: int, float, bool or string (strings only appear in `import`)."""

    value: object
    span: Span


@node
class Open:
    """`?`: a spatial size left open (only meaningful in `input`)."""

    span: Span


@node
class Name:
    """A name: a block parameter, or a word such as `same` or `relu`."""

    id: str
    span: Span


@node
class TupleExpr:
    """`(3, 5)`, or `3x5`."""

    items: tuple
    span: Span


@node
class BinOp:
    """Arithmetic on block parameters: `channels * 4`."""

    op: str  # one of + - * / // %
    left: object
    right: object
    span: Span


@node
class Neg:
    """`-x`."""

    operand: object
    span: Span


@node
class Compare:
    """`stride == 1`: one comparison (they do not chain)."""

    op: str  # one of == != < <= > >=
    left: object
    right: object
    span: Span


@node
class BoolOp:
    """`a and b`, `a or b`: the right side is evaluated only when needed."""

    op: str  # "and" | "or"
    left: object
    right: object
    span: Span


@node
class Not:
    """`not x`."""

    operand: object
    span: Span


@node
class IfExp:
    """`a if cond else b`: only the chosen side is evaluated."""

    cond: object
    then: object
    orelse: object
    span: Span


@node
class Index:
    """`row[2]`: an item of a tuple (from 0; -1 is the last)."""

    target: object
    index: object
    span: Span


@node
class FnCall:
    """`max(a, b)`, `make_divisible(c * 4)`: a built-in or a `def` function, in an expression."""

    name: str
    args: tuple
    kwargs: tuple  # of Kwarg
    span: Span


@node
class Comprehension:
    """`n * 2 for _, n in table if n > 1`, the one argument of a function (`sum(...)`, `max(...)`): the tuple of
    the values of `item`, one per item of `iterable` for which `cond` holds, with `target` bound as a for loop
    binds it."""

    item: object
    target: tuple
    iterable: object
    cond: object  # None without `if`
    span: Span


@node
class ShapeAttr:
    """`in.channels`: a size of the input of the block being expanded."""

    attr: str
    span: Span


# --- statements ----------------------------------------------------------------------------------


@node
class Kwarg:
    """`strides=2` in a call."""

    name: str
    value: object
    span: Span


@node
class Call:
    """`conv(64, 3, strides=2)`: a layer or a block call."""

    name: str
    args: tuple
    kwargs: tuple  # of Kwarg
    span: Span


@node
class Repeat:
    """`repeat N item`."""

    count: object
    item: object
    span: Span


@node
class Sequence:
    """`sequence { ... }` or a bare `{ ... }`: statements in a scope of their own."""

    body: tuple  # of Stmt
    span: Span
    bare: bool  # written `{ ... }` without the `sequence` keyword


@node
class Residual:
    """`residual { main } [shortcut [label | inline] { ... }]`."""

    main: tuple
    shortcut_label: str | None
    shortcut: tuple | None  # None: identity shortcut
    span: Span
    shortcut_span: Span | None
    shortcut_label_span: Span | None = None  # where a shortcut's label is written, for errors about it
    shortcut_inline: bool = False  # `shortcut inline { ... }`: its statements are the enclosing scope's


@node
class Branches:
    """`concat { ... }` or `add { ... }`: each statement is a branch fed with the same input."""

    kind: str
    body: tuple
    span: Span


@node
class Stmt:
    """One statement of a body, with its label if it has one."""

    label: str | None
    label_span: Span | None
    item: object
    output: bool = False  # `output item`: an extra output of the network; the current tensor stays
    quoted: bool = False  # the label was written as a string: a module name that need not be an identifier
    template: tuple | None = None  # a computed label: its parts, text (str) and expressions in turn


@node
class For:
    """`for i, row in table { ... }`: the body once per item, its statements in the enclosing scope."""

    target: tuple  # (name, span), or a tuple of targets: the parts of each item, as Python unpacks them
    iterable: object
    body: tuple
    span: Span


@node
class If:
    """`if cond { ... } else { ... }`: the statements of the branch taken, in the enclosing scope."""

    cond: object
    body: tuple
    orelse: tuple  # () without `else`; `else if` is an If alone in it
    span: Span


@node
class Let:
    """`let momentum = 0.01`: a constant of the file."""

    name: str
    value: object
    span: Span


@node
class FnDef:
    """`def half(c) = c // 2`: a function of numbers, for the arithmetic of a family."""

    name: str
    params: tuple  # of Param
    body: object
    span: Span


@node
class Param:
    """A parameter of a block or network, with its default."""

    name: str
    default: object | None
    span: Span


@node
class Definition:
    """A `block` or a `network`: a name, parameters with optional defaults, and a body."""

    kind: str  # "block" | "network"
    name: str
    params: tuple
    body: tuple
    span: Span


@node
class Import:
    """`import "path.cnn"`."""

    path: str
    span: Span


@node
class Module:
    """A parsed file."""

    path: str
    imports: tuple
    definitions: tuple
    lets: tuple = ()  # of Let and FnDef, in source order


def grammar_path() -> Path:
    """The grammar ships inside the wheel as cnndsl/grammars/; in a source tree it is ../grammars/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammars" / "cnn.lark", here.parent / "grammars" / "cnn.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("grammars/cnn.lark is missing from this installation of cnndsl")


# The file being parsed. Lark calls the transformer from inside the parser it was built into, so one
# transformer serves every parse; the path is per thread and per async task, which makes parsing
# re-entrant (a language server or a web server parses from several threads at once).
_path: contextvars.ContextVar[str] = contextvars.ContextVar("cnndsl_parse_path", default="<string>")


class _ToAst(Transformer):
    """Called by the LALR parser as it reduces each rule. Positions come from the rule's first token."""

    @property
    def path(self) -> str:
        return _path.get()

    def _span(self, token: Token) -> Span:
        return Span(self.path, token.line, token.column)

    # expressions
    def int(self, c):
        (tok,) = c
        text = tok.value
        if len(text) > MAX_INT_DIGITS or int(text) > MAX_INT:
            shown = f"with {len(text)} digits" if len(text) > 20 else text
            raise CnnDslError(
                "E405", f"integer {shown} is out of range", self.path, tok.line, tok.column,
                hint="integers are at most 2**53 (9,007,199,254,740,992)",
            )  # fmt: skip
        return Const(int(text), self._span(tok))

    def float(self, c):
        (tok,) = c
        value = float(tok.value)
        if value in (float("inf"), float("-inf")) or len(tok.value) > 64:
            raise CnnDslError("E405", f"number '{tok.value[:20]}' is out of range", self.path, tok.line, tok.column)
        return Const(value, self._span(tok))

    def dims(self, c):
        (tok,) = c
        h, w = tok.value.split("x")
        if max(len(h), len(w)) > MAX_INT_DIGITS or max(int(h), int(w)) > MAX_INT:
            raise CnnDslError("E405", f"size '{tok.value[:30]}' is out of range", self.path, tok.line, tok.column)
        span = self._span(tok)
        return TupleExpr((Const(int(h), span), Const(int(w), span)), span)

    def true(self, c):
        return Const(True, self._span(c[0]))

    def false(self, c):
        return Const(False, self._span(c[0]))

    def open(self, c):
        return Open(self._span(c[0]))

    def name(self, c):
        return Name(c[0].value, self._span(c[0]))

    def string(self, c):
        return Const(c[0].value[1:-1], self._span(c[0]))

    def tuple(self, c):
        items = tuple(x for x in c if x is not None)
        return TupleExpr(items, items[0].span)

    def add(self, c):
        return BinOp("+", c[0], c[1], c[0].span)

    def sub(self, c):
        return BinOp("-", c[0], c[1], c[0].span)

    def mul(self, c):
        return BinOp("*", c[0], c[1], c[0].span)

    def div(self, c):
        return BinOp("/", c[0], c[1], c[0].span)

    def floordiv(self, c):
        return BinOp("//", c[0], c[1], c[0].span)

    def mod(self, c):
        return BinOp("%", c[0], c[1], c[0].span)

    def neg(self, c):
        minus, operand = c
        return Neg(operand, self._span(minus))

    def compare(self, c):
        left, op, right = c
        return Compare(op.value, left, right, self._span(op))

    def or_(self, c):
        return BoolOp("or", c[0], c[2], self._span(c[1]))

    def and_(self, c):
        return BoolOp("and", c[0], c[2], self._span(c[1]))

    def not_(self, c):
        return Not(c[1], self._span(c[0]))

    def ifexp(self, c):
        then, keyword, cond, _, orelse = c
        return IfExp(cond, then, orelse, self._span(keyword))

    def index(self, c):
        target, bracket, index = c
        return Index(target, index, self._span(bracket))

    def fcall(self, c):
        return self._call(FnCall, c)

    def fgen(self, c):
        name, item, keyword, targets, _, iterable, _, cond = c
        target = targets[0] if len(targets) == 1 else targets
        comprehension = Comprehension(item, target, iterable, cond, self._span(keyword))
        return FnCall(name.value, (comprehension,), (), self._span(name))

    def _call(self, cls, c):
        name, args = c
        args = args or []
        positional = tuple(a for a in args if not isinstance(a, Kwarg))
        kwargs = tuple(a for a in args if isinstance(a, Kwarg))
        return cls(name.value, positional, kwargs, self._span(name))

    def shape_attr(self, c):
        keyword, attr = c
        return ShapeAttr(attr.value, self._span(attr))

    # calls and statements
    def kwarg(self, c):
        return Kwarg(c[0].value, c[1], self._span(c[0]))

    def args(self, c):
        return [x for x in c if x is not None]

    def call(self, c):
        return self._call(Call, c)

    def body(self, c):
        return (self._span(c[0]), tuple(c[1:]))

    def stmt(self, c):
        label, output, item = c
        if label is None:
            return Stmt(None, None, item, output is not None)
        quoted = label.type == "STRING"
        text = label.value[1:-1] if quoted else label.value
        template = _template(text, label.line, label.column + quoted) if "{" in text or "}" in text else None
        return Stmt(text, self._span(label), item, output is not None, quoted, template)

    def if_stmt(self, c):
        keyword, cond, (_, body), _, orelse = c
        if orelse is None:
            orelse = ()
        elif isinstance(orelse, If):
            orelse = (orelse,)
        else:
            orelse = orelse[1]
        return If(cond, body, orelse, self._span(keyword))

    def for_loop(self, c):
        keyword, targets, _, iterable, (_, body) = c
        target = targets[0] if len(targets) == 1 else targets
        return For(target, iterable, body, self._span(keyword))

    def targets(self, c):
        return tuple(c)

    def target(self, c):
        (t,) = c
        return (t.value, self._span(t)) if isinstance(t, Token) or hasattr(t, "type") else t

    def repeat(self, c):
        return Repeat(c[1], c[2], self._span(c[0]))

    def sequence(self, c):
        span, body = c[-1]
        if len(c) == 2:
            return Sequence(body, self._span(c[0]), bare=False)
        return Sequence(body, span, bare=True)

    def shortcut(self, c):
        keyword, label, (_, body) = c
        return (self._span(keyword), label.value if label else None, body, self._span(label) if label else None)

    def residual(self, c):
        keyword, (_, main), shortcut = c
        if shortcut is None:
            return Residual(main, None, None, self._span(keyword), None)
        span, label, body, label_span = shortcut
        if label == "inline":
            return Residual(main, None, body, self._span(keyword), span, None, shortcut_inline=True)
        return Residual(main, label, body, self._span(keyword), span, label_span)

    def branches(self, c):
        name, (_, body) = c
        return Branches(name.value, body, self._span(name))

    # definitions
    def param(self, c):
        return Param(c[0].value, c[1], self._span(c[0]))

    def params(self, c):
        return tuple(x for x in c if x is not None)

    def _definition(self, kind, c):
        keyword, name, params, (_, body) = c
        return Definition(kind, name.value, params or (), body, self._span(name))

    def block_def(self, c):
        return self._definition("block", c)

    def network_def(self, c):
        return self._definition("network", c)

    def import_stmt(self, c):
        return Import(c[1].value[1:-1], self._span(c[1]))

    def let_def(self, c):
        return Let(c[1].value, c[2], self._span(c[1]))

    def fn_def(self, c):
        keyword, name, params, body = c
        return FnDef(name.value, params or (), body, self._span(name))

    def start(self, c):
        imports = tuple(x for x in c if isinstance(x, Import))
        definitions = tuple(x for x in c if isinstance(x, Definition))
        lets = tuple(x for x in c if isinstance(x, (Let, FnDef)))
        return Module(self.path, imports, definitions, lets)


_transformer = _ToAst()
_parsers: dict[bool, Lark] = {}
_building = threading.Lock()  # two threads asking at once build one parser

# Readable names for the terminals Lark reports in "expected ..." lists.
_TERMINALS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "DIMS": "a size like 3x3",
    "STRING": 'a "string"',
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "COLON": "':'",
    "SEMICOLON": "';'",
    "EQUAL": "'='",
    "OPEN": "'?'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "LSQB": "'['",
    "RSQB": "']'",
    "DOT": "'.'",
    "COMPARE": "a comparison",
    "TEMPLATE": "a computed label",
    "$END": "end of file",
}


def _describe(terminal: str) -> str:
    if terminal in _TERMINALS:
        return _TERMINALS[terminal]
    if terminal.isupper() and terminal.isalpha():  # keyword terminals: IMPORT, BLOCK, ...
        return f"'{terminal.lower()}'"
    return terminal


def parser(accelerated: bool = True) -> Lark:
    """The LALR parser, its tables cached on disk by Lark. With lark-cython installed (a dependency on
    CPython) the same tables drive Lark's Cython parser and lexer, about 1.6 times faster on large files;
    the transformer reads tokens only through attributes both kinds of token have (`.value`, `.line`)."""
    plugins = _cython_plugins() if accelerated else None
    key = plugins is not None
    if key in _parsers:
        return _parsers[key]
    with _building:
        if key in _parsers:
            return _parsers[key]
        _parsers[key] = Lark(
            grammar_path().read_text(encoding="utf-8"),
            parser="lalr",
            # One scanner for every token: the keywords are reserved words everywhere, and start-up does not
            # compile a scanner per parser state as the contextual lexer would (~10 ms of `cnndsl check`).
            lexer="basic",
            transformer=_transformer,
            start=["start", "expr"],  # `expr`: the parts of computed labels, and `--set NAME=VALUE`
            maybe_placeholders=True,
            cache=True,
            **({"_plugins": plugins} if plugins else {}),
        )
    return _parsers[key]


def _cython_plugins():
    try:
        import lark_cython
    except ImportError:
        return None
    return lark_cython.plugins


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_describe(t) for t in (getattr(exc, "expected", None) or ()) if not t.startswith("__")})
    if not names:
        return ""
    if len(names) > 6:
        return ""
    return "expected " + " or ".join(names)


# lark-cython's parser takes ~3 ms longer to load than Lark's: it pays off from a few hundred lines on.
ACCELERATE_FROM = 20_000  # characters


def parse(text: str, path: str = "<string>", accelerated: bool | None = None) -> Module:
    """Parse .cnn source text into a Module; raises CnnDslError for any syntax error. `accelerated`:
    lark-cython or pure Lark (the same tree and errors); by default the first for large texts only."""
    if accelerated is None:
        accelerated = len(text) >= ACCELERATE_FROM
    return _parse(text, path, accelerated, "start")


def _parse(text: str, path: str, accelerated: bool, start: str):
    lines = text.splitlines()
    token = _path.set(path)
    try:
        return parser(accelerated).parse(text, start=start)
    except CnnDslError as e:
        e.source_line = _source_line(lines, e.line)
        raise
    except UnexpectedInput as e:
        raise _syntax_error(e, text, path, lines) from None
    except RecursionError:  # not reachable from the LALR parser itself; a guard all the same
        raise CnnDslError("E404", "nesting is too deep", path, 1, 1) from None
    finally:
        _path.reset(token)


def _bare_call(text: str, tok: Token, exc: UnexpectedToken) -> tuple[str, int, int] | None:
    """(word, line, column) of a name written without its call's parentheses, where the parser wanted '('
    after it and found something on a later line (the next statement, a '}')."""
    if "LPAR" not in set(getattr(exc, "expected", ()) or ()):
        return None
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n\s*\Z", text[: tok.start_pos])
    if m is None or m.group(1) in keywords():
        return None
    line = text.count("\n", 0, m.start(1)) + 1
    return m.group(1), line, m.start(1) - (text.rfind("\n", 0, m.start(1)) + 1) + 1


def _source_line(lines: list[str], n: int) -> str | None:
    return lines[n - 1] if 0 < n <= len(lines) else None


def _syntax_error(e: UnexpectedInput, text: str, path: str, lines: list[str]) -> CnnDslError:
    """The CnnDslError (E100, E101 or E102) for one of Lark's syntax errors."""
    if isinstance(e, UnexpectedCharacters):
        char = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        return CnnDslError(
            "E101", f"unexpected character {char!r}", path, e.line, e.column, source_line=_source_line(lines, e.line)
        )
    last = max(1, len(lines))
    end_column = len(lines[-1]) + 1 if lines else 1
    if isinstance(e, UnexpectedEOF):
        hint = _expected(e) or None
        return CnnDslError(
            "E102", "unexpected end of file", path, last, end_column, hint=hint and f"{hint}; is a '}}' missing?",
            source_line=_source_line(lines, last),
        )  # fmt: skip
    tok = e.token
    if tok.type == "$END":
        hint = _expected(e)
        return CnnDslError(
            "E102", "unexpected end of file" + (f": {hint}" if hint else ""), path, last, end_column,
            hint="is a '}' or ')' missing?", source_line=_source_line(lines, last),
        )  # fmt: skip
    bare = _bare_call(text, tok, e)
    if bare:  # `relu` on a line of its own
        word, line, column = bare
        return CnnDslError(
            "E100", f"'{word}' without parentheses: write '{word}()'", path, line, column,
            hint="a layer or block is called with parentheses, even without arguments",
            source_line=_source_line(lines, line),
        )  # fmt: skip
    expected = _expected(e)
    message = f"unexpected {_token_text(tok)}" + (f", {expected}" if expected else "")
    hint, line = _syntax_hint(tok, e, text), _source_line(lines, tok.line)
    return CnnDslError("E100", message, path, tok.line, tok.column, hint=hint, source_line=line)


# what a mistyped statement most often lacks before the token that stopped it: `conv(16 3)`, `conv(3, 3}`,
# `sequence relu() }`
_MISSING = (
    ("COMMA", ","), ("RPAR", ")"), ("COLON", ":"), ("LBRACE", "{"), ("RBRACE", "}"), ("LPAR", "("), ("INT", "0"),
    ("STRING", '""'),
)  # fmt: skip
LOOKAHEAD = 3  # a repair must let the parser take this many tokens after the one it stopped at
_TOP = {"BLOCK", "IMPORT", "NETWORK", "LET", "DEF", "$END"}  # what may follow a definition


def _repair(e: UnexpectedToken, following: list[Token]) -> None:
    """Put in the one token whose absence stopped the parser, if one lets it go on with the unexpected token
    and the few after it (else Lark skips that token)."""
    for kind, value in _MISSING:
        trial = _trial(e.interactive_parser.parser_state)
        try:
            for tok in (Token(kind, value), e.token, *following):
                trial.feed_token(tok)
        except UnexpectedInput:
            continue
        e.interactive_parser.feed_token(Token(kind, value))
        e.interactive_parser.feed_token(e.token)
        return


def _trial(state: ParserState) -> ParserState:
    """A copy of the parser's state to try tokens on. Lark's own copy deep-copies the value stack, i.e. all of
    the file parsed so far, which made each repair linear in the file and made checking a mangled file
    quadratic. The transformer never changes the nodes it is given; what Lark changes in place is the
    children list of the tree that collects a repetition (`x*`) as it grows (lark issue 1142), so only those
    lists are copied."""
    values = [Tree(v.data, list(v.children)) if isinstance(v, Tree) else v for v in state.value_stack]
    return ParserState(state.parse_conf, state.lexer, list(state.state_stack), values)


def syntax_errors(text: str, path: str = "<string>", limit: int = 20) -> list[CnnDslError]:
    """Every syntax error of a text (at most `limit`), for a text that `parse` refuses: the parser resumes
    after each error (Lark's on_error), skipping tokens, and an error is reported only at a later line than the
    previous one, so that one mistake is one error. The first error is always `parse`'s."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    errors: list[CnnDslError] = []
    tokens: list[Token] = []
    try:
        tokens.extend(parser(accelerated=False).lex(text))
    except UnexpectedInput:
        pass  # the tokens before a stray character
    starts = [t.start_pos for t in tokens]

    between = [False]  # skipping tokens between definitions: one error for the whole stretch

    def on_error(e: UnexpectedInput) -> bool:
        error = _syntax_error(e, text, path, lines)
        top = isinstance(e, UnexpectedToken) and set(e.expected or ()) <= _TOP
        if (not errors or error.line > errors[-1].line) and not (top and between[0]):
            errors.append(error)
        between[0] = top
        if isinstance(e, UnexpectedToken) and e.token.type != "$END":
            at = bisect.bisect_right(starts, e.token.start_pos)
            _repair(e, tokens[at : at + LOOKAHEAD])
        return len(errors) < limit and error.code != "E102"

    token = _path.set(path)
    try:
        parser(accelerated=False).parse(text, start="start", on_error=on_error)
    except CnnDslError as e:  # a number out of range, met while recovering
        if not errors or e.line > errors[-1].line:
            e.source_line = _source_line(lines, e.line)
            errors.append(e)
    except (UnexpectedInput, RecursionError):
        pass
    finally:
        _path.reset(token)
    return errors


def _template(text: str, line: int, column: int) -> tuple:
    """The parts of a computed label (`denselayer{i + 1}`): text, and the expressions between braces,
    parsed where they stand so that their errors point into the label."""
    parts, at = [], 0
    path = _path.get()
    for m in re.finditer(r"\{([^{}]*)\}|[{}]", text):
        if m.group(1) is None:
            raise CnnDslError(
                "E100", f"unmatched '{m.group()}' in the label", path, line, column + m.start(),
                hint="a computed label puts each expression in braces: block{i + 1}",
            )  # fmt: skip
        parts.append(text[at : m.start()])
        parts.append(parse_expression(m.group(1), path, line, column + m.start() + 1))
        at = m.end()
    parts.append(text[at:])
    return tuple(p for p in parts if p != "")


def parse_expression(text: str, path: str = "<string>", line: int = 1, column: int = 1) -> object:
    """One expression (a part of a computed label, a `--set` value) that stands at `line`:`column` of `path`:
    its syntax tree, or CnnDslError, with positions there; the caller shows the source line."""
    padded = " " * (column - 1) + text  # the columns by padding; the lines (no newlines: linear) by moving
    lines = padded.split("\n")
    try:
        if not text.strip():
            raise CnnDslError("E100", "a value is missing", path, len(lines), len(lines[-1]) + 1)
        return _relocate(_parse(padded, path, False, "expr"), line - 1)
    except CnnDslError as e:
        e.source_line, e.line = None, e.line + line - 1
        if e.code == "E102":
            e.message, e.hint = "unexpected end of the value", _expected_in(e.message)
        raise


def _relocate(node, lines: int):
    """An expression's tree moved down by `lines` lines."""
    if lines and hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            value = getattr(node, name)
            if isinstance(value, Span):
                setattr(node, name, Span(value.path, value.line + lines, value.column))
            elif isinstance(value, tuple):
                for item in value:
                    _relocate(item, lines)
            else:
                _relocate(value, lines)
    return node


def _expected_in(message: str) -> str | None:
    return message.partition(": ")[2] or None


def _token_text(tok: Token) -> str:
    text = str(tok.value)
    if len(text) > 30:
        text = text[:27] + "..."
    return f"'{text}'"


@functools.cache
def keywords() -> tuple[str, ...]:
    """The language's keywords, as the grammar names them (`IF: "if"`): messages, the language server's
    completions and the Pygments lexer read them here."""
    return tuple(re.findall(r'^[A-Z]+: "([a-z]+)"$', grammar_path().read_text(encoding="utf-8"), re.M))


def _syntax_hint(tok: Token, exc: UnexpectedToken, text: str) -> str | None:
    expected = set(getattr(exc, "expected", ()) or ())
    word = tok.value
    if tok.type == "COLON":  # `sequence: ...` or `repeat: ...`, a keyword written as a label
        last = re.search(r"\w+$", text[max(0, tok.start_pos - 40) : tok.start_pos].rstrip())
        word = last.group() if last else ""
    if word in keywords() and ("NAME" in expected or tok.type == "COLON"):
        return f"'{word}' is a keyword of the language: choose another name"
    if tok.type == "EQUAL" and "COLON" in expected:
        return "a label is written 'name: layer(...)', not 'name = layer(...)'"
    if tok.type == "NAME" and "LPAR" in expected:
        return "a layer is called with parentheses: 'relu()'"
    if tok.type == "ELSE" and "RPAR" in expected and "IF" not in expected:  # `sum(x for x in t if c else d)`
        return "as in Python, 'a if c else b' after a generator's 'in' goes in parentheses"
    if tok.type in ("INT", "NAME") and "COMMA" in expected and "RPAR" in expected:
        return "arguments are separated by ','"
    return None


def parse_file(path: str | Path, shown: str | None = None) -> Module:
    """Read and parse one file (UTF-8, with or without BOM); `shown` is the path messages use."""
    p = Path(path)
    shown = shown or str(path)
    raw = p.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is allowed
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line = before.count(b"\n") + 1
        start = before.rfind(b"\n") + 1
        column = len(before[start:].decode("utf-8")) + 1  # in characters, as the caret counts
        raise CnnDslError("E103", f"invalid UTF-8 byte 0x{raw[e.start]:02x}", shown, line, column) from None
    return parse(text, shown)


def target_names(target):
    """The (name, span) pairs a loop's target binds, however its tuples nest: `for (a, b), c in ...`."""
    if isinstance(target[0], str):
        yield target
        return
    for t in target:
        yield from target_names(t)
