"""`cnndsl fmt`: the canonical layout, comments kept, idempotent, and never a change of meaning."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ARCH, ROOT
from hypothesis import given
from test_fuzz import PROFILE, generated, mutated

from cnndsl.cli import main
from cnndsl.compiler import Compiler
from cnndsl.errors import CnnDslError
from cnndsl.fmt import _COMMENT, format_text

FILES = sorted(ARCH.rglob("*.cnn"))
DOC_EXAMPLES = [
    (doc.name, text)
    for doc in sorted((ROOT / "docs").glob("*.md"))
    for text in re.findall(r"```cnn\n(.*?)```", doc.read_text(), re.S)
]


def without_spans(data):
    if isinstance(data, dict):
        return {k: without_spans(v) for k, v in data.items() if k != "span"}
    if isinstance(data, list):
        return [without_spans(v) for v in data]
    return data


def meaning(text: str, path: str) -> list:
    """Every network's IR as JSON, or the errors (code and message): all but the source positions, which
    move with the layout."""
    c = Compiler(max_nodes=20_000)
    try:
        c.add_text(text, path)
    except CnnDslError as e:
        return [(e.code, e.message)]
    out = []
    for name in c.network_names():
        try:
            out.append(without_spans(json.loads(c.compile(name).to_json())))
        except CnnDslError as e:
            out.append((e.code, e.message))
    return out


def comments(text: str) -> list[str]:
    return [m.group().rstrip() for m in _COMMENT.finditer(text) if m.group().startswith("#")]


def assert_formatting_keeps_meaning(text: str, path: str) -> str:
    once = format_text(text, path)
    assert format_text(once, path) == once  # idempotent
    assert meaning(once, path) == meaning(text, path)
    assert sorted(comments(once)) == sorted(comments(text))
    return once


_ASSIGN = re.compile(r"(?<![=!<>])=(?!=)")  # an `=` that is not part of a comparison


def squashed(text: str) -> str:
    """The lines without comments badly laid out: no indentation, spaces inside calls."""
    return "\n".join(
        line if "#" in line else " " + _ASSIGN.sub(" = ", line.strip().replace("(", " ( ").replace(",", " ,"))
        for line in text.splitlines()
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ARCH)))
def test_architectures_are_formatted_and_keep_their_meaning(path):
    text = path.read_text()
    assert format_text(text, str(path)) == text, "run: cnndsl fmt architectures/"
    # the same file laid out badly (the lines without comments) formats back to itself, with the same IR
    assert assert_formatting_keeps_meaning(squashed(text), str(path)) == text


@pytest.mark.parametrize(("doc", "text"), DOC_EXAMPLES)
def test_doc_examples_are_formatted(doc, text):
    if "{{{{{" in text:
        return  # docs/errors.md's E404 example: a hundred nested braces on one line, meant to be unreadable
    try:
        formatted = format_text(text)
    except CnnDslError as e:
        assert doc == "errors.md" and e.code in ("E100", "E101", "E102", "E405")  # examples of syntax errors
        return
    assert formatted == text
    assert assert_formatting_keeps_meaning(squashed(text), "example.cnn") == text


@PROFILE
@given(data=generated())
def test_generated_programs_keep_their_meaning(data):
    assert_formatting_keeps_meaning(data.decode(), "fuzz.cnn")


@PROFILE
@given(data=mutated())
def test_mutated_architectures_keep_their_meaning(data):
    try:
        text = data.decode("utf-8")
        format_text(text, "m.cnn")
    except (UnicodeDecodeError, CnnDslError):
        return  # not a program: fmt refuses it as check does
    assert_formatting_keeps_meaning(text, "m.cnn")


MESSY = """\
# header


import   "blocks/resnet.cnn"
import "other.cnn"
block b ( c , s=1 ) { conv ( c*2 , 3x3 , strides = s ) ; relu ( )   # after relu
  # alone, before the residual
  residual { conv(c, 1) } shortcut down { conv(c, 1, strides=(s, s,)) }


    x: concat { a: relu(); { relu() } }
  repeat 2 { dense(-(c - 1) * (2 + c), activation = relu) }
  # last words of b
}
network n() { input(3, 8, 8) ; b(4)
}
# the end
"""

EXPECTED = """\
# header

import "blocks/resnet.cnn"
import "other.cnn"

block b(c, s = 1) {
    conv(c * 2, 3x3, strides=s)
    relu()  # after relu
    # alone, before the residual
    residual {
        conv(c, 1)
    } shortcut down {
        conv(c, 1, strides=(s, s))
    }

    x: concat {
        a: relu()
        {
            relu()
        }
    }
    repeat 2 {
        dense(-(c - 1) * (2 + c), activation=relu)
    }
    # last words of b
}

