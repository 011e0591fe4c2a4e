"""Highlighting: the Pygments lexer and the VS Code extension's TextMate grammar, on every file and docs example.

The TextMate grammar runs in node with vscode-textmate and vscode-oniguruma, as VS Code runs it; `make setup`
installs them (`npm ci --prefix editors/vscode/test`).
"""

from __future__ import annotations

import importlib
import json
import re
import runpy
import subprocess

import pytest
from conftest import ARCH, ROOT
from pygments.token import Comment, Error, Keyword, Name, Text

from cnndsl import ops
from cnndsl.compiler import BUILTINS
from cnndsl.errors import CnnDslError
from cnndsl.highlight import LAYERS, CnnLexer
from cnndsl.syntax import parse

VSCODE = ROOT / "editors" / "vscode"
FILES = sorted(ARCH.rglob("*.cnn"))
DOC_EXAMPLES = [
    text
    for doc in sorted((ROOT / "docs").glob("*.md"))
    for text in re.findall(r"```cnn\n(.*?)```", doc.read_text(), re.S)
]


def valid(text: str) -> bool:
    """Whether the text is .cnn at all (docs/errors.md also shows stray characters such as '×')."""
    try:
        parse(text)
    except CnnDslError as e:
        return e.code not in ("E101",)
    return True


SOURCES = [p.read_text() for p in FILES] + [t for t in DOC_EXAMPLES if valid(t)]


def test_pygments_lexer_has_no_error_tokens():
    assert len(SOURCES) > len(FILES) + 30
    for text in SOURCES:
        tokens = list(CnnLexer().get_tokens(text))
        assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"
        errors = [(t, v) for t, v in tokens if t in Error]
        assert not errors, errors
        # every word is something more specific than plain text
        assert not [v for t, v in tokens if t is Text and v.strip()]


def test_pygments_token_kinds():
    tokens = [(t, v) for t, v in CnnLexer().get_tokens((ARCH / "blocks" / "resnet.cnn").read_text()) if v.strip()]
    kinds = dict((v, t) for t, v in reversed(tokens))  # the first occurrence of each text
    assert kinds["block"] in Keyword and kinds["basic"] in Name.Function and kinds["residual"] in Keyword
    assert kinds["conv1"] is Name.Label and kinds["conv"] is Name.Builtin and kinds["strides"] is Name.Attribute
    assert kinds["false"] in Keyword.Constant and kinds["downsample"] is Name.Label
    assert tokens[0][0] in Comment


def test_the_family_language_highlights():
    """Keywords come from the grammar, built-in functions and `in.` sizes from the compiler: all highlighted."""
    from cnndsl.syntax import keywords

    assert {"if", "else", "for", "in", "let", "def", "output", "and", "or", "not"} <= set(keywords())
    text = "let k = 2\ndef f(c) = max(c, round(c / k))\nblock b(c) {\n    if in.channels != c { conv(f(c), 1) }\n}\n"
    tokens = {v: t for t, v in CnnLexer().get_tokens(text) if v.strip()}
    assert tokens["let"] in Keyword and tokens["def"] in Keyword and tokens["if"] in Keyword
    assert (
        tokens["max"] is Name.Builtin
        and tokens["round"] is Name.Builtin
        and tokens["in.channels"] is Name.Builtin.Pseudo
    )
    for word in keywords():
        assert next(CnnLexer().get_tokens(word))[0] in Keyword, word
    (lines,) = tokenize_with_textmate([text])
    scopes = {line[a:b]: s[-1] for line, tokens in lines for a, b, *s in tokens if line[a:b].strip()}
    assert scopes["max"] == scopes["round"] == "support.function.builtin.cnn"
    assert scopes["channels"] == "variable.language.size.cnn" and scopes["if"] == "keyword.control.if.cnn"
    assert scopes["let"] == "storage.type.let.cnn"


def test_pygments_entry_point_is_declared():
    """`pygments.lexers` entry point `cnn` (the built wheel's metadata is checked in test_packaging.py)."""
    section = (ROOT / "pyproject.toml").read_text().split('[project.entry-points."pygments.lexers"]\n')[1]
    value = re.match(r'cnn = "(.*)"\n', section).group(1)
    module, _, attr = value.partition(":")
    lexer = getattr(importlib.import_module(module), attr)
    assert lexer is CnnLexer and "cnn" in lexer.aliases and "*.cnn" in lexer.filenames


