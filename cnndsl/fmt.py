"""`cnndsl fmt`: one canonical layout for .cnn files.

Four spaces per level, one statement per line, `name(a, b, key=value)` calls, `name = default` parameters,
spaces around arithmetic, one blank line between definitions, and at most one blank line where the
source had some. Comments stay where they were written: a comment after code stays at the end of that
code's line, a comment on a line of its own stays on a line of its own before the code that followed it.

The layout is printed from Lark's syntax tree of the file (the literal text of every token kept: `3x3`
stays `3x3`, `1e-3` stays `1e-3`), so formatting never changes what a file means; the tests compare the
IR before and after on every architecture and on the fuzzer's programs, and that fmt(fmt(x)) == fmt(x).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lark import Lark, Token, Tree

from .syntax import grammar_path, parse

INDENT = "    "
WIDTH = 120  # the longest line of a `let`, `def`, `block` or `network` header that stays on one line
# the only tokens a '#' or '"' can start: a comment, or a string (which may hold a '#')
_COMMENT = re.compile(r'"[^"\\\n]*"|#[^\n]*')

# binding strength of the expression rules, weakest first; the binary ones are left-associative
_PRECEDENCE = {
    "ifexp": 1, "or_": 2, "and_": 3, "not_": 4, "compare": 5, "add": 6, "sub": 6, "mul": 7, "div": 7, "floordiv": 7,
    "mod": 7, "neg": 8,
}  # fmt: skip
_OPERATOR = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%", "or_": "or", "and_": "and"}
_ATOMS = ("int", "float", "dims", "true", "false", "open", "name", "string")
# from the end of a header's last parameter to its `)`: a trailing comma, and comments
_TO_CLOSE = re.compile(r"(?:\s|,|#[^\n]*)*\)")


@functools.cache
def _tree_parser() -> Lark:
    """The grammar without the compiler's transformer: a Lark tree that keeps every token's text and position."""
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True,
    )  # fmt: skip


@dataclass
class _Line:
    indent: int
    text: str
    start: int  # source position of its first token (or comment)
    end: int  # source position just past its last token
    comment: str = ""  # a trailing comment
    column: int = 0  # where the source had the trailing comment: comments aligned in a column stay aligned
    top: str = ""  # "definition" or "import" when it starts one (or is the comment just above one)

    def render(self) -> str:
        code = INDENT * self.indent + self.text
        if not self.comment:
            return code
        if not self.text:
            return INDENT * self.indent + self.comment
        return code + " " * max(2, self.column - len(code)) + self.comment


def format_text(text: str, path: str = "<string>") -> str:
    """The canonical layout of .cnn source; raises CnnDslError (as `check` would) for a syntax error."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    parse(text, path)  # the compiler's parser: its syntax errors are the ones users know
    tree = _tree_parser().parse(text)
    printer = _Printer(text)
    printer.module(tree)
    lines = _place_comments(printer.lines, text)
    return _join(lines, text)


def is_formatted(text: str, path: str = "<string>") -> bool:
    return format_text(text, path) == text