network n {
    input(3, 8, 8)
    b(4)
}
# the end
"""


def test_layout():
    assert format_text(MESSY) == EXPECTED
    assert format_text(EXPECTED) == EXPECTED
    assert format_text("block e() {}\nnetwork t { input(1, ?, ?); repeat 2 {} }") == (
        "block e() {}\n\nnetwork t {\n    input(1, ?, ?)\n    repeat 2 {}\n}\n"
    )
    assert format_text("network t { input(1,2,3)\r\n   relu() }") == "network t {\n    input(1, 2, 3)\n    relu()\n}\n"
    # arithmetic keeps the parentheses it needs, and only those
    out = format_text("block p(a, b) { dense(a - (b - 1) + ((a * b)) // (a % b) - -a / (-(a + b))) }")
    assert "dense(a - (b - 1) + a * b // (a % b) - -a / -(a + b))" in out


def test_a_generator_with_an_if_round_trips():
    text = (
        "let t = ((64, 3), (128, 4))\nnetwork n(deep = true) { input(3)\n"
        " dense(sum( n for _,n in t  if n>3 ))\n"
        " dense(max(c if deep else 1 for c, _ in ((t if deep else ((8, 1),))) if ((c if deep else 0) > 64)))\n}\n"
    )
    out = assert_formatting_keeps_meaning(text, "g.cnn")
    assert out.splitlines()[4:6] == [
        "    dense(sum(n for _, n in t if n > 3))",
        # a conditional after `in` keeps the parentheses it needs there, as in Python, and only those
        "    dense(max(c if deep else 1 for c, _ in (t if deep else ((8, 1),)) if (c if deep else 0) > 64))",
    ]


def test_aligned_trailing_comments_stay_aligned():
    text = "network t {\n    input(1, 8, 8)    # in\n    relu()            # act\n    flatten()  # out\n}\n"
    assert format_text(text) == text
    reindented = format_text("network t {\n  input(1, 8, 8)      # in\n  relu()              # act\n}\n")
    assert reindented == "network t {\n    input(1, 8, 8)    # in\n    relu()            # act\n}\n"
    unaligned = format_text("network t {\n input(1, 8, 8)    # in\n        relu()            # act\n}\n")
    assert unaligned == "network t {\n    input(1, 8, 8)  # in\n    relu()  # act\n}\n"


def test_cli(tmp_path, capsys, monkeypatch):
    good = tmp_path / "good.cnn"
    good.write_text(EXPECTED)
    messy = tmp_path / "sub" / "messy.cnn"
    messy.parent.mkdir()
    messy.write_text(MESSY)
    messy.chmod(0o640)
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"would reformat {messy}\n"
    assert main(["fmt", "--diff", str(messy)]) == 1
    diff = capsys.readouterr().out
    assert "-block b ( c , s=1 )" in diff and "+block b(c, s = 1) {" in diff
    assert messy.read_text() == MESSY  # --check and --diff change nothing
    assert main(["fmt", str(tmp_path)]) == 0
    assert messy.read_text() == EXPECTED and messy.stat().st_mode & 0o777 == 0o640
    assert "reformatted" in capsys.readouterr().err
    assert main(["fmt", "--check", str(tmp_path)]) == 0
    bad = tmp_path / "bad.cnn"
    bad.write_text("network n { input(3, 8, 8) relu( }\n")
    assert main(["fmt", str(bad)]) == 1
    assert "bad.cnn:1:34: error[E100]" in capsys.readouterr().err
    assert bad.read_text() == "network n { input(3, 8, 8) relu( }\n"
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(MESSY))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == EXPECTED


def test_long_tables_and_sums_get_a_line_per_row_or_term():
    rows = ", ".join(f"({k}, {k * 16}, {k % 3 + 1}, 2)" for k in range(1, 12))
    terms = " + ".join(f"(f(t, {k}) if s > {k} else 0)" for k in range(7))
    text = f"let table = ({rows})  # a settings table\ndef f(t, k) = k\ndef total(t, s) = {terms} - 1\n"
    text += "network n { input(1); for a, b, c, d in table { dense(b + total(table, 3)) } }\n"
    out = format_text(text)
    lines = out.splitlines()
    assert lines[0] == "let table = (" and lines[1] == "    (1, 16, 2, 2)," and lines[11] == "    (11, 176, 3, 2),"
    assert lines[12] == ")  # a settings table"
    assert lines[14].startswith("def total(t, s) = (f(t, 0) if s > 0 else 0) + ") and lines[15].startswith("    + ")
    assert lines[15].endswith(" - 1") and all(len(line) <= 120 for line in lines)
    assert format_text(out) == out
    from cnndsl.compiler import Compiler

    def compiled(source):
        c = Compiler()
        c.add_text(source)
        return [(n.name, n.shape) for n in c.compile("n").nodes]

    assert compiled(out) == compiled(text)


def test_long_headers_get_a_line_per_parameter():
    params = ", ".join(f"width_{k} = {k} * 16" for k in range(8))
    text = f"block wide(channels, {params}) {{ conv(channels, 1) }}\n"
    text += "block b(c,  # the width\n  s = 1,\n  # the last\n) { conv(c, s) }\n"  # short: back on one line
    text += f"network n(a = 1, {params}) {{ input(3, 8, 8); wide(4); b(4) }}\n"
    out = assert_formatting_keeps_meaning(text, "<string>")
    lines = out.splitlines()
    assert lines[:3] == ["block wide(", "    channels,", "    width_0 = 0 * 16,"]
    assert lines[9:12] == ["    width_7 = 7 * 16,", ") {", "    conv(channels, 1)"]
    assert "block b(c, s = 1) {  # the width" in lines
    assert lines[lines.index("network n(") + 1] == "    a = 1," and all(len(line) <= 120 for line in lines)
    # a comment inside a wrapped header stays beside its parameter, or on its own line above the `)`
    commented = out.replace("    width_3 = 3 * 16,", "    width_3 = 3 * 16,  # three").replace(
        "    width_7 = 7 * 16,\n) {\n    conv", "    width_7 = 7 * 16\n    # the last one\n) {\n    conv"
    )
    again = assert_formatting_keeps_meaning(commented, "<string>")
    assert "    width_3 = 3 * 16,  # three\n" in again
    assert "    width_7 = 7 * 16,\n    # the last one\n) {\n" in again
