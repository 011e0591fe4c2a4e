"""The one writer of emitted Python source, in the style of jinja's CodeGenerator: lines at the current
indentation (`line`, `blank`, `indent()`, `block(header)`), and statements whose calls are wrapped by one rule,
the one `ruff format` follows, so that emitted files pass `ruff format --check` as they are written.

A call is a `Call` (its arguments strings, calls, or `Entry`s of a container) or a `Chain`, a layer applied
to its input as Keras writes it (`layers.Conv2D(64, 3)(x)`). The rule: the statement on one line if it fits;
else, for a call that allows it (`hug`), its arguments on one line of their own; else one argument a line,
each with a trailing comma. A chain first splits its last parentheses, `layers.Add(...)(` then its input.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

WIDTH = 120  # the line length of the repository's ruff configuration


@dataclass(frozen=True)
class Call:
    """`open` + arguments + `close`: printed on one line, or split as the module docstring says."""

    open: str  # "nn.Conv2d(", "def __init__(", "["
    args: tuple = ()  # str | Call | Entry
    close: str = ")"
    block: bool = False  # always one argument a line, even where it would fit (a container of modules)
    sole: bool = False  # one argument, split over lines as ruff splits it: no comma after it
    hug: bool = False  # too long: the arguments on one line of their own first, if they fit there

    @property
    def type(self) -> str:
        return self.open.split("(")[0]


@dataclass(frozen=True)
class Entry:
    """A named argument of a container: `("conv", nn.Conv2d(...))` or `"conv": nn.Conv2d(...)`."""

    key: str
    value: Call | str
    end: str = ""


@dataclass(frozen=True)
class Chain:
    """A call applied to an operand: `layers.Dense(10, name="fc")(x)`, `layers.Add(...)([x, shortcut])`."""

    call: Call
    operand: Call | str


def flat(a) -> str:
    """`a` on one line."""
    if isinstance(a, Entry):
        return a.key + flat(a.value) + a.end
    if isinstance(a, Chain):
        return f"{flat(a.call)}({flat(a.operand)})"
    if isinstance(a, Call):
        return a.open + ", ".join(flat(x) for x in a.args) + a.close
    return a


def layout(a, indent: int, room: int) -> str:
    """`a` as source whose first line fits in `room` columns, continuation lines indented from `indent`."""
    if isinstance(a, Entry):
        text = a.key + layout(a.value, indent, room - len(a.key) - len(a.end)) + a.end
        if "\n" in text and a.key.startswith("(") and a.end == ")":  # ruff explodes a tuple holding a long value
            inner = " " * (indent + 4)
            value = layout(a.value, indent + 4, WIDTH - indent - 5)
            return "(\n" + inner + a.key[1:].rstrip() + "\n" + inner + value + ",\n" + " " * indent + ")"
        return text
    one = flat(a)
    if isinstance(a, Chain):
        if len(one) <= room:
            return one
        head = flat(a.call) + "("
        if len(head) <= room:  # the operand on lines of its own
            operand = layout(a.operand, indent + 4, WIDTH - indent - 4)
            return head + "\n" + " " * (indent + 4) + operand + "\n" + " " * indent + ")"
        return layout(replace(a.call, close=f"{a.call.close}({flat(a.operand)})", hug=False), indent, room)
    if not isinstance(a, Call) or not a.args or (not a.block and len(one) <= room):
        return one
    inner = " " * (indent + 4)
    hugged = inner + ", ".join(flat(x) for x in a.args)
    if a.hug and not a.block and len(hugged) <= WIDTH:
        return a.open + "\n" + hugged + "\n" + " " * indent + a.close
    comma = "" if a.sole else ","
    rows = [inner + layout(x, indent + 4, WIDTH - indent - 5) + comma for x in a.args]
    return a.open + "\n" + "\n".join(rows) + "\n" + " " * indent + a.close


def noqa(line: str) -> str:
    """A line no wrapping shortens (a very long label or path) says that it knows."""
    return line + "  # noqa: E501" if len(line) > WIDTH else line


class Writer:
    """Lines of Python source at an indentation that `indent()` and `block()` move."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def line(self, text: str = "") -> None:
        """One or more lines at the current indentation; an empty one is blank."""
        for part in text.split("\n"):
            self.lines.append(noqa("    " * self.level + part) if part else "")

    def blank(self, n: int = 1) -> None:
        self.lines += [""] * n

    def statement(self, prefix: str, call, suffix: str = "") -> None:
        """`prefix` + a call + `suffix`, the call wrapped to the line length; continuation lines keep their
        indentation, whatever the writer's."""
        indent = 4 * self.level
        text = layout(call, indent, WIDTH - indent - len(prefix) - len(suffix))
        first, *rest = (prefix + text + suffix).split("\n")
        self.line(first)
        self.lines += [noqa(line) if line else "" for line in rest]

    def docstring(self, paragraphs: list[str]) -> None:
        """A docstring of escaped text, wrapped to the line length (a long path keeps a line of its own)."""
        room = WIDTH - 4 * self.level
        if len(paragraphs) == 1 and len(paragraphs[0]) + 6 <= room:
            self.lines.append("    " * self.level + f'"""{paragraphs[0]}"""')
            return
        lines: list[str] = []
        for i, paragraph in enumerate(paragraphs):
            lines += [""] if i else []
            for text in paragraph.split("\n"):
                lines += textwrap.wrap(text, room, break_long_words=False, break_on_hyphens=False)
        if len(lines) == 1:  # too long for one line with its quotes: two lines (ruff joins a lone line to them)
            lines = textwrap.wrap(lines[0], len(lines[0]) * 2 // 3, break_long_words=False, break_on_hyphens=False)
        lines[0] = '"""' + lines[0] if len(lines[0]) + 3 <= room else lines[0]
        lines = lines if lines[0].startswith('"""') else ['"""', *lines]
        self.lines += ["    " * self.level + line if line else "" for line in [*lines, '"""']]

    @contextmanager
    def indent(self) -> Iterator[None]:
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        """`header` (`if downsample:`, `class Basic(nn.Module):`), then what is written inside, indented."""
        self.line(header)
        with self.indent():
            yield

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
