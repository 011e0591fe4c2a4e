"""Writes cnn.tmLanguage.json, the TextMate grammar of .cnn files, with the keywords, layers, built-in functions
and input sizes cnndsl knows (cnndsl.highlight takes them from the grammar, the op registry and the compiler).

    python editors/vscode/syntaxes/build.py

tests/test_editors.py checks that the committed grammar is what this writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from cnndsl.highlight import FUNCTIONS, KEYWORDS, LAYERS, SIZES, TEMPLATE

IDENT = "[A-Za-z_][A-Za-z0-9_]*"
CONTROL = [k for k in KEYWORDS if k not in ("import", "block", "network", "let", "def")]


def grammar() -> dict:
    patterns = [
        "comment", "label", "string", "definition", "shortcut", "size", "keyword", "constant", "argument", "layer",
        "function", "call", "number", "name", "operator", "punctuation", "invalid",
    ]  # fmt: skip
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "cnn",
        "scopeName": "source.cnn",
        "fileTypes": ["cnn"],
        "patterns": [{"include": f"#{p}"} for p in patterns],
        "repository": {
            "comment": {"name": "comment.line.number-sign.cnn", "match": "#.*$"},
            "label": {
                "match": f'\\b({TEMPLATE}|{IDENT})\\s*(:)|("[^"\\\\]*")\\s*(:)',
                "captures": {
                    "1": {"name": "entity.name.label.cnn"},
                    "2": {"name": "punctuation.separator.label.cnn"},
                    "3": {"name": "entity.name.label.cnn"},
                    "4": {"name": "punctuation.separator.label.cnn"},
                },
            },  # fmt: skip
            "string": {"name": "string.quoted.double.cnn", "match": '"[^"\\\\]*"'},
            "definition": {
                "match": f"\\b(block|network|def|let)\\s+({IDENT})",
                "captures": {"1": {"name": "storage.type.$1.cnn"}, "2": {"name": "entity.name.function.cnn"}},
            },
            "shortcut": {
                "match": f"\\b(shortcut)\\s+({IDENT})",
                "captures": {"1": {"name": "keyword.control.shortcut.cnn"}, "2": {"name": "entity.name.label.cnn"}},
            },
            "size": {
                "match": f"\\b(in)(\\.)({'|'.join(SIZES)})\\b",
                "captures": {
                    "1": {"name": "keyword.control.in.cnn"},
                    "2": {"name": "punctuation.accessor.cnn"},
                    "3": {"name": "variable.language.size.cnn"},
                },
            },
            "keyword": {
                "patterns": [
                    {"name": "keyword.control.import.cnn", "match": "\\bimport\\b"},
                    {"name": "keyword.control.$1.cnn", "match": f"\\b({'|'.join(CONTROL)})\\b"},
                    {"name": "storage.type.$1.cnn", "match": "\\b(block|network|def|let)\\b"},
                ]
            },
            "constant": {
                "patterns": [
                    {"name": "constant.language.boolean.cnn", "match": "\\b(true|false)\\b"},
                    {"name": "constant.language.open.cnn", "match": "\\?"},
                ]
            },
            "argument": {
                "match": f"\\b({IDENT})\\s*(=)(?!=)",
                "captures": {"1": {"name": "variable.parameter.cnn"}, "2": {"name": "keyword.operator.assignment.cnn"}},
            },
            "layer": {"name": "support.function.layer.cnn", "match": f"\\b({'|'.join(LAYERS)})\\b(?=\\s*[({{])"},
            "function": {"name": "support.function.builtin.cnn", "match": f"\\b({'|'.join(FUNCTIONS)})\\b(?=\\s*\\()"},
            "call": {"name": "entity.name.function.call.cnn", "match": f"\\b{IDENT}(?=\\s*\\()"},
            "number": {
                "patterns": [
                    {"name": "constant.numeric.size.cnn", "match": "\\b[0-9]+x[0-9]+\\b"},
                    {
                        "name": "constant.numeric.float.cnn",
                        "match": "(?:\\b[0-9]+\\.[0-9]*|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?|\\b[0-9]+[eE][-+]?[0-9]+",
                    },
                    {"name": "constant.numeric.integer.cnn", "match": "\\b[0-9]+\\b"},
                ]
            },
            "name": {"name": "variable.other.cnn", "match": f"\\b{IDENT}\\b"},
            "operator": {"name": "keyword.operator.cnn", "match": "==|!=|<=|>=|<|>|//|[-+*/%=]"},
            "punctuation": {
                "patterns": [
                    {"name": "punctuation.section.braces.cnn", "match": "[{}]"},
                    {"name": "punctuation.section.parens.cnn", "match": "[()]"},
                    {"name": "punctuation.section.brackets.cnn", "match": "[\\[\\]]"},
                    {"name": "punctuation.accessor.cnn", "match": "\\."},
                    {"name": "punctuation.separator.cnn", "match": "[,;:]"},
                ]
            },
            "invalid": {"name": "invalid.illegal.character.cnn", "match": "[^\\s]"},
        },
    }


def text() -> str:
    return json.dumps(grammar(), indent=2) + "\n"


if __name__ == "__main__":
    (Path(__file__).resolve().parent / "cnn.tmLanguage.json").write_text(text())