class _Printer:
    def __init__(self, text: str):
        self.text = text
        self.lines: list[_Line] = []

    def emit(self, indent: int, text: str, start: int, end: int, top: str = "") -> _Line:
        line = _Line(indent, text, start, end, top=top)
        self.lines.append(line)
        return line

    def module(self, tree: Tree) -> None:
        for item in tree.children:
            if item.data == "import_stmt":
                keyword, string = item.children
                self.emit(0, f"import {string}", keyword.start_pos, string.end_pos, top="import")
            elif item.data == "let_def":
                keyword, name, value = item.children
                self.definition_line(f"let {name} = ", value, keyword.start_pos, item.meta.end_pos)
            elif item.data == "fn_def":
                keyword, name, params, body = item.children
                head = f"def {name}(" + ", ".join(self.param(p) for p in (params.children if params else ())) + ")"
                self.definition_line(f"{head} = ", body, keyword.start_pos, item.meta.end_pos)
            else:
                self.definition(item)

    def definition_line(self, head: str, value, start: int, end: int) -> None:
        """`let name = value` or `def f(x) = value` on one line; longer than WIDTH, a tuple gets a line per item
        (a settings table reads as one) and a sum or difference breaks before its `+` and `-`."""
        text = head + self.expr(value)
        if len(text) <= WIDTH:
            self.emit(0, text, start, end, top="let")
        elif isinstance(value, Tree) and value.data == "tuple" and len(value.children) > 1:
            self.emit(0, head + "(", start, value.children[0].meta.start_pos, top="let")
            for item in value.children:
                if item is not None:
                    line = self.emit(1, self.expr(item) + ",", item.meta.start_pos, item.meta.end_pos)
            line.end = end - 1  # the comma after the last item, if written, is this line's
            self.emit(0, ")", end - 1, end)
        else:
            terms = [value]  # the operands of a chain of `+` and `-`, left to right
            while isinstance(terms[0], Tree) and terms[0].data in ("add", "sub"):
                terms[0:1] = terms[0].children
            ops = _chain_operators(value)
            parts = [(self.wrap(terms[0], 6), start)]
            parts += [(f"{op} {self.wrap(t, 7)}", _start(t)) for op, t in zip(ops, terms[1:])]
            (line, line_start), indent = parts[0], 0
            line = head + line
            for part, part_start in parts[1:]:
                if len(INDENT * indent + line) + 1 + len(part) > WIDTH:
                    self.emit(indent, line, line_start, part_start, top="let" if indent == 0 else "")
                    line, line_start, indent = part, part_start, 1
                else:
                    line += " " + part
            self.emit(indent, line, line_start, end, top="let" if indent == 0 else "")

    def definition(self, d: Tree) -> None:
        """`block name(a, b = 1) {`; longer than WIDTH, a line per parameter (as a long `let` tuple has a line
        per item), and `) {` on a line of its own."""
        keyword, name, params, body = d.children
        head = f"{keyword} {name}"
        if params is None:
            head += "()" if keyword == "block" else ""
            self.open_body(0, head, keyword.start_pos, body, top="definition")
            return
        items = [self.param(p) for p in params.children]
        if len(f"{head}({', '.join(items)}) {{") <= WIDTH:
            self.open_body(0, f"{head}({', '.join(items)})", keyword.start_pos, body, top="definition")
            return
        close = _TO_CLOSE.match(self.text, params.meta.end_pos).end() - 1  # the position of `)`
        self.emit(0, head + "(", keyword.start_pos, params.children[0].meta.start_pos, top="definition")
        for p, item in zip(params.children, items):
            line = self.emit(1, item + ",", p.meta.start_pos, p.meta.end_pos)
        line.end = close  # the comma after the last parameter, if written, is this line's
        self.open_body(0, ")", close, body)

    def param(self, p: Tree) -> str:
        name, default = p.children
        return str(name) if default is None else f"{name} = {self.expr(default)}"

    def open_body(self, indent: int, head: str, start: int, body: Tree, top: str = "") -> None:
        """`head {`, the statements one level in, and `}` (or `head {}` when empty)."""
        stmts = _stmts(body)
        if not stmts:
            self.emit(indent, f"{head} {{}}".lstrip(), start, body.meta.end_pos, top)
            return
        self.emit(indent, f"{head} {{".lstrip(), start, body.children[0].end_pos, top)
        for s in stmts:
            self.stmt(indent + 1, s)
        self.emit(indent, "}", body.meta.end_pos - 1, body.meta.end_pos)

    def stmt(self, indent: int, s: Tree) -> None:
        if s.data == "if_stmt":
            self.if_stmt(indent, "if", s.children[0].start_pos, s)
            return
        label, output, item = s.children
        prefix = (f"{label}: " if label is not None else "") + ("output " if output is not None else "")
        first = label if label is not None else output
        self.item(indent, prefix, first.start_pos if first is not None else item.meta.start_pos, item)

    def if_stmt(self, indent: int, head: str, start: int, s: Tree) -> None:
        """`if c {`, its statements, then `} else if c {`, `} else {` or `}`."""
        keyword, cond, body, _, orelse = s.children
        stmts = _stmts(body)
        self.emit(indent, f"{head} {self.expr(cond)} {{", start, body.children[0].end_pos)
        for st in stmts:
            self.stmt(indent + 1, st)
        if orelse is None:
            self.emit(indent, "}", body.meta.end_pos - 1, body.meta.end_pos)
        elif orelse.data == "if_stmt":
            self.if_stmt(indent, "} else if", body.meta.end_pos - 1, orelse)
        else:
            self.open_body(indent, "} else", body.meta.end_pos - 1, orelse)

    def targets(self, t: Tree) -> str:
        return ", ".join(str(x.children[0]) if isinstance(x.children[0], Token) else f"({self.targets(x.children[0])})"
                         for x in t.children)  # fmt: skip

    def item(self, indent: int, prefix: str, start: int, item: Tree) -> None:
        kind = item.data
        if kind == "for_loop":
            keyword, targets, _, iterable, body = item.children
            self.open_body(indent, f"{prefix}for {self.targets(targets)} in {self.expr(iterable)}", start, body)
        elif kind == "call":
            self.emit(indent, prefix + self.call(item), start, item.meta.end_pos)
        elif kind == "repeat":
            keyword, count, inner = item.children
            self.item(indent, f"{prefix}repeat {self.expr(count)} ", start, inner)
        elif kind == "sequence":
            if len(item.children) == 2:
                self.open_body(indent, prefix + "sequence", start, item.children[1])
            else:
                self.open_body(indent, prefix.rstrip(), start, item.children[0])
        elif kind == "residual":
            keyword, main, shortcut = item.children
            if shortcut is None:
                self.open_body(indent, prefix + "residual", start, main)
                return
            self.emit(indent, prefix + "residual {", start, main.children[0].end_pos)
            for s in _stmts(main):
                self.stmt(indent + 1, s)
            kw, name, body = shortcut.children  # `}` of the main path, joined with the shortcut's head
            head = "} shortcut" + (f" {name}" if name is not None else "")
            self.open_body(indent, head, main.meta.end_pos - 1, body)
        else:  # branches: concat { ... } / add { ... }
            name, body = item.children
            self.open_body(indent, f"{prefix}{name}", start, body)

    def call(self, c: Tree) -> str:
        name, args = c.children
        return f"{name}({', '.join(self.arg(a) for a in args.children) if args is not None else ''})"

    def arg(self, a) -> str:
        if isinstance(a, Tree) and a.data == "kwarg":
            key, value = a.children
            return f"{key}={self.expr(value)}"
        return self.expr(a)

    def expr(self, e) -> str:
        if isinstance(e, Token):
            return str(e)
        kind = e.data
        if kind in _ATOMS:
            return str(e.children[0])
        if kind in ("neg", "not_"):
            _, operand = e.children
            inner = self.wrap(operand, _PRECEDENCE[kind])
            return f"-{inner}" if kind == "neg" else f"not {inner}"
        if kind == "tuple":
            items = [self.expr(i) for i in e.children if i is not None]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if kind == "ifexp":
            then, _, cond, _, orelse = e.children
            return f"{self.wrap(then, 2)} if {self.wrap(cond, 2)} else {self.wrap(orelse, 1)}"
        if kind == "index":
            target, _, index = e.children
            return f"{self.wrap(target, 9)}[{self.expr(index)}]"
        if kind == "fcall":
            return self.call(e)
        if kind == "fgen":
            name, item, _, targets, _, iterable, _, cond = e.children
            loop = f"{self.expr(item)} for {self.targets(targets)} in {self.wrap(iterable, 2)}"
            return f"{name}({loop}" + (f" if {self.wrap(cond, 2)})" if cond is not None else ")")
        if kind == "shape_attr":
            return f"in.{e.children[1]}"
        if kind == "compare":
            left, op, right = e.children
            return f"{self.wrap(left, 6)} {op} {self.wrap(right, 6)}"
        if kind in ("or_", "and_"):
            left, _, right = e.children
        else:
            left, right = e.children
        precedence = _PRECEDENCE[kind]
        return f"{self.wrap(left, precedence)} {_OPERATOR[kind]} {self.wrap(right, precedence + 1)}"

    def wrap(self, e, least: int) -> str:
        """An operand, in parentheses where it binds less tightly than `least`."""
        text = self.expr(e)
        return f"({text})" if _is_binop(e) and _PRECEDENCE[e.data] < least else text


