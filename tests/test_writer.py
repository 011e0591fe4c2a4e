"""The writer both code generators render through: indentation, and the one rule that wraps calls as ruff
formats them."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

from cnndsl.backends.writer import WIDTH, Call, Chain, Entry, Writer, flat, layout


def _statement(prefix: str, call, level: int = 0) -> list[str]:
    w = Writer()
    w.level = level
    w.statement(prefix, call)
    return w.lines


def _ruff_keeps(source: str) -> bool:
    config = ["--config", str(ROOT / "pyproject.toml")]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", *config, "--no-cache", "-"],
        input=source,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout == source


def test_lines_indent_inside_blocks_and_blank_lines_stay_empty():
    w = Writer()
    with w.block("def f(x):"):
        with w.block("if x:"):
            w.line("x = 1")
        w.blank()
        w.line("return x")
    assert w.text() == "def f(x):\n    if x:\n        x = 1\n\n    return x\n"


def test_a_call_that_fits_stays_on_one_line():
    call = Call("nn.Conv2d(", ("64", "128", "kernel_size=3"))
    assert _statement("self.conv1 = ", call, 2) == ["        self.conv1 = nn.Conv2d(64, 128, kernel_size=3)"]


def test_a_long_call_gives_one_argument_a_line_with_trailing_commas():
    args = tuple(f"argument_{i}=value_{i}" for i in range(8))
    lines = _statement("x = ", Call("f(", args), 1)
    assert lines == ["    x = f(", *(f"        {a}," for a in args), "    )"]
    assert _ruff_keeps("def g():\n" + "\n".join(lines) + "\n")


def test_a_hugging_call_puts_its_arguments_on_one_line_of_their_own_first():
    args = tuple(f"argument_{i}=some_value_{i:03}" for i in range(4))
    lines = _statement("some_long_variable_name = ", Call("f(", args, hug=True))
    assert lines == ["some_long_variable_name = f(", "    " + ", ".join(args), ")"]
    assert _ruff_keeps("\n".join(lines) + "\n")


def test_a_block_call_always_explodes_and_a_sole_argument_has_no_comma():
    inner = Call("[", (Entry('("conv", ', "nn.Conv2d(3, 8, 3)", ")"),), "]", block=True)
    call = Call("nn.Sequential(", (Call("OrderedDict(", (inner,), ")", block=True, sole=True),), block=True, sole=True)
    lines = _statement("self.features = ", call, 2)
    assert lines == [
        "        self.features = nn.Sequential(",
        "            OrderedDict(",
        "                [",
        '                    ("conv", nn.Conv2d(3, 8, 3)),',
        "                ]",
        "            )",
        "        )",
    ]


def test_a_chained_call_splits_its_operand_first_then_the_layer_arguments():
    short = Chain(Call("layers.Dense(", ("10", 'name="fc"'), hug=True), "x")
    assert _statement("x = ", short, 1) == ['    x = layers.Dense(10, name="fc")(x)']
    # the layer fits with its `(`: the operand (a list that does not fit either) goes below
    names = tuple(f"branch_number_{i}" for i in range(8))
    merge = Chain(Call("layers.Concatenate(", ('name="mixed"',), hug=True), Call("[", names, "]"))
    lines = _statement("x = ", merge, 1)
    assert lines[0] == '    x = layers.Concatenate(name="mixed")(' and lines[1] == "        ["
    assert lines[-1] == "    )" and all(len(line) <= WIDTH for line in lines)
    # the layer alone is too long: its arguments one a line, then `)(x)`
    args = tuple(f"argument_{i}=value_{i}" for i in range(9))
    long = Chain(Call("layers.Conv2D(", args, hug=True), "x")
    lines = _statement("x = ", long, 1)
    assert lines[0] == "    x = layers.Conv2D(" and lines[-1] == "    )(x)" and len(lines) == len(args) + 2
    for chain in (merge, long):
        assert _ruff_keeps("def g(x):\n" + "\n".join(_statement("x = ", chain, 1)) + "\n")


def test_a_line_no_wrapping_shortens_says_so():
    w = Writer()
    w.line("x = " + "a" * WIDTH)
    assert w.lines[0].endswith("  # noqa: E501")


def test_a_docstring_that_fits_is_one_line_else_wrapped_within_the_width():
    w = Writer()
    with w.indent():
        w.docstring(["Short."])
        w.docstring(["word " * 40, "second paragraph"])
    assert w.lines[0] == '    """Short."""'
    assert w.lines[1].startswith('    """') and w.lines[-1] == '    """'
    assert "" in w.lines and all(len(line) <= WIDTH for line in w.lines)


def test_layout_and_flat_agree_where_it_fits():
    call = Call("f(", ("1", Call("g(", ("2",))))
    assert flat(call) == layout(call, 0, WIDTH) == "f(1, g(2))"
