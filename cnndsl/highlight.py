"""A Pygments lexer for .cnn files, registered as the `pygments.lexers` entry point `cnn`.

With cnndsl installed, ```` ```cnn ```` blocks highlight in Markdown (Python-Markdown, MkDocs), Sphinx
(`.. code-block:: cnn`), Jupyter and anything else that asks Pygments for a lexer by name. The layer names
come from `cnndsl.ops`, the keywords from the grammar and the built-in functions and input sizes (`in.channels`)
from the compiler, so a new layer, keyword or function highlights without touching this file.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from . import ops
from .compiler import BUILTINS, INPUT_SIZES
from .compiler import FUNCTIONS as BUILT_IN
from .syntax import keywords

CONSTANTS = ("true", "false")
KEYWORDS = tuple(k for k in keywords() if k not in CONSTANTS)
SIZES = tuple(n for names in INPUT_SIZES.values() for n in names)
FUNCTIONS = tuple(BUILT_IN)  # min, max, round ...: called in expressions
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
TEMPLATE = _IDENT + r'(?:\{[^{}\n"]*\}[A-Za-z0-9_]*)+'  # a computed label: denselayer{i + 1}
# layers, `identity`, and the words that open a group of branches (`concat { }`, `inline { }`)
LAYERS = tuple(sorted({*ops.LAYERS, *BUILTINS, *ops.MERGES, "inline"}, key=lambda w: (-len(w), w)))


class CnnLexer(RegexLexer):
    """The .cnn language of cnndsl: convolutional networks described as text."""

    name = "cnn"
    aliases = ["cnn", "cnndsl"]
    filenames = ["*.cnn"]
    mimetypes = ["text/x-cnn"]
    url = "https://github.com/cnndsl/cnndsl"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'("[^"\\\n]*")(\s*)(:)', bygroups(Name.Label, Whitespace, Punctuation)),  # a quoted module name
            (r'"[^"\\\n]*"', String),
            (rf"(block|network|def)(\s+)({_IDENT})", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (rf"(let)(\s+)({_IDENT})", bygroups(Keyword.Declaration, Whitespace, Name.Constant)),
            (rf"({TEMPLATE})(\s*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
            (rf"(shortcut)(\s+)({_IDENT})", bygroups(Keyword, Whitespace, Name.Label)),
            (words(SIZES, prefix=r"(?<![\w.])in\.", suffix=r"\b"), Name.Builtin.Pseudo),  # in.channels
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (rf"({_IDENT})(\s*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
            (rf"({_IDENT})(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            (words(LAYERS, suffix=r"\b(?=\s*[({])"), Name.Builtin),
            (words(tuple(FUNCTIONS), suffix=r"\b(?=\s*\()"), Name.Builtin),  # min(...), round(...)
            (rf"{_IDENT}(?=\s*\()", Name.Function),
            (r"[0-9]+x[0-9]+(?![A-Za-z0-9_])", Number),
            (r"([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (_IDENT, Name),
            (r"\?", Keyword.Constant),
            (r"==|!=|<=|>=|<|>|//|[-+*/%]", Operator),
            (r"[(){},;:\[\].]", Punctuation),
            (r"=", Operator),
        ]
    }
