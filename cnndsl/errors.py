"""The one exception cnndsl raises for bad input, and how it is printed.

Every error carries a stable code (explained in docs/errors.md), the file, line and column it points at,
and optionally a hint. `format()` prints it as compilers do: `path:line:col: error[CODE]: message`,
then the source line with a caret under the spot.
"""

from __future__ import annotations

from .util import Frozen, frozen_dataclass

# code -> short title; docs/errors.md explains each one with an example (a test keeps the two in step).
CODES = {
    "E100": "syntax error",
    "E101": "unexpected character",
    "E102": "unexpected end of file",
    "E103": "file is not valid UTF-8 text",
    "E200": "unknown layer or block",
    "E201": "unknown argument",
    "E202": "missing argument",
    "E203": "too many positional arguments",
    "E204": "argument given twice",
    "E205": "invalid argument value",
    "E206": "unknown name",
    "E207": "duplicate definition",
    "E208": "duplicate label",
    "E209": "unknown reference",
    "E210": "network not found",
    "E211": "misplaced or missing input",
    "E212": "invalid name",
    "E213": "misplaced output",
    "E214": "value of the wrong kind",
    "E215": "unknown function",
    "E216": "no such input size",
    "E300": "shapes do not match",
    "E301": "output size is not positive",
    "E302": "channels not divisible by groups",
    "E303": "needs a fixed spatial size",
    "E304": "wrong input rank",
    "E400": "cannot import file",
    "E401": "import cycle",
    "E402": "recursive block",
    "E403": "network too large",
    "E404": "nesting too deep",
    "E405": "number out of range",
    "E406": "layer too large",
    "E500": "not supported by this backend",
}


@frozen_dataclass(slots=True)
class Span(Frozen):
    """A place in the source: where a syntax node, and the IR nodes it made, were written."""

    __pydantic_config__ = {"strict": True}  # as every IR class (ops.STRICT)

    path: str
    line: int
    column: int


class CnnDslError(Exception):
    """Bad .cnn input: a message that points at `path:line:column`."""

    def __init__(
        self,
        code: str,
        message: str,
        path: str = "<string>",
        line: int = 1,
        column: int = 1,
        hint: str | None = None,
        source_line: str | None = None,
        networks: tuple[tuple[str, str], ...] = (),
    ):
        super().__init__(message)
        assert code in CODES, code
        self.code = code
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.hint = hint
        self.source_line = source_line
        # (file, network) of those it was found in, when `check` found it in several (project.distinct): files
        # may share network names (resnet50 in resnet.cnn and in resnet50.cnn)
        self.networks = networks

    def __str__(self) -> str:
        # line 0: the file as a whole (one that cannot be read), with no place in it to point at
        where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        return f"{where}: error[{self.code}]: {self.message}{self.found_in}"

    @property
    def found_in(self) -> str:
        """` (in a and b)`, ` (in a and 10 other networks)` for an error found in several networks, else ''; the
        networks named with their files (`resnet.cnn:resnet50`) when they come from more than one file."""
        if len(self.networks) < 2:
            return ""
        one_file = len({path for path, _ in self.networks}) == 1
        first, *others = [name for _, name in self.networks] if one_file else self.network_names
        return f" (in {first} and {others[0] if len(others) == 1 else f'{len(others)} other networks'})"

    @property
    def network_names(self) -> list[str]:
        """`file:network` for each network it was found in (the name is what follows the last ':')."""
        return [f"{path}:{name}" for path, name in self.networks]

    def in_networks(self, networks: tuple[tuple[str, str], ...]) -> CnnDslError:
        """This error, as found in these networks."""
        return CnnDslError(
            self.code, self.message, self.path, self.line, self.column, self.hint, self.source_line, networks
        )

    def format(self) -> str:
        """The full report: location line, source line with a caret, hint."""
        return _report(self, str(self))

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "networks": self.network_names,
        }


class CnnDslWarning(UserWarning):
    """Valid .cnn input that is probably not what was meant (`input(32, 32, 3)`: channels last). Issued with
    warnings.warn_explicit at the .cnn file and line; the command line prints it as errors are printed."""

    def __init__(self, message: str, path: str, line: int, column: int, hint: str | None = None):
        super().__init__(message)
        self.message, self.path, self.line, self.column, self.hint = message, path, line, column, hint
        self.source_line: str | None = None

    def __str__(self) -> str:
        return self.message + (f" ({self.hint})" if self.hint else "")

    def format(self) -> str:
        return _report(self, f"{self.path}:{self.line}:{self.column}: warning: {self.message}")


def _report(e, head: str) -> str:
    """A located message, then the source line with a caret under the spot, then the hint."""
    lines = [head]
    if e.source_line is not None:
        text = e.source_line.rstrip("\r\n").expandtabs(1)
        if len(text) > 200:  # keep a minified one-line file readable
            start = max(0, e.column - 100)
            text = text[start : start + 200]
            caret = e.column - start
        else:
            caret = e.column
        lines.append(f"    {text}")
        lines.append("    " + " " * (caret - 1) + "^")
    if e.hint:
        lines.append(f"  hint: {e.hint}")
    return "\n".join(lines)


class UsageError(Exception):
    """Bad command-line use, or a file that is not what the command needs (an output path that cannot be
    written, an image or checkpoint of the wrong kind): the CLI prints `cnndsl: MESSAGE` and exits with 2."""


class InputError(UsageError):
    """A file given to a command that holds something other than what the command needs (a checkpoint that
    is no state_dict, an IR that contradicts itself): the CLI prints `cnndsl: MESSAGE` and exits with 1, as for
    errors in a .cnn file."""