def tokenize_with_textmate(texts: list[str]) -> list:
    node_modules = VSCODE / "test" / "node_modules"
    assert (node_modules / "vscode-textmate").is_dir(), "run `make setup` (npm ci --prefix editors/vscode/test)"
    r = subprocess.run(
        ["node", str(VSCODE / "test" / "tokenize.js"), str(VSCODE / "syntaxes" / "cnn.tmLanguage.json"), "-"],
        input=json.dumps(texts), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout).values())


def test_textmate_grammar_tokenises_every_line():
    for lines in tokenize_with_textmate(SOURCES):
        for line, tokens in lines:
            covered = [False] * len(line)
            for start, end, *scopes in tokens:
                assert not any("invalid" in s for s in scopes), (line, line[start:end], scopes)
                if len(scopes) > 1:  # more than source.cnn: a token the grammar recognised
                    for i in range(start, min(end, len(line))):
                        covered[i] = True
            missed = [c for c, ok in zip(line, covered) if not ok and not c.isspace()]
            assert not missed, (line, missed)


def test_textmate_grammar_scopes():
    (lines,) = tokenize_with_textmate(["block b(c, s = 1) {  # hi\n    x: conv(c, 3x3, strides=s) shortcut d {"])
    scopes = {line[a:b]: s[-1] for line, tokens in lines for a, b, *s in tokens if line[a:b].strip()}
    assert scopes["block"] == "storage.type.block.cnn" and scopes["b"] == "entity.name.function.cnn"
    assert scopes["# hi"].startswith("comment.line") and scopes["x"] == "entity.name.label.cnn"
    assert scopes["conv"] == "support.function.layer.cnn" and scopes["3x3"] == "constant.numeric.size.cnn"
    assert scopes["strides"] == "variable.parameter.cnn" and scopes["d"] == "entity.name.label.cnn"
    (lines,) = tokenize_with_textmate(["conv(1, 2) @ 3"])  # what is not .cnn shows as such
    ((line, tokens),) = lines
    assert [line[a:b] for a, b, *s in tokens if s[-1] == "invalid.illegal.character.cnn"] == ["@"]


def test_grammar_and_lexer_know_every_layer():
    grammar = json.loads((VSCODE / "syntaxes" / "cnn.tmLanguage.json").read_text())
    listed = re.search(r"\\b\(([^)]*)\)", grammar["repository"]["layer"]["match"]).group(1).split("|")
    assert set(listed) == set(LAYERS) >= {*ops.LAYERS, *BUILTINS, *ops.MERGES, "inline"}
    build = runpy.run_path(str(VSCODE / "syntaxes" / "build.py"))
    assert build["text"]() == (VSCODE / "syntaxes" / "cnn.tmLanguage.json").read_text(), "run syntaxes/build.py"
    for layer in ops.LAYERS:
        assert ("Token.Name.Builtin", layer) in {(str(t), v) for t, v in CnnLexer().get_tokens(f"{layer}()")}


def test_extension_manifest():
    manifest = json.loads((VSCODE / "package.json").read_text())
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "cnn" and language["extensions"] == [".cnn"]
    grammar = manifest["contributes"]["grammars"][0]
    assert (VSCODE / grammar["path"]).is_file() and grammar["scopeName"] == "source.cnn"
    config = json.loads((VSCODE / language["configuration"]).read_text())
    assert config["comments"]["lineComment"] == "#" and ["{", "}"] in config["brackets"]
    assert manifest["contributes"]["configuration"]["properties"]["cnndsl.server.command"]["default"] == [
        "cnndsl",
        "lsp",
    ]
    extension = (VSCODE / manifest["main"]).read_text()
    assert "vscode-languageclient/node" in extension and "vscode-languageclient" in manifest["dependencies"]


@pytest.mark.parametrize("text", ['import "a.cnn"\n', "network n { input(3, ?, ?) }\n", "x = -1.5e-3 // 2 % 3\n"])
def test_pygments_round_trips_text(text):
    tokens = list(CnnLexer().get_tokens(text))
    assert "".join(v for _, v in tokens) == text
    assert not [v for t, v in tokens if t in Error or (t is Text and v.strip())]