def _start(e) -> int:
    return e.start_pos if isinstance(e, Token) else e.meta.start_pos


def _chain_operators(e) -> list[str]:
    """The operators of a left-leaning chain of `+` and `-`, left to right: `a - b + c` gives ["-", "+"]."""
    ops = []
    while isinstance(e, Tree) and e.data in ("add", "sub"):
        ops.insert(0, _OPERATOR[e.data])
        e = e.children[0]
    return ops


def _stmts(body: Tree) -> list[Tree]:
    return [c for c in body.children if isinstance(c, Tree)]


def _is_binop(e) -> bool:
    return isinstance(e, Tree) and e.data in _PRECEDENCE


def _place_comments(lines: list[_Line], text: str) -> list[_Line]:
    """Each comment after code on its line goes to the end of the printed line holding that code; each
    comment on a line of its own becomes a line of its own before the code that followed it."""
    out = list(lines)
    comments = [m for m in _COMMENT.finditer(text) if m.group().startswith("#")]
    # positions of the printed lines' first tokens: the lines are in source order
    for m in reversed(comments):  # reversed: inserting before line k leaves earlier indices valid
        pos, body = m.start(), m.group().rstrip()
        line_start = text.rfind("\n", 0, pos) + 1
        alone = not text[line_start:pos].strip()
        k = _first_after(out, pos)  # the first printed line that starts after the comment
        if not alone and k > 0:
            prev = out[k - 1]
            prev.comment = f"{body} {prev.comment}".strip() if prev.comment else body
            prev.column = pos - line_start
            continue
        if k < len(out):
            nxt = out[k]
            indent = nxt.indent + (1 if nxt.text.startswith(("}", ")")) else 0)
            top = nxt.top if indent == 0 else ""
        else:
            indent, top = 0, ""
        comment = _Line(indent, "", pos, m.end(), comment=body)
        if top:  # a comment just above a definition belongs to it: the blank line goes above the comment
            between = text[m.end() : nxt.start]
            if "\n\n" not in re.sub(r"[ \t;]", "", between):
                nxt.top, comment.top = "", top
        out.insert(k, comment)
    # trailing comments written in a column with the one on the printed line above or below keep that column
    keep = [
        bool(line.text and line.comment)
        and any(
            0 <= j < len(out) and out[j].text and out[j].comment and out[j].column == line.column
            for j in (i - 1, i + 1)
        )
        for i, line in enumerate(out)
    ]
    for line, kept in zip(out, keep):
        if not kept:
            line.column = 0
    return out


def _first_after(lines: list[_Line], pos: int) -> int:
    lo, hi = 0, len(lines)
    while lo < hi:
        mid = (lo + hi) // 2
        if lines[mid].start < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _join(lines: list[_Line], text: str) -> str:
    out: list[str] = []
    for i, line in enumerate(lines):
        if i > 0:
            prev = lines[i - 1]
            blank = "\n\n" in re.sub(r"[ \t;]", "", text[prev.end : line.start])  # the source had one
            if line.top == "definition" or (line.top == "import" and prev.indent == 0 and prev.text.startswith("}")):
                blank = True  # one blank line between definitions
            if blank and not prev.text.endswith("{") and not line.text.startswith("}"):
                out.append("")
        out.append(line.render())
    return "\n".join(out) + "\n" if out else ""
