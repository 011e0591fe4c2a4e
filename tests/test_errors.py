"""Bad input: every error code, where it points (line:column), what it says and the hint it gives.

Each case is a broken .cnn source and what the error must be. `at` is the text the caret must sit under
(its first occurrence on the error's line), or a column number. docs/errors.md is checked at the end:
every code has a section, and every example in it fails with that code and the message shown.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT

import cnndsl
from cnndsl import CnnDslError, syntax
from cnndsl.errors import CODES
from cnndsl.syntax import parse


def net(*body: str) -> str:
    """A network whose body lines are lines 3, 4, ... of the source."""
    return "network n {\n    input(3, 32, 32)\n" + "".join(f"    {line}\n" for line in body) + "}\n"


BASIC = """\
block basic(channels, stride = 1) {
    residual {
        conv(channels, 3, strides=stride, padding=1)
    }
}
network n {
    input(64, 56, 56)
    layer2: sequence { basic(128, stride=2) }
}
"""

# fmt: off
CASES = [
    # --- syntax ----------------------------------------------------------------------------------------
    ("E100", net("a = conv(8, 3)"), 3, "= conv", ["unexpected '='"], "name: layer(...)"),
    ("E100", net("block: conv(8, 3)"), 3, "block", ["unexpected 'block'"], "'block' is a keyword"),
    ("E100", net("sequence: conv(8, 3)"), 3, ":", ["unexpected ':'"], "'sequence' is a keyword"),
    ("E100", "block shortcut(c) { conv(c, 3) }", 1, "shortcut", ["unexpected 'shortcut'"], "is a keyword"),
    ("E100", net("conv(8 3)"), 3, "3)", ["unexpected '3'"], "separated by ','"),
    ("E100", net("relu"), 3, "relu", ["'relu' without parentheses: write 'relu()'"], "parentheses"),
    ("E100", net("relu", "conv(8, 3)"), 3, "relu", ["'relu' without parentheses"], None),
    ("E100", net("conv(2**3, 3)"), 3, "*3", ["unexpected '*'"], None),
    ("E100", "network { input(3, 8, 8) }", 1, "{", ["unexpected '{'", "a name"], None),
    ("E101", net("conv(8, 3) $"), 3, "$", ["unexpected character '$'"], None),
    ("E101", net("c\u03bfnv(8, 3)"), 3, "\u03bf", ["unexpected character 'ο'"], None),  # Greek omicron
    ("E102", "network n {\n    input(3, 32, 32)\n    conv(8, 3)\n", 3, 15, ["unexpected end of file"], "'}'"),
    ("E102", "network n {\n    input(3, 32, 32)\n    conv(8, 3", 3, 14, ["unexpected end of file"], "')'"),
    # --- names and arguments -----------------------------------------------------------------------------
    ("E200", net("conv2(8, 3)"), 3, "conv2", ["unknown layer or block 'conv2'", "did you mean 'conv'?"], None),
    ("E200", "block basic(c) { conv(c, 3) }\n" + net("basci(8)"), 4, "basci", ["did you mean 'basic'?"], None),
    ("E200", net("flatten()", "linear(10)"), 4, "linear", ["did you mean 'dense'?"], None),  # PyTorch's name
    ("E200", net("frobnicate(1)"), 3, "frobnicate", ["unknown layer or block 'frobnicate'"], "block name"),
    ("E200", net("merge { relu() }"), 3, "merge", ["'merge { ... }' is not a construct"], None),
    ("E201", net("conv(8, 3, stride=2)"), 3, "stride=", ["conv has no argument 'stride'"], "did you mean 'strides'?"),
    ("E201", "block b(channels) { conv(channels, 3) }\n" + net("b(chanels=8)"), 4, "chanels",
     ["block 'b' has no parameter 'chanels'"], "did you mean 'channels'?"),
    ("E201", net("dense(10, bias=false)"), 3, "bias", ["dense has no argument 'bias'"], "use_bias"),
    ("E202", net("conv(8)"), 3, "conv", ["conv needs the argument 'kernel_size'"], "conv(filters, kernel_size"),
    ("E202", "block b(c, k) { conv(c, k) }\n" + net("b(8)"), 4, "b(8)", ["block 'b' needs the argument 'k'"], None),
    ("E202", net("concat()"), 3, "concat", ["needs the labels"], "concat(enc1)"),
    ("E203", net("dropout(0.5, 0.1)"), 3, "0.1", ["dropout takes 1 positional arguments, got 2"], "dropout(rate"),
    ("E203", "block b(c) { conv(c, 3) }\n" + net("b(8, 16)"), 4, "16", ["block 'b' takes 1 positional"], None),
    ("E204", net("conv(8, 3, filters=16)"), 3, "filters", ["argument 'filters' of conv is given twice"], None),
    ("E204", net("conv(8, 3, strides=1, strides=2)"), 3, "strides=2", ["'strides'", "given twice"], None),
    # --- values ------------------------------------------------------------------------------------------
    ("E205", net("conv(-8, 3)"), 3, "-8", ["conv: filters = -8: must be at least 1"], None),
    ("E205", net("conv(8, 3, strides=0)"), 3, "0)", ["strides = 0: must be at least 1"], None),
    ("E205", net("conv(8, 3.5)"), 3, "3.5", ["kernel_size = 3.5: expected an integer"], None),
    ("E205", net("conv(8, (3, 3, 3))"), 3, "3, 3, 3", ["kernel_size = (3, 3, 3)", "a pair such as (3, 5)"], None),
    ("E205", net("conv(8, true)"), 3, "true", ["kernel_size = true", "an integer or a pair"], None),
    ("E205", net("conv(\"8\", 3)"), 3, "\"8\"", ["\"8\" is a string"], "without quotes"),
    ("E205", net("conv(8, 3, padding=sme)"), 3, "sme", ["'sme' is not a valid padding"], "did you mean 'same'?"),
    ("E205", net("conv(8, 3, padding=-1)"), 3, "-1", ["padding = -1: must be at least 0"], None),
    ("E205", net("conv(8, 3, activation=relux)"), 3, "relux", ["'relux' is not a valid activation"],
     "did you mean 'relu'?"),
    ("E205", net("conv(8, 3, use_bias=3)"), 3, "3)", ["use_bias = 3: expected true or false"], None),
    # equal calls share one op; a value equal in Python but of another type is still checked
    ("E205", net("conv(8, 3, use_bias=true)", "conv(8, 3, use_bias=1)"), 4, "1)",
     ["use_bias = 1: expected true or false"], None),
    ("E205", net("dropout(1.5)"), 3, "1.5", ["dropout: rate = 1.5: must be less than 1"], None),
    ("E205", net("relu(0.3)"), 3, "0.3", ["relu takes no alpha", "leaky_relu"], None),
    ("E205", net("maxpool(3, padding=2)"), 3, "2)", ["padding = 2: must be at most half the pool size 3×3"], None),
    ("E205", net("conv_transpose(8, 3, strides=2, output_padding=2)"), 3, "2)",
     ["output_padding 2×2 must be smaller than strides 2×2"], None),
    ("E205", net("conv(64 // (2 - 2), 3)"), 3, "2 - 2)", ["division by zero"], None),
    ("E205", net("repeat -2 relu()"), 3, "-2", ["repeat needs a count of 0 or more, got -2"], None),
    ("E205", net("residual { }"), 3, "residual", ["the main path of a residual is empty"], None),
    ("E205", "block b(c) { conv(c, 3) }\n" + net("b(same)"), 1, "c, 3", ["filters = same: expected an integer",
     "(in 0: b(c=same))"], None),
    ("E206", "block b(channels) { conv(chanels, 3) }\n" + net("b(8)"), 1, "chanels", ["unknown name 'chanels'"],
     "did you mean 'channels'?"),
    ("E206", net("repeat n relu()"), 3, "n relu", ["unknown name 'n'"], None),
    ("E206", "block b(pad) { conv(8, 3, padding=pad) }\n" + net("b(sme)"), 4, "sme", ["unknown name 'sme'"],
     "did you mean 'same'?"),
    # --- definitions and labels ----------------------------------------------------------------------------
    ("E207", "block b(c) { conv(c, 3) }\nblock b(c) { relu() }\n" + net("b(8)"), 2, "b(",
     ["block 'b' is defined twice"], "first definition is at <string>:1:7"),
    ("E207", net("relu()") + net("relu()"), 5, "n {", ["network 'n' is defined twice"], None),
    ("E207", "block conv(c) { relu() }\n" + net("relu()"), 1, "conv", ["name of a built-in layer"], None),
    ("E207", "block b(c, c) { relu() }\n" + net("b(1, 2)"), 1, "c)", ["parameter 'c' is declared twice"], None),
    ("E208", net("a: conv(8, 3)", "a: relu()"), 4, "a:", ["label 'a' is used twice"], None),
    ("E209", net("enc1: conv(8, 3, padding=1)", "concat(enc9)"), 4, "enc9", ["no earlier layer is labelled 'enc9'"],
     "did you mean 'enc1'?"),
    ("E209", "block b() { x: conv(8, 1) }\n" + net("b()", "concat(x)"), 5, "x)", ["labelled 'x'"], None),
    ("E211", "network n {\n    conv(8, 3)\n}\n", 2, "conv", ["conv has no input", "input(C, H, W)"], None),
    ("E211", "network n { }", 1, "n {", ["network 'n' has no input"], "start it with input"),
    ("E211", net("relu()", "input(3, 8, 8)"), 4, "input", ["input(...) may only start a network"], None),
    ("E211", "block stem() { input(3, 8, 8) }\n" + net("stem()"), 1, "input", ["may only start a network"], None),
    ("E212", net("class: conv(8, 3)"), 3, "class", ["'class' cannot be used as a label name"], "Python keywords"),
    ("E212", net("_hidden: relu()"), 3, "_hidden", ["'_hidden' cannot be used as a label name"], "start with a letter"),
    ("E212", "network None { input(3, 8, 8) }", 1, "None", ["'None' cannot be used as a network name"], None),
    ("E212", net('"12": relu()'), 3, '"12"', ["'12' cannot be used as a module name"], "not only digits"),
    ("E212", net('"a.b": relu()'), 3, '"a.b"', ["'a.b' cannot be used as a module name"], "letters, digits"),
    ("E212", net('"training": relu()'), 3, '"training"', ["'training' cannot be used as a label name"], "train/eval"),
    ("E213", net("{ output relu() }"), 3, "relu", ["output statements belong to the network's own body"], None),
    ("E213", net("output identity()"), 3, "identity", ["an output statement must compute something"], None),
    ("E213", "block b() { output relu() }\n" + net("b()"), 1, "relu", ["belong to the network's own body"], None),
    ("E203", net("identity(2)"), 3, "2", ["identity() takes no arguments"], None),
    ("E207", "block identity() { relu() }\n" + net("relu()"), 1, "identity", ["has the name of a built-in"], None),
    ("E205", net("chunk(2, 2)"), 3, "2)", ["chunk: index = 2: must be less than chunks (2)"], None),
    ("E302", net("chunk(2, 0)"), 3, "2,", ["chunk: 3 channels do not split into 2 equal groups"], None),
    ("E302", net("channel_shuffle(2)"), 3, "2", ["channel_shuffle: 3 channels do not split into 2 groups"], None),
    ("E300", net("a: conv(4, 1)", "multiply { conv(4, 3); identity() }"), 4, "multiply",
     ["multiply: 4×30×30 and 4×32×32 differ"], "broadcasts sizes of 1"),
    ("E205", net("stochastic_depth(1.5)"), 3, "1.5", ["p = 1.5: must be less than 1"], None),
    ("E205", net("stochastic_depth(0.1, mode=rows)"), 3, "rows", ["'rows' is not a valid mode"], "did you mean 'row'"),
    ("E200", net("mul { relu() }"), 3, "mul", ["branches merge with concat, add, multiply"], "multiply"),
    # --- shapes --------------------------------------------------------------------------------------------
    ("E300", BASIC, 2, "residual", ["add: main path gives 128×28×28 but the identity shortcut gives 64×56×56",
     "layer2.0", "basic(channels=128, stride=2)"], "projection shortcut"),
    ("E300", net("a: conv(8, 3)", "maxpool(2)", "concat(a)"), 5, "concat",
     ["concat: 8×15×15 and 8×30×30 differ in size"], "sizes must be equal"),
    ("E300", net("concat {", "    conv(8, 3)", "    conv(8, 1)", "}"), 5, "conv",
     ["concat: branch 2 gives 8×32×32 but branch 1 gives 8×30×30"], None),  # the branch at fault
    ("E300", net("add { conv(8, 1); conv(16, 1) }"), 3, "add", ["add: 8×32×32 and 16×32×32 differ"], "same shape"),
    ("E300", net("residual { conv(8, 1) } shortcut { conv(16, 1) }"), 3, "residual",
     ["main path gives 8×32×32 but the shortcut gives 16×32×32"], "make the shortcut produce"),
    ("E301", net("conv(8, 33)"), 3, "33", ["conv 33×33 on 3×32×32 gives an empty output"], "kernel is larger"),
    ("E301", net("maxpool(64)"), 3, "64", ["maxpool on 3×32×32 gives an empty output"], "larger than the input"),
    ("E302", net("conv(8, 3, groups=3)"), 3, "3)", ["groups=3", "input channels (3)", "filters (8)"], None),
    ("E303", "network n {\n    input(3, ?, ?)\n    conv(8, 3)\n    flatten()\n}\n", 4, "flatten",
     ["flatten needs a fixed size, got 8×(H-2)×(W-2)"], "global_avgpool()"),
    ("E304", net("dense(10)"), 3, "dense", ["dense expects a vector, got 3×32×32"], "add flatten() before dense()"),
    ("E304", net("flatten()", "conv(8, 3)"), 4, "conv", ["conv expects a C×H×W feature map, got 3072"], None),
    # --- conditions, loops, functions, constants, computed labels, `in` (issue 16) -------------------------
    ("E214", net("if 1 { relu() }"), 3, "1 {", ["condition of an if statement must be true or false, got 1"],
     "compare it"),
    ("E214", net("conv(8 if 2 else 4, 3)"), 3, "2 else", ["conditional expression must be true or false"], None),
    ("E214", net("conv(8, 3, use_bias=not 1)"), 3, "1)", ["'not' needs true or false, got 1"], None),
    ("E214", "let t = (1, 2)\n" + net("conv(t[2], 3)"), 4, "2]", ["index 2 is out of range for a tuple of 2"],
     "from 0 to 1"),
    ("E214", net("conv((8)[0], 3)"), 3, "[0]", ["only a tuple can be indexed, not 8"], None),
    ("E214", net("for i in 5 { relu() }"), 3, "5 {", ["a for loop runs over a tuple or range(n), got 5"], "range"),
    ("E214", net("for a, b in (1, 2) { relu() }"), 3, "1, 2)", ["cannot unpack 1 into 2 names"], None),
    ("E214", net("for i in range(2) { x{i / 2}: relu() }"), 3, "i / 2", ["a label is made of integers and names"],
     None),
    ("E214", net("conv(max(1, true), 3)"), 3, "max", ["max(1, true): needs numbers, got true"], None),
    ("E215", net("conv(maxx(8, 4), 3)"), 3, "maxx", ["unknown function 'maxx'"], "did you mean 'max'?"),
    ("E215", net("conv(relu(8), 3)"), 3, "relu(8)", ["unknown function 'relu'"], "layers and blocks are statements"),
    ("E216", net("conv(in.channels, 3)"), 3, "channels", ["'in' is the input of a block"], None),
    ("E216", "block b() { conv(in.chanels, 3) }\n" + net("b()"), 1, "chanels", ["the input has no size 'chanels'"],
     "did you mean 'channels'?"),
    ("E216", "def f(c) = in.width\nblock b() { conv(f(1), 3) }\n" + net("b()"), 1, "width", ["'in.width'"],
     "as arguments"),
    ("E207", "let a = 1\nlet a = 2\n" + net("relu()"), 2, "a =", ["constant 'a' is defined twice"], "first definition"),
    ("E207", "def max(a, b) = a\n" + net("relu()"), 1, "max", ["'max' is a built-in function"], None),
    ("E207", "block b(c) { for c in range(2) { relu() } }\n" + net("b(1)"), 1, "c in", ["'c' is already defined"],
     None),
    ("E208", net("for i in range(2) { a: relu() }"), 3, "a:", ["label 'a' is used twice"], "name{i}"),
    ("E206", net("conv(8, 3) ; for i in range(2) { relu() } ; conv(i, 3)"), 3, "i, 3", ["unknown name 'i'"], None),
    ("E202", "def f(a, b) = a\n" + net("conv(f(1), 3)"), 4, "f(1)", ["function 'f' needs the argument 'b'"], None),
    ("E402", "def f(a) = g(a)\ndef g(a) = f(a)\n" + net("conv(f(1), 3)"), 2, "f(a)", ["function 'f' calls itself"],
     None),
    ("E403", net("for i in range(10000000) { relu() }"), 3, "range", ["range of 10,000,000 items"], None),
    ("E403", net("for i in range(100000) { for j in range(100) { relu() } }"), 3, "for i",
     ["a loop over 100,000 items expands past the budget"], "--max-nodes"),
    ("E403", net("for i in range(1000) { for j in range(1000) { for k in range(1000) { } } }"), 3, "for k",
     ["a loop over 1,000 items"], None),
    ("E100", net('"x{i": relu()'), 3, "{i", ["unmatched '{' in the label"], "braces"),
    ("E100", net('"x{}": relu()'), 3, '}"', ["a value is missing"], None),
    ("E102", net('"x{i +}": relu()'), 3, '}"', ["unexpected end of the value"], None),
    # --- recursion, size and depth limits ------------------------------------------------------------------
    ("E402", "block b(c) { b(c) }\n" + net("b(1)"), 1, "b(c) }", ["block 'b' calls itself (b → b)"], None),
    ("E402", "block a(c) { b(c) }\nblock b(c) { a(c) }\n" + net("a(1)"), 2, "a(c)", ["a → b → a"], None),
    ("E403", net("repeat 1000000000 relu()"), 3, "1000000000", ["repeat 1,000,000,000 expands past the budget",
     "1,000,000 nodes"], "--max-nodes"),
    ("E404", net("{" * 10_000 + "relu()" + "}" * 10_000), 3, 105, ["nesting is deeper than 100 levels"], None),
    ("E404", net("conv(" + "-" * 10_000 + "8, 3)"), 3, 111, ["expression nested deeper than 100 levels"], None),
    ("E405", net("conv(" + "1" * 100 + ", 3)"), 3, "1111", ["integer with 100 digits is out of range"], "2**53"),
    ("E405", net("conv(1000000000000000000, 3)"), 3, "1000", ["integer 1000000000000000000 is out of range"], None),
    ("E405", net("dropout(1e999)"), 3, "1e999", ["number '1e999' is out of range"], None),
    ("E405", net("conv(99999999 * 99999999, 3)"), 3, "99999999 *", ["number out of range"], None),
    ("E405", net("conv(8, 3x" + "9" * 40 + ")"), 3, "3x9", ["size '3x999", "out of range"], None),
    ("E406", net("conv(1, 20000, weights=box)"), 3, "20000", ["20000×20000 kernel", "1,048,576"], "few dozen"),
    ("E406", net("conv(1, (1, 9007199254740992))"), 3, "1, 9", ["1×9007199254740992 kernel"], None),
    ("E406", net("flatten()", "dense(400000)"), 4, "dense", ["1,229,200,000 weights", "1,073,741,824"], "flatten"),
    ("E406", net("flatten()", "dense(10000)", "repeat 90 dense(10000)"), 5, "dense", ["8,589,934,592"], "memory"),
    ("E205", net("conv(1, 4, weights=gaussian, sigma=0.01)"), 3, "0.01", ["must be at least 0.05"], None),
    ("E205", net("conv(1, 4, weights=gaussian, sigma=1e-300)"), 3, "1e-300", ["must be at least 0.05"], None),
    ("E205", net("conv(1, 4, weights=gaussian, sigma=1e200)"), 3, "1e200", ["must be at most"], None),
]
# fmt: on


def error_of(fn, *args, **kwargs) -> CnnDslError:
    with pytest.raises(CnnDslError) as info:
        fn(*args, **kwargs)
    return info.value


def check(e: CnnDslError, code, line, at, message, hint, source: str | None = None):
    assert (e.code, e.line) == (code, line), e.format()
    if source is not None:
        text = source.splitlines()[line - 1]
        column = at if isinstance(at, int) else text.index(at) + 1
        assert e.column == column, e.format()
        assert e.source_line == text
    for part in message:
        assert part in e.message, e.format()
    if hint is not None:
        assert hint in (e.hint or ""), e.format()


@pytest.mark.parametrize(
    "code, source, line, at, message, hint", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_source(code, source, line, at, message, hint):
    check(error_of(cnndsl.loads, source), code, line, at, message, hint, source)


def _outcome(source: str, accelerated: bool):
    try:
        return dataclasses.astuple(parse(source, "x.cnn", accelerated=accelerated))  # the whole tree, positions too
    except CnnDslError as e:
        return e.format()


def test_lark_cython_and_pure_lark_agree():
    """The accelerated parser (lark-cython, a dependency on CPython) and pure Lark build the same tree and
    report the same syntax errors, at the same place, for every case above (but the 10,000-deep ones, too
    deep to compare recursively) and every architecture."""
    assert syntax._cython_plugins() is not None
    sources = [c[1] for c in CASES if len(c[1]) < 10_000]
    sources += [p.read_text() for p in sorted((ROOT / "architectures").rglob("*.cnn"))]
    for source in sources:
        assert _outcome(source, True) == _outcome(source, False), source


def test_every_reachable_code_is_tested():
    tested = {c[0] for c in CASES} | {"E103", "E210", "E400", "E401"}  # the last ones below, with files
    tested |= {"E500"}  # tests/test_registry.py: a consumer that cannot handle an op
    assert tested == set(CODES)


def test_words_may_be_passed_to_blocks():
    """`same`, `relu` ... are values (docs/language.md), not unknown names, also as block arguments."""
    source = "block b(c, act = relu, pad = same) { conv(c, 3, padding=pad, activation=act) }\n"
    assert cnndsl.loads(source + net("b(8)", "b(4, act=tanh, pad=valid)")).output_shape == (4, 30, 30)


# --- choosing a network ------------------------------------------------------------------------------------


def test_network_selection_errors():
    two = net("relu()").replace("network n", "network resnet18") + net("relu()").replace("network n", "network vgg")
    check(error_of(cnndsl.loads, two), "E210", 5, "vgg", ["several networks are defined (resnet18, vgg)"],
          "--network NAME", two)  # fmt: skip
    e = error_of(cnndsl.loads, two, network="resnet81")
    check(e, "E210", 1, 1, ["no network named 'resnet81'"], "did you mean 'resnet18'?")
    e = error_of(cnndsl.loads, "block b(c) { conv(c, 3) }\n")
    check(e, "E210", 1, 1, ["no network is defined"], "network name { ... }")
    e = error_of(cnndsl.loads, "network n(c = 3) { input(c, 8, 8) }", args={"d": 1})
    check(e, "E201", 1, 9, ["network 'n' has no parameter 'd'"], None)


# --- files: encoding and imports ------------------------------------------------------------------------------


def test_invalid_utf8_points_at_the_byte(tmp_path):
    f = tmp_path / "latin1.cnn"
    f.write_bytes("network n {\n    input(3, 8, 8)  # café\n}\n".encode("latin-1"))
    e = error_of(cnndsl.load, f)
    check(e, "E103", 2, 25, ["invalid UTF-8 byte 0xe9"], None)
    assert e.path == str(f)
    f.write_bytes(b"\xef\xbb\xbfnetwork n { input(3, 8, 8) }  # \xc3\xa9t\xc3\xa9 \xff\n")  # BOM, UTF-8, then junk
    check(error_of(cnndsl.load, f), "E103", 1, 37, ["invalid UTF-8 byte 0xff"], None)  # counted in characters


def test_a_bom_and_crlf_line_ends_are_fine_and_columns_stay_right(tmp_path):
    f = tmp_path / "windows.cnn"
    f.write_bytes(b"\xef\xbb\xbfnetwork n {\r\n\tinput(3, 8, 8)\r\n\tconv(8, 33)\r\n}\r\n")
    check(error_of(cnndsl.load, f), "E301", 3, 10, ["conv 33×33 on 3×8×8"], None)  # at 33, after a tab


def test_missing_file_and_directory(tmp_path):
    # no line or column: the file has no place to point at
    check(error_of(cnndsl.load, tmp_path / "nope.cnn"), "E400", 0, 1, ["cannot read", "no such file"], None)
    check(error_of(cnndsl.load, tmp_path), "E400", 0, 1, ["cannot read", "it is a directory"], None)
    assert str(error_of(cnndsl.load, tmp_path / "nope.cnn")).startswith(f"{tmp_path / 'nope.cnn'}: error[E400]")


@pytest.mark.parametrize(
    "target, message",
    [("missing.cnn", "cannot import 'missing.cnn': does not exist"),
     ("blocks", "cannot import 'blocks': is a directory"),
     ("../outside.cnn", "import '../outside.cnn' leaves the directory of the file being compiled")],
)  # fmt: skip
def test_import_errors(tmp_path, target, message):
    (tmp_path / "outside.cnn").write_text("block b(c) { conv(c, 1) }\n")
    (tmp_path / "project" / "blocks").mkdir(parents=True)
    main = tmp_path / "project" / "main.cnn"
    source = f'# uses a block\nimport "{target}"\n' + net("relu()")
    main.write_text(source)
    e = error_of(cnndsl.load, main)
    check(e, "E400", 2, 8, [message], "--import-path" if "leaves" in message else None, source)
    assert e.path == str(main)


def test_import_path_allows_leaving_the_tree(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.cnn").write_text("block b(c) { conv(c, 1) }\n")
    (tmp_path / "app").mkdir()
    main = tmp_path / "app" / "main.cnn"
    main.write_text('import "../lib/blocks.cnn"\n' + net("b(8)"))
    assert error_of(cnndsl.load, main).code == "E400"
    assert cnndsl.load(main, import_paths=[tmp_path / "lib"]).output_shape == (8, 32, 32)


def test_import_cycle_between_two_files(tmp_path):
    (tmp_path / "a.cnn").write_text('import "b.cnn"\nblock a1(c) { conv(c, 1) }\n' + net("a1(8)"))
    (tmp_path / "b.cnn").write_text('# b needs a\nimport "a.cnn"\nblock b1(c) { conv(c, 1) }\n')
    e = error_of(cnndsl.load, tmp_path / "a.cnn")
    check(e, "E401", 2, 8, ["import cycle: a.cnn → b.cnn → a.cnn"], None)
    assert e.path == str(tmp_path / "b.cnn") and e.source_line == 'import "a.cnn"'
    (tmp_path / "self.cnn").write_text('import "self.cnn"\n')
    check(error_of(cnndsl.load, tmp_path / "self.cnn"), "E401", 1, 8, ["self.cnn → self.cnn"], None)


def test_a_file_imported_twice_is_read_once(tmp_path):
    """A diamond (main imports p and q, both import common) is no cycle and defines nothing twice."""
    (tmp_path / "common.cnn").write_text("block common(c) { conv(c, 1) }\n")
    (tmp_path / "p.cnn").write_text('import "common.cnn"\nblock p(c) { common(c) }\n')
    (tmp_path / "q.cnn").write_text('import "common.cnn"\nblock q(c) { common(c) }\n')
    (tmp_path / "main.cnn").write_text('import "p.cnn"\nimport "q.cnn"\n' + net("p(4)", "q(8)"))
    assert cnndsl.load(tmp_path / "main.cnn").output_shape == (8, 32, 32)


def test_imports_nested_too_deeply(tmp_path):
    for i in range(110):
        (tmp_path / f"f{i}.cnn").write_text(f'import "f{i + 1}.cnn"\n')
    (tmp_path / "f110.cnn").write_text("block b(c) { conv(c, 1) }\n")
    e = error_of(cnndsl.load, tmp_path / "f0.cnn")
    check(e, "E404", 1, 8, ["imports are nested too deeply"], None)


# --- bounded work ---------------------------------------------------------------------------------------------


def timed_error(source: str, limit: float = 1.0, **kwargs) -> CnnDslError:
    start = time.perf_counter()
    e = error_of(cnndsl.loads, source, **kwargs)
    assert time.perf_counter() - start < limit, e.format()
    return e


def test_huge_repeat_fails_fast():
    e = timed_error(net("repeat 1000000000 relu()"))
    assert e.code == "E403" and "1,000,000,000" in e.message


def test_nested_repeats_fail_fast():
    """3**13 ≈ 1.6 million nodes: refused before building any of them."""
    e = timed_error(net("repeat 3 " * 13 + "relu()"))
    check(e, "E403", 3, 12, ["repeat 3 expands past the budget of 1,000,000 nodes"], None)


def test_block_fan_out_fails_fast():
    """Each block calls the next twice: 2**40 nodes, with no repeat anywhere."""
    blocks = "".join(f"block b{i}(c) {{ b{i + 1}(c); b{i + 1}(c) }}\n" for i in range(40)) + "block b40(c) { relu() }\n"
    e = timed_error(blocks + net("b0(1)"))
    check(e, "E403", 44, 5, ["block 'b0' expands past the budget"], None)


def test_repeat_of_a_parameterised_block_fails_fast():
    e = timed_error("block b(n) { repeat n relu() }\n" + net("repeat 1000 b(1000)"))
    check(e, "E403", 4, "1000 b", ["repeat 1,000 expands past"], None)


def test_node_budget_is_configurable():
    e = timed_error(net("repeat 3 { conv(8, 3, padding=1); relu() }"), max_nodes=6)
    check(e, "E403", 3, "3 {", ["budget of 6 nodes"], None)
    assert len(cnndsl.loads(net("repeat 3 { conv(8, 3, padding=1); relu() }"), max_nodes=7).nodes) == 7


def test_deep_nesting_never_raises_recursion_error():
    for source in (
        net("{" * 10_000 + "relu()" + "}" * 10_000),
        net("{" * 10_000),  # and never closed
        net("conv(" + "-" * 10_000 + "8, 3)"),
        net("conv(" + "1 + (" * 10_000 + "1" + ")" * 10_000 + ", 3)"),
        net("repeat 1 " * 10_000 + "relu()"),
        "".join(f"block b{i}(c) {{ b{i + 1}(c) }}\n" for i in range(200)) + "block b200(c) { relu() }\n" + net("b0(1)"),
    ):
        e = timed_error(source, limit=5.0)  # parsing 20,000 tokens takes a few tenths of a second
        assert e.code in ("E102", "E404"), e.format()
    # parentheses build no nesting of their own: 10,000 of them are merely redundant
    assert cnndsl.loads(net("conv(" + "(" * 10_000 + "8" + ")" * 10_000 + ", 3)")).output_shape == (8, 30, 30)
    # nor does a flat sum: 10,000 terms are one expression, evaluated in a loop (issue 14)
    assert cnndsl.loads(net("conv(" + "+".join(["1"] * 10_000) + ", 3)")).output_shape == (10_000, 30, 30)


# --- the command line -----------------------------------------------------------------------------------------


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=60)  # fmt: skip
    assert "Traceback" not in r.stderr + r.stdout
    return r


def test_cli_text_format(tmp_path):
    (tmp_path / "blocks.cnn").write_text(BASIC.split("network")[0])
    (tmp_path / "resnet.cnn").write_text('import "blocks.cnn"\n\nnetwork n {\n    input(64, 56, 56)\n'
                                         "    layer2: sequence { basic(128, stride=2) }\n}\n")  # fmt: skip
    (tmp_path / "garbage.cnn").write_bytes(bytes(range(256)))
    r = cli("check", "resnet.cnn", "garbage.cnn", cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[:4] == [
        "blocks.cnn:2:5: error[E300]: add: main path gives 128×28×28 but the identity shortcut gives 64×56×56 "
        "(in layer2.0: basic(channels=128, stride=2))",
        "        residual {",
        "        ^",
        "  hint: add a projection shortcut: residual { ... } shortcut { conv(C, 1, strides=S) }",
    ]
    assert lines[4] == "garbage.cnn:2:118: error[E103]: invalid UTF-8 byte 0x80"  # after 0x00 ... 0x7f


def test_cli_github_and_json_formats(tmp_path):
    (tmp_path / "bad.cnn").write_text(net("conv(8, 3, stride=2)"))
    (tmp_path / "good.cnn").write_text(net("conv(8, 3)"))
    r = cli("check", "--format", "github", "bad.cnn", "good.cnn", cwd=tmp_path)
    assert r.returncode == 1
    assert "::error file=bad.cnn,line=3,col=16,title=E201::conv has no argument 'stride' (did you mean 'strides'?)" in (
        r.stdout.splitlines()
    )
    r = cli("check", "--format", "json", "bad.cnn", "good.cnn", cwd=tmp_path)
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert [n["network"] for n in data["networks"]] == ["n"]
    error = {"path": "bad.cnn", "line": 3, "column": 16, "code": "E201", "message": "conv has no argument 'stride'"}
    assert data["errors"] == [{**error, "hint": "did you mean 'strides'?", "networks": ["bad.cnn:n"]}]


def test_cli_usage_errors_exit_2(tmp_path):
    for args in (["check"], ["check", "--bogus", "x.cnn"]):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, args
        assert "usage: cnndsl" in r.stderr


# --- docs/errors.md -------------------------------------------------------------------------------------------

DOCS = ROOT / "docs" / "errors.md"


def doc_sections() -> dict[str, str]:
    parts = re.split(r"^## (E\d{3})\b.*$", DOCS.read_text(encoding="utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_code_is_documented():
    sections = doc_sections()
    assert sorted(sections) == sorted(CODES)
    for code, title in CODES.items():
        assert re.search(rf"^## {code}: {re.escape(title)}$", DOCS.read_text(encoding="utf-8"), flags=re.M), code


# E500 needs a consumer that lacks an op, which no released one does: tests/test_registry.py makes one.
@pytest.mark.parametrize("code", sorted(set(CODES) - {"E500"}))
def test_documented_example_fails_as_documented(code, tmp_path, monkeypatch):
    """Each section's ```cnn blocks are files (named by a first line `# file: NAME`, else example.cnn); the
    first is compiled and must fail with the section's code and the message the ```text block shows."""
    section = doc_sections()[code]
    blocks = re.findall(r"```cnn\n(.*?)```", section, flags=re.S)
    assert blocks, f"{code} has no example"
    files = []
    for block in blocks:
        m = re.match(r"# file: (\S+)\n", block)
        name = m.group(1) if m else "example.cnn"
        data = block.encode("latin-1" if code == "E103" else "utf-8")  # E103: a file saved as Latin-1
        (tmp_path / name).write_bytes(data)
        files.append(name)
    monkeypatch.chdir(tmp_path)
    e = error_of(cnndsl.load, files[0])
    assert e.code == code, e.format()
    shown = re.search(r"```text\n(.*?)```", section, flags=re.S)
    assert shown and shown.group(1).splitlines()[0] == str(e)
