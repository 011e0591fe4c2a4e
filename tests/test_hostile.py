"""Hostile input (issue 6): cnndsl never runs what a .cnn file or an IR smuggles in, never loses a file,
gives the same bytes in any process and any directory, and bounds its work.

1. Code injection. Hostile names (code, quotes, backslashes, newlines, triple quotes, look-alike letters,
   keywords, dunders, builtins and the generated code's own names, very long names) as labels, shortcut
   labels, block, parameter, network and network-parameter names and in comments. Each is refused with an
   error located on the name, or compiles; what compiles is emitted by every backend and the emitted Python
   is checked through its AST: every call is one the generators write (an allow-list read off
   cnndsl/backends/torch.py and keras.py), the fixed helper code is the generators' text verbatim, no
   dunder name occurs, hostile text occurs only inside string constants; the module runs under an audit
   hook that sees nothing but the one `exec` of the generated module. DOT is accepted by `dot` and drawn
   with the same structure as a harmless name; ONNX passes the checker with the IR's names; the IR's JSON
   round-trips. A doctored IR (JSON edited to carry hostile names, expressions, paths) is refused when read,
   or neutralised by the backends.
2. The compiler never evaluates user text: an AST scan of cnndsl/ finds `exec`/`eval`/`compile` only at the
   two documented sites that run generated source.
3. Determinism: byte-identical output of every backend across hash seeds and working directories; the
   path given on the command line is the only path that shows, as given.
4. No lost files: every writing command leaves an existing output untouched and no temporary file when it
   fails, refuses to write over its input, and says so clearly when the directory is missing.
5. Bounded work: FIFOs and devices are refused without reading, 10 MB of junk ends in a clear error in
   seconds, imports stay inside the tree unless --import-path allows, and memory stays bounded near the
   node budget.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import keras  # noqa: F401  (imported, with TensorFlow, before any test watches what generated code does)
import numpy as np
import onnx
import pytest
import torch
from conftest import ARCH, ROOT

import cnndsl
from cnndsl import diagram
from cnndsl.backends import keras as keras_backend
from cnndsl.backends import onnx as onnx_backend
from cnndsl.backends import torch as torch_backend
from cnndsl.cli import main
from cnndsl.ir import Network
from cnndsl.syntax import keywords

PY = sys.executable

# --- watching for side effects ----------------------------------------------------------------------------

# Audit events that running a generated model has no business raising. Audit hooks cannot be removed, so
# one hook is installed for the session and records only while a test watches.
DANGEROUS = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
    "pty.spawn", "socket.connect", "socket.bind", "socket.getaddrinfo", "urllib.Request", "ctypes.dlopen",
    "os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "os.chmod", "os.symlink", "os.link", "webbrowser.open",
}  # fmt: skip
_EVENTS: list[Counter] = []


def _audit(event: str, args) -> None:
    if _EVENTS:
        _EVENTS[-1][event] += 1
        if event == "open" and len(args) > 1 and isinstance(args[1], str) and set(args[1]) & set("wax+"):
            _EVENTS[-1]["open for writing"] += 1


sys.addaudithook(_audit)


class Watch:
    """`with Watch() as w:` records the audit events inside; w.events is a Counter."""

    def __enter__(self):
        self.events = Counter()
        _EVENTS.append(self.events)
        return self

    def __exit__(self, *exc):
        _EVENTS.remove(self.events)

    def assert_harmless(self, execs: int) -> None:
        bad = {e: n for e, n in self.events.items() if e in DANGEROUS or e == "open for writing" or e == "import"}
        assert not bad, bad
        assert self.events["exec"] == execs, self.events  # the generated module's own exec, and no other


# --- what the generators write ------------------------------------------------------------------------------
# Read off cnndsl/backends/torch.py (_Owner.code and the methods it calls, _ACT_MODULES, _ACT_CALLS, Call(...)
# constructors, _register, _render_class, _lit, _Context.check) and keras.py (_Layers, _Stmt callees,
# _FunctionWriter.lines, _Module.source). The fixed helpers (cnndsl/runtime/) are compared verbatim instead.

TORCH_CALLS = {
    *(f"nn.{c}" for c in (
        "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Upsample",
        "BatchNorm1d", "BatchNorm2d", "LocalResponseNorm", "Dropout", "Flatten", "Linear", "Sequential",
        "ModuleDict", "ReLU", "ReLU6", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "Hardswish", "Hardsigmoid",
        "LeakyReLU", "ELU",
    )),
    *(f"F.{f}" for f in (
        "relu", "relu6", "gelu", "silu", "softmax", "hardswish", "hardsigmoid", "leaky_relu", "elu",
        "adaptive_avg_pool2d", "adaptive_max_pool2d", "interpolate", "local_response_norm", "dropout", "max_pool2d",
        "avg_pool2d", "pad",
    )),
    "torch.sigmoid", "torch.tanh", "torch.flatten", "torch.cat", "OrderedDict", "super", "super().__init__",
    "self.add_module", "int",
}  # fmt: skip
KERAS_CALLS = {
    *(f"layers.{c}" for c in (
        "Activation", "Add", "AveragePooling2D", "BatchNormalization", "Concatenate", "Conv2D", "Conv2DTranspose",
        "Cropping2D", "Dense", "DepthwiseConv2D", "Dropout", "ELU", "Flatten", "GlobalAveragePooling2D",
        "GlobalMaxPooling2D", "Identity", "Input", "LeakyReLU", "MaxPooling2D", "Permute", "Softmax", "UpSampling2D",
        "ZeroPadding2D",
    )),
    "keras.Model",
}  # fmt: skip
TORCH_HELPERS = {name: d.source for name, d in torch_backend._HELPERS.items()}
KERAS_HELPERS = {name: d.source for name, d in keras_backend._LIBRARY.items()}
TORCH_IMPORTS = {"math", "collections", "torch", "torch.nn.functional"}
KERAS_IMPORTS = {"math", "keras"}


def _dotted(node: ast.AST) -> str | None:
    """`nn.Conv2d` for a chain of attributes on a name; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    if isinstance(node, ast.Call) and _dotted(node.func) == "super" and parts:
        return "super()." + ".".join(reversed(parts))
    return None


def check_python(source: str, backend: str, hostile_text: list[str] = ()) -> ast.Module:
    """The checks every emitted module passes, whatever went into it; returns its tree."""
    tree = ast.parse(source)
    helpers, allowed = (TORCH_HELPERS, TORCH_CALLS) if backend == "torch" else (KERAS_HELPERS, KERAS_CALLS)
    imports = TORCH_IMPORTS if backend == "torch" else KERAS_IMPORTS
    defined = set()
    generated: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [stmt.module]
            assert set(modules) <= imports and getattr(stmt, "level", 0) == 0, ast.unparse(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)) and stmt.name in helpers:
            # the fixed helper code, exactly as the generator holds it
            decorators = [f"@{ast.get_source_segment(source, d)}\n" for d in stmt.decorator_list]
            text = "\n".join(
                line.removesuffix("  # noqa: E501")
                for line in "".join([*decorators, ast.get_source_segment(source, stmt)]).split("\n")
            )
            assert text == helpers[stmt.name], stmt.name
            defined.add(stmt.name)
        elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            defined.add(stmt.name)
            generated.append(stmt)
        elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            assert all(
                isinstance(n, (ast.Tuple, ast.Constant, ast.UnaryOp, ast.USub, ast.Load)) for n in ast.walk(stmt.value)
            )
            defined |= {t.id for t in stmt.targets}  # a constant: a fixed filter's matrix
        else:  # the module docstring
            assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant), ast.unparse(stmt)
    assert "build" in defined
    for stmt in generated:
        children = set()
        if isinstance(stmt, ast.ClassDef):  # the modules it registers: self.name = ... / self.name: T = ...
            for node in ast.walk(stmt):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [node.target]
                    if isinstance(node, ast.AnnAssign)
                    else []
                )
                children |= {t.attr for t in targets if isinstance(t, ast.Attribute) and _dotted(t.value) == "self"}
            assert all(
                isinstance(b, ast.Attribute) and _dotted(b) in ("nn.Module", "nn.Sequential") for b in stmt.bases
            )
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                func = node.func
                name = _dotted(func)
                if isinstance(func, ast.Call):  # layers.Conv2D(...)(x): the inner call is checked on its own
                    continue
                if isinstance(func, ast.Subscript):  # self._modules["eval"](x), self.features["0"](x)
                    root = func
                    while isinstance(root, (ast.Subscript, ast.Attribute)):
                        assert not isinstance(root, ast.Subscript) or isinstance(root.slice, ast.Constant)
                        root = root.value
                    assert isinstance(root, ast.Name) and root.id == "self", ast.unparse(node)
                    continue
                if name == "getattr":  # getattr(self, "0"), getattr(self, "block1-0"), getattr(self, "1_conv")
                    assert [ast.unparse(a) for a in node.args[:1]] == ["self"] and re.fullmatch(
                        r"'[A-Za-z0-9][A-Za-z0-9_-]*'", ast.unparse(node.args[1])
                    )
                    continue
                if name == "float":
                    assert [type(a) for a in node.args] == [ast.Constant] and node.args[0].value in (
                        "inf",
                        "-inf",
                        "nan",
                    )
                    continue
                if name is not None and name.startswith("self.") and name.count(".") == 1 and name[5:] in children:
                    continue  # a registered child module, called in forward
                assert name in allowed or name in defined, f"{backend}: unexpected call {ast.unparse(node)[:200]}"
            elif isinstance(node, ast.BinOp):  # arithmetic on numbers: no sequence repeated a billion times
                for operand in (node.left, node.right):
                    assert not isinstance(operand, (ast.Tuple, ast.List, ast.JoinedStr)), ast.unparse(node)
                    assert not (isinstance(operand, ast.Constant) and isinstance(operand.value, (str, bytes)))
            elif isinstance(node, ast.FormattedValue):  # keras' name=f"{name}_conv1"
                assert isinstance(node.value, ast.Name) and node.value.id == "name", ast.unparse(node)
            elif isinstance(node, (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.DictComp, ast.SetComp)):
                raise AssertionError(f"{backend}: unexpected {ast.unparse(node)[:200]}")
            elif isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Delete)):
                raise AssertionError(f"{backend}: unexpected {ast.unparse(node)[:200]}")
    for node in ast.walk(tree):  # no dunder anywhere: __import__, __class__, __builtins__, __globals__ ...
        for ident in _identifiers(node):
            assert not (ident.startswith("__") and ident != "__init__"), f"{backend}: {ident}"
    if hostile_text:
        code = _without_strings(source)
        for text in hostile_text:
            assert text not in code, f"{backend}: {text!r} outside a string literal"
    return tree


def _identifiers(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword) and node.arg:
        return [node.arg]
    return []


class _StripStrings(ast.NodeTransformer):
    def visit_Constant(self, node):
        return ast.Constant("") if isinstance(node.value, str) else node


def _without_strings(source: str) -> str:
    """The module as code with every string constant (docstrings included) emptied: what runs."""
    return ast.unparse(_StripStrings().visit(ast.parse(source)))


def dot_structure(svg: bytes) -> tuple[int, int, int]:
    text = svg.decode()
    return text.count('class="node"'), text.count('class="edge"'), text.count('class="cluster"')


@pytest.mark.parametrize(
    "backend, old, new",
    [
        ("torch", "super().__init__()", "super().__init__(); __import__('os').system('true')"),
        ("torch", "super().__init__()", "super().__init__(); print(self)"),
        ("torch", "super().__init__()", "super().__init__(); self.__class__.x = 1"),
        ("torch", "return x", "return eval('x')"),
        ("torch", "return x", "return (lambda: x)()"),
        ("torch", "total = max(", "total = max(len(()), "),  # a helper that is not the generator's text
        ("torch", "from torch import", "import os\nfrom torch import"),
        ("torch", "return F.relu(", "return (0,) * 10 and F.relu("),
        ("keras", 'name=f"{name}_', 'name=f"{open(name)}_'),
        ("keras", "return keras.Model(", "keras.utils.get_file('x'); return keras.Model("),
        ("keras", "import keras", "import keras, subprocess"),
    ],
)
def test_the_source_checks_catch_what_they_must(backend, old, new, harmless):
    """The checks are not vacuous: each tampered variant of the harmless network's source fails them."""
    net = harmless[0]
    source = (torch_backend if backend == "torch" else keras_backend).emit(net)
    check_python(source, backend)
    assert old in source
    with pytest.raises(AssertionError):
        check_python(source.replace(old, new, 1), backend)


# --- 1. hostile names ----------------------------------------------------------------------------------------

LOOK_ALIKES = [
    "а",
    "pаth",
    "ｘ",
    "ｔｏｒｃｈ",
    "ｐｒｉｎｔ",
    "ℌ",
    "ﬁlter",
    "x\u200b",
    "é",
    "Ａ",
]  # Cyrillic а, fullwidth, ligature, ZWSP
CODE = [
    "__import__('os')", '__import__("os").system("id")', "exec('1')", "a;b", "a b", "a.b", "a-b", "a,b", "a(b)", "a[0]",
    "{a}", "a}", "a{", "a%s", "a#b", "$a", "a=b", "a:b", "a+b", "a*b", "@a", "a\\b", "a\\", "a'b", 'a"b', "'", '"',
    '"""', "'''", 'a"""b', "a\nb", "a\rb", "a\r\nb", "a\tb", "a\x00b", "a\x0cb", "a\u2028b", "a\x85b", "\ufeffa",
]  # fmt: skip
DUNDERS = ["__init__", "__class__", "__builtins__", "__import__", "__dict__", "_", "_a", "__", "a__"]
KEYWORDS = ["class", "def", "return", "lambda", "None", "True", "False", "import", "from", "async", "await",
            "yield", "global", "nonlocal", "match", "case", "del", "pass", "if", "not", "is", "in", "or"]  # fmt: skip
SHADOWING = [
    "torch", "nn", "F", "Tensor", "OrderedDict", "math", "keras", "layers", "x", "out", "identity", "inputs", "name",
    "self", "super", "print", "exec", "eval", "compile", "open", "len", "int", "float", "tuple", "range", "sum",
    "isinstance", "getattr", "object", "type", "build", "forward", "to", "state_dict", "add_module", "modules",
    "training", "cuda", "in_channels", "pad_same", "avg_pool_same", "upsample_zeros", "box_kernel",
    "gaussian_kernel", "FixedConv2d", "SamePadding2D", "PaddedAveragePooling2D", "Model", "Input", "Net", "Blk",
    "node", "edge", "graph", "digraph", "subgraph", "strict", "Node", "GRAPH", "os", "sys", "builtins", "l", "O",
    "I", "shortcut", "projection", "block", "network", "repeat", "residual", "sequence", "concat", "import",
    "KERNEL", "BOX", "X_KERNEL", "T_destination", "downsample", "stride",
]  # fmt: skip
LONG = ["a" * 5000, "A" + "_" * 200 + "b", "x" + "1" * 300]
HOSTILE = LOOK_ALIKES + CODE + DUNDERS + KEYWORDS + SHADOWING + LONG

# A network using every kind of name at once: block, parameter, network and network parameter, labels of
# layers, of a sequence, of a shortcut and of a concat's branch; with the features whose helper code the
# backends write (open sizes and `same` padding, a fixed filter, padded pools, zero upsampling).
ROLES = {
    "label": "{n}", "shortcut": "{n}", "block": "{n}", "parameter": "{n}", "network": "{n}",
    "netparam": "{n}", "sequence": "{n}", "branch": "{n}", "comment": "{n}",
}  # fmt: skip
TEMPLATE = """\
# {comment}
block {block}({parameter}, stride = 1) {{
    residual {{
        {label}: conv({parameter}, 3, strides=stride, padding=same)
        relu()
        conv({parameter}, 3, padding=1)
    }} shortcut {shortcut} {{ conv({parameter}, 1, strides=stride) }}
    relu()
}}
network {network}({netparam} = 10) {{
    input(3, ?, ?)
    {label}: conv(8, 3, padding=same, weights=((0, -1, 0), (-1, 5, -1), (0, -1, 0)))
    {block}(8)
    {block}(16, stride=2)
    {sequence}: sequence {{ {label}: conv(8, 1); relu() }}
    concat {{
        {branch}: avgpool(3, strides=2, padding=same, count_include_pad=false)
        maxpool(3, strides=2, padding=same)
    }}
    upsample(2, mode=zeros)
    global_avgpool()
    flatten()
    dense({netparam})
}}
"""
HARMLESS = dict(
    block="blk",
    parameter="p",
    network="net",
    netparam="classes",
    label="lab",
    shortcut="down",
    sequence="seq",
    branch="pool",
    comment="c",
)


def program(**names) -> str:
    return TEMPLATE.format(**{**HARMLESS, **names})


def _offsets(text: str, needle: str) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(needle), text)]


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(s) + 1 for s in lines[: line - 1]) + column - 1


# Text that changes the syntax around it (a comment sign, a comma or `=` in a parameter list, a brace, a word
# of the language) makes the error show up where the syntax breaks, which may be past the name.
SYNTAX = set("#,=(){}:;") | {"repeat", "residual", "sequence", "concat", "shortcut", "import", "block", "network"}


def _changes_syntax(name: str) -> bool:
    return name in SYNTAX or any(c in SYNTAX or c.isspace() for c in name)


@pytest.mark.parametrize("role", list(ROLES))
def test_a_hostile_name_is_refused_where_it_stands_or_compiles(role, harmless):
    reference = harmless[0]
    outcomes, misplaced = Counter(), []
    for name in HOSTILE:
        source = program(**{role: name})
        try:
            net = cnndsl.loads(source, path="hostile.cnn")
        except cnndsl.CnnDslError as e:
            lines = source.split("\n")
            assert e.path == "hostile.cnn" and 1 <= e.line <= len(lines) and 1 <= e.column <= len(lines[e.line - 1]) + 1
            at = _offset(source, e.line, e.column)
            # on the name, or on the character right after it (where `a(b): conv()` stops being a label)
            on_name = any(start <= at <= start + len(name) for start in _offsets(source, name))
            if not _changes_syntax(name) and (not on_name or e.code not in ("E100", "E101", "E207", "E212")):
                misplaced.append(f"{name!r} as {role}: {e.format()}")
            outcomes["refused"] += 1
            continue
        outcomes["compiled"] += 1
        if role == "comment":  # a comment changes nothing
            assert [(n.name, n.op, n.shape) for n in net.nodes] == [(n.name, n.op, n.shape) for n in reference.nodes]
        else:
            assert _IDENT.fullmatch(name), name  # only a name the compiler's pattern admits gets through
    assert not misplaced, "\n".join(misplaced)
    if role == "comment":
        assert outcomes["refused"] == sum("\n" in n for n in HOSTILE)  # only a line break ends a comment
    else:
        assert outcomes["refused"] >= len(CODE + LOOK_ALIKES + DUNDERS + KEYWORDS)  # none of those is a name


_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
COMPILING = [n for n in SHADOWING + LONG if n not in (*keywords(), "concat", "identity", "stride", "training")]
# (the keywords are reserved; concat is a layer; `stride` is the block's other parameter)


@pytest.fixture(scope="module")
def harmless():
    """The template with harmless names: what every hostile variant must match in structure."""
    net = cnndsl.loads(program(), path="hostile.cnn")
    keys = set(torch_backend.to_torch(net).state_dict())
    keras_backend.to_keras(net)(np.zeros((1, 19, 23, 3), "float32"))  # TensorFlow's first-use set-up, unwatched
    return net, keys, dot_structure(diagram.render(net, detail="layers").pipe("svg"))


def _every_role(name: str) -> str:
    others = {"shortcut": name + "2", "sequence": name + "3", "branch": name + "4"}  # labels of one scope differ
    return program(**{role: others.get(role, name) for role in ROLES})


@pytest.mark.parametrize("name", COMPILING, ids=lambda n: n[:20])
def test_a_name_shadowing_what_the_code_uses_compiles_safely_everywhere(name, harmless, tmp_path):
    reference, keys, structure = harmless
    source = _every_role(name)  # the same name as block, parameter, network, labels: every collision at once
    net = cnndsl.loads(source, path="hostile.cnn")
    assert [n.op for n in net.nodes] == [n.op for n in reference.nodes]
    x = np.random.default_rng(0).standard_normal((2, 3, 19, 23)).astype("float32")  # odd sizes: `same` splits

    torch_source = torch_backend.emit(net)
    check_python(torch_source, "torch")
    with Watch() as w:
        model = torch_backend.to_torch(net).eval()
        with torch.no_grad():
            y = model(torch.from_numpy(x))
    w.assert_harmless(execs=1)
    assert tuple(y.shape) == (2, 10)
    renamed = {
        "lab": name,
        "down": name + "2",
        "seq": name + "3",
        "pool": name + "4",
    }  # state_dict keys keep the labels
    assert set(model.state_dict()) == {".".join(renamed.get(p, p) for p in key.split(".")) for key in keys}

    keras_source = keras_backend.emit(net)
    check_python(keras_source, "keras")
    with Watch() as w:
        k = keras_backend.to_keras(net)
        z = np.asarray(k(x.transpose(0, 2, 3, 1)))
    w.assert_harmless(execs=1)
    assert z.shape == (2, 10)

    model_proto = onnx_backend.to_onnx(net)
    onnx.checker.check_model(model_proto, full_check=True)
    ir_names = {n.name for n in net.nodes}
    assert {v.name for v in model_proto.graph.output} <= ir_names
    assert all(n.name in ir_names or n.name.split("/")[0] in ir_names for n in model_proto.graph.node)
    initializers = {i.name for i in model_proto.graph.initializer}  # the state_dict's keys, and helper constants
    assert {i for i in initializers if "/" not in i} == set(model.state_dict())
    assert all(i.split("/")[0] in ir_names for i in initializers if "/" in i)

    d = diagram.render(net, detail="layers")
    assert dot_structure(d.pipe("svg")) == structure  # the name is text on the drawing, never DOT syntax

    text = net.to_json()
    assert Network.from_json(text) == net


def test_training_is_no_label():
    # nn.Module keeps its train/eval flag as `training`: a child of that name breaks model.eval()
    source = program(label="training")
    with pytest.raises(cnndsl.CnnDslError) as error:
        cnndsl.loads(source, path="hostile.cnn")
    e = error.value
    assert (e.code, e.line, e.column) == ("E212", 12, 5) and "training" in e.message  # the first one expanded
    net = cnndsl.loads(program(block="training", parameter="training", network="training"))  # names, not labels
    assert net.name == "training"


# --- 1b. a doctored IR ----------------------------------------------------------------------------------------

SENTINEL = "/tmp/cnndsl-hostile-sentinel"
RUN = f"getattr(__import__('os'),'system')('touch {SENTINEL}')"
BAD_NAMES = [
    "a{" + RUN + "}", f'x"); {RUN}; ("', f"x\n{RUN}", f"x'''\n{RUN}\n'''", '"""', "__class__", "_x", "class", "x y",
    "а", "ｘ", "x\u2028y", "x\\", "", "1x", "x-y", "x;y",
]  # fmt: skip
BAD_PATHS = ["x.__class__", "x..y", "x.", ".x", "x. y", "0.__init__", "x.а", "x." + RUN]
BAD_EXPRESSIONS = [
    RUN, f"__import__('os').system('touch {SENTINEL}')", f"open('{SENTINEL}', 'w')", "(lambda: 0)()", "p.__class__",
    "[p for p in ()]", "'a' * 1000000000", "(0,) * 1000000000", "-" * 100_000 + "p", "p" + " + p" * 5000,
    "p if 1 else 2", "p ** 99999999", "p << 99999999", 'f"{p}"', "p\x00", "9" * 5000, "breakpoint()", "p; import os",
    "p\n" + RUN, "classes", "stride", "((" * 300 + "p" + "))" * 300, "1e999", "p / 0", "p // 0.0", "1" + "0" * 2000,
    "(" + "999999999999 * " * 500 + "p)", "globals()", "p.real", "x",
]  # fmt: skip
# Expressions are trees in IR JSON (cnndsl/expr.py): the texts above are refused as they are read; these trees
# pass pydantic's field types, and must then be refused (a name that is no identifier, nesting past the
# compiler's bound) or come out as the values they replace (an unknown parameter, a division by zero, a word).


def _nested(depth: int, inner: dict) -> dict:
    for _ in range(depth):
        inner = {"kind": "neg", "operand": inner}
    return inner


_P = {"kind": "param", "name": "p"}
BAD_EXPRESSION_TREES = {
    "call as a name": {"kind": "param", "name": f"__import__('os').system('touch {SENTINEL}')"},
    "attribute": {"kind": "param", "name": "p.__class__"},
    "network parameter": {"kind": "param", "name": "classes"},
    "other block's parameter": {"kind": "param", "name": "stride"},
    "generated name": {"kind": "param", "name": "x"},
    "power": {"kind": "binop", "op": "**", "left": _P, "right": {"kind": "const", "value": 99999999}},
    "shift": {"kind": "binop", "op": "<<", "left": _P, "right": {"kind": "const", "value": 99999999}},
    "division by zero": {"kind": "binop", "op": "/", "left": _P, "right": {"kind": "const", "value": 0}},
    "code as a word": {"kind": "const", "value": f"__import__('os').system('touch {SENTINEL}')"},
    "repeated word": {"kind": "binop", "op": "*", "left": {"kind": "const", "value": "a"}, "right": _P},
    "huge product": functools.reduce(
        lambda a, _: {"kind": "binop", "op": "*", "left": a, "right": {"kind": "const", "value": 999999999999}},
        range(90),
        _P,
    ),  # fmt: skip
    "deep": _nested(150, _P),
    "a list": {"kind": "tuple", "items": [_P, {"kind": "lambda"}]},
    "a float": {"kind": "const", "value": 1e308},
}
BAD_TEXT = [
    f"'''\n{RUN}\n'''", f'"""\n{RUN}\n"""', f'\\"""\n{RUN}\n#', "\\", "\\\\", "x\x00y", "\n", "\r", "\u2028", "{RUN}",
    "%s%n", "<b>&amp;</b>", '" ]; digraph x { a -> b }; "', "\\N\\G\\L", "\ud800", "é" * 1000,
]  # fmt: skip


def _doctor(data: dict, path: tuple, value) -> dict:
    """A copy of the IR's JSON with one value replaced; a path ending in ("key", old) renames a key."""
    data = json.loads(json.dumps(data))
    target = data
    for step in path[:-1]:
        target = target[step]
    last = path[-1]
    if isinstance(last, tuple):  # rename a key
        target[value] = target.pop(last[1])
    else:
        target[last] = value
    return data


def _doctored_cases(net: Network):
    d = json.loads(net.to_json())
    name_sites = [
        ("name",), ("scopes", 1, "block"), ("scopes", 1, "args", ("key", "p")), ("blocks", ("key", "blk")),
        ("blocks", "blk", ("key", "p")), ("args", ("key", "classes")), ("nodes", 2, "exprs", ("key", "filters")),
    ]  # fmt: skip
    for site in name_sites:
        for bad in BAD_NAMES:
            yield f"name {site} = {bad!r}", _doctor(d, site, bad)
    for site in [("nodes", 1, "name"), ("nodes", 2, "name"), ("scopes", 4, "name"), ("scopes", 3, "name")]:
        for bad in BAD_NAMES + BAD_PATHS:
            yield f"path {site} = {bad!r}", _doctor(d, site, bad)
    expression_sites = [
        ("nodes", 2, "exprs", "filters"), ("nodes", 7, "exprs", "strides"), ("nodes", 21, "exprs", "units"),
        ("scopes", 2, "exprs", "p"), ("blocks", "blk", "stride"),
    ]  # fmt: skip
    for site in expression_sites:
        for bad in BAD_EXPRESSIONS:
            yield f"expression {site} = {bad[:40]!r}", _doctor(d, site, bad)
        for label, tree in BAD_EXPRESSION_TREES.items():
            yield f"expression {site} = {label}", _doctor(d, site, tree)
    for site in [("source",), ("nodes", 2, "span", "path"), ("nodes", 7, "shape", 1), ("scopes", 1, "args", "p")]:
        for bad in BAD_TEXT:
            yield f"text {site} = {bad[:40]!r}", _doctor(d, site, bad)


def test_a_doctored_ir_is_refused_or_neutralised(harmless):
    reference = harmless[0]
    codes = {
        b: _without_strings(emit(reference))
        for b, emit in (("torch", torch_backend.emit), ("keras", keras_backend.emit))
    }
    x = np.zeros((1, 3, 19, 23), "float32")
    outcomes, seen = Counter(), set()
    if os.path.exists(SENTINEL):
        os.unlink(SENTINEL)
    for case, data in _doctored_cases(reference):
        try:
            _try_doctored(data, codes, x, outcomes, seen)
        except Exception as e:
            raise AssertionError(case) from e
        assert not os.path.exists(SENTINEL), case
    print(dict(outcomes))
    assert outcomes["refused when read"] >= 11 * len(BAD_NAMES) and outcomes["torch: same code"] > 0, outcomes
    assert outcomes["torch: other code"] > 0 and outcomes["keras: other code"] > 0, outcomes


def _try_doctored(data: dict, codes: dict, x, outcomes: Counter, seen: set) -> None:
    try:
        net = Network.from_json(json.dumps(data))
    except ValueError:  # pydantic's ValidationError
        outcomes["refused when read"] += 1
        return
    for backend, emit in (("torch", torch_backend.emit), ("keras", keras_backend.emit)):
        try:
            source = emit(net)
        except (ValueError, cnndsl.CnnDslError):  # the backend's own checks, or a located E500
            outcomes[f"refused by {backend}"] += 1
            continue
        if source in seen:  # checked already (a payload in a docstring, or replaced by its value)
            outcomes[f"{backend}: seen"] += 1
            continue
        seen.add(source)
        check_python(
            source, backend, hostile_text=[SENTINEL, "__import__", "system", "lambda", "breakpoint", "globals"]
        )
        code = _without_strings(source)
        if code == codes[backend]:  # the IR's text stayed in strings and comments
            outcomes[f"{backend}: same code"] += 1
            continue
        outcomes[f"{backend}: other code"] += 1
        if code in seen:  # (an expression replaced by its value gives the same code for every payload)
            continue
        seen.add(code)
        with Watch() as w:  # the model builds and runs, and does nothing else
            if backend == "torch":
                y = torch_backend.to_torch(net).eval()(torch.from_numpy(x))
            else:
                y = keras_backend.to_keras(net)(x.transpose(0, 2, 3, 1))
        w.assert_harmless(execs=1)
        assert tuple(y.shape) == (1, 10)
    try:
        model = onnx_backend.to_onnx(net)
        onnx.checker.check_model(model.SerializeToString(), full_check=True)
    except ValueError:
        outcomes["refused by onnx"] += 1
    dot = diagram.render(net)
    if dot.source not in seen:
        seen.add(dot.source)
        assert dot.pipe("svg").startswith(b"<?xml")


def test_keras_checks_the_names_of_an_ir_built_without_validation():
    # dataclasses.replace does not validate: the Keras backend checks every name before writing code
    net = cnndsl.loads("block b(c) { y: conv(c, 3); relu() }\nnetwork n { input(3, 8, 8); x: b(4); z: conv(2, 1) }")
    evil = "x.a{" + RUN + "}"
    for bad in (
        replace(net, nodes=(net.nodes[0], replace(net.nodes[1], name=evil), *net.nodes[2:])),
        replace(net, name="n(); " + RUN),
        replace(net, scopes=(net.scopes[0], replace(net.scopes[1], block="b():\n " + RUN))),
        replace(net, blocks={"b": {"c); " + RUN + "; (c": None}}),
    ):
        for emit in (keras_backend.emit, torch_backend.emit):
            with pytest.raises(ValueError):
                emit(bad)
    assert not os.path.exists(SENTINEL)


# --- 1c. hostile file names ------------------------------------------------------------------------------------

HOSTILE_FILE_NAMES = [
    'q"uote\'s', "new\nline", "tri\"\"\"ple", "back\\slash", "{a}", "%0A::error", "a,b:c", "é\u2028", "x'''y",
    "n\r", "$(touch x)", "<b>&amp;", b"\xff\xfe",
]  # fmt: skip


@pytest.mark.parametrize("stem", HOSTILE_FILE_NAMES, ids=range(len(HOSTILE_FILE_NAMES)))
def test_a_hostile_file_name_stays_text_in_every_output(stem, tmp_path, capsys):
    stem = os.fsdecode(stem) if isinstance(stem, bytes) else stem  # undecodable bytes: as sys.argv holds them
    path = tmp_path / f"{stem}.cnn"
    path.write_text(program())
    shown = str(path).encode("utf-8", "backslashreplace").decode()  # how messages and the IR show it
    outputs = {}
    for backend, suffix in (("torch", ".py"), ("keras", ".py"), ("onnx", ".onnx"), ("ir", ".json")):
        out = tmp_path / f"out_{backend}{suffix}"
        assert main(["compile", str(path), "-b", backend, "-o", str(out)]) == 0, capsys.readouterr().err
        outputs[backend] = out.read_bytes()
    for backend in ("torch", "keras"):
        code = outputs[backend].decode("utf-8")
        check_python(code, backend, hostile_text=[stem] if not _IDENT.fullmatch(stem) else [])
    model = onnx.load_from_string(outputs["onnx"])
    onnx.checker.check_model(model, full_check=True)
    assert model.doc_string.endswith(f"compiled by cnndsl from {shown}")
    assert Network.from_json(outputs["ir"]).source == shown
    assert main(["render", str(path), "-o", str(tmp_path / "out.svg")]) == 0
    assert main(["render", str(path), "-o", str(tmp_path / "out.dot")]) == 0
    # a broken file: the name reaches GitHub's workflow commands escaped, so it can start no other command
    path.write_text("network n {\n    input(3, 8, 8)\n    conv(4, 9)\n}\n")  # a 9x9 kernel on 8x8
    assert main(["check", "--format", "github", str(path)]) == 1
    out = capsys.readouterr().out
    assert "\r" not in out
    out = out.removesuffix("\n").split("\n")  # the runner's lines (U+2028 ends none)
    assert len(out) == 1 and out[0].startswith("::error file=") and out[0].count("::") == 2, out
    prop = out[0].split("::")[1].removeprefix("error ")
    assert len(prop.split(",")) == 4 and prop.split(",")[1:] == ["line=3", "col=13", "title=E301"], prop
    assert main(["check", "--format", "json", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["path"] == shown


# --- 2. the compiler evaluates no user text ----------------------------------------------------------------

# The only places cnndsl runs code: the generated module, in to_torch and to_keras, and util._init, which writes
# a frozen dataclass's __init__ from its field names (identifiers of cnndsl's own classes, never user text).
# (The backends' expressions go through cnndsl/backends/arith.py, which walks the tree.)
EXEC_SITES = {
    ("cnndsl/backends/torch.py", "to_torch", "exec"), ("cnndsl/backends/torch.py", "to_torch", "compile"),
    ("cnndsl/backends/keras.py", "to_keras", "exec"), ("cnndsl/backends/keras.py", "to_keras", "compile"),
    ("cnndsl/util.py", "_init", "exec"),
}  # fmt: skip
RISKY = {"eval", "exec", "compile", "__import__", "breakpoint", "execfile", "input"}
# Calls that run code or programs, or unpickle: each one in cnndsl must be on the list below.
RISKY_CALLS = re.compile(
    r"(os\.(system|popen|exec\w*|spawn\w*|posix_spawn\w*)|subprocess\.\w+|(c?pickle|marshal|shelve|dill|joblib|yaml)\.\w+"
    r"|runpy\.\w+|ctypes\.\w+|code\.interact|(importlib\.)?import_module|torch\.(load|jit\.load|export\.load)|np\.load"
    r"|numpy\.load)"
)
RISKY_CALL_SITES = {
    ("cnndsl/transfer.py", "read_state_dict", "torch.load"),  # weights_only=True: tensors, no pickled code
    ("cnndsl/diagram.py", "pipe", "subprocess.run"),  # ["dot", "-T" + format]: no shell, input on stdin
    ("cnndsl/__init__.py", "__getattr__", "import_module"),  # the lazy backends: a fixed table of modules
    # `cnndsl import package.module:callable` runs the model code the user names, as `python -c` would: the
    # import command only, never a file a .cnn names
    ("cnndsl/importers/__init__.py", "load_source", "importlib.import_module"),
    # `cnndsl import model.pt2`: weights_only=True to tell a state_dict from a pickled model, and on the sample
    # inputs before torch.export.load reads them; torch.export.load only on an archive checked to hold
    # nothing it would unpickle, eval or run (tests/test_import_exported.py)
    ("cnndsl/importers/torch_export.py", "_pickled", "torch.load"),
    ("cnndsl/importers/torch_export.py", "_unsafe", "torch.load"),
    ("cnndsl/importers/torch_export.py", "load", "torch.export.load"),
}


class _Calls(ast.NodeVisitor):
    """Every call of a module with the function it is in (the innermost)."""

    def __init__(self):
        self.where, self.calls = ["<module>"], []

    def visit_FunctionDef(self, node):
        self.where.append(node.name)
        self.generic_visit(node)
        self.where.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node):
        self.calls.append((self.where[-1], node))
        self.generic_visit(node)


def test_the_compiler_evaluates_no_user_text():
    sites, risky = set(), set()
    for path in sorted((ROOT / "cnndsl").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        calls = _Calls()
        calls.visit(ast.parse(path.read_text()))
        for where, node in calls.calls:
            if isinstance(node.func, ast.Name) and node.func.id in RISKY:
                sites.add((rel, where, node.func.id))
            name = _dotted(node.func)
            if name is not None and RISKY_CALLS.fullmatch(name):
                risky.add((rel, where, name))
    assert sites == EXEC_SITES, sites ^ EXEC_SITES
    assert risky == RISKY_CALL_SITES, risky ^ RISKY_CALL_SITES
    transfer = (ROOT / "cnndsl/transfer.py").read_text()
    assert transfer.count("torch.load(") == 1 and "weights_only=True" in transfer
    # nothing unpickles (transfer.py names pickle's error, and reads a bad checkpoint's opcodes with pickletools)
    sources = "".join(p.read_text() for p in (ROOT / "cnndsl").rglob("*.py"))
    assert not re.search(r"\bc?pickle\.(loads?|Unpickler)\b|\bUnpickler\(|find_class", sources)
    init = (ROOT / "cnndsl/__init__.py").read_text()
    assert "import_module(_LAZY[name])" in init  # a fixed table of backend modules, not a name from input


# --- 3. determinism -------------------------------------------------------------------------------------------

NET = """\
import "blocks/resnet.cnn"

network det(classes = 10) {
    input(3, ?, ?)
    blur: conv(3, 5, padding=same, groups=3, weights=gaussian, sigma=1.5)
    edges: conv(1, 3, padding=same, weights=sobel_x)
    conv(16, 3, padding=same)
    layer1: sequence { basic(16); basic(32, stride=2) }
    layer2: bottleneck(8, stride=2)
    branches: concat { a: conv(8, 1); b: maxpool(3, strides=1, padding=same) }
    global_avgpool()
    flatten()
    dropout(0.25)
    fc: dense(classes)
}
"""
DRIVER = """\
import sys
from cnndsl.cli import main
source, out = sys.argv[1], sys.argv[2]
for backend, suffix in (("torch", "py"), ("keras", "py"), ("onnx", "onnx"), ("ir", "json")):
    assert main(["compile", source, "-b", backend, "-o", f"{out}/{backend}.{suffix}"]) == 0
assert main(["render", source, "-o", f"{out}/diagram.dot"]) == 0
"""
OUTPUTS = ("torch.py", "keras.py", "onnx.onnx", "ir.json", "diagram.dot")


def _project(root: Path) -> Path:
    (root / "blocks").mkdir(parents=True)
    (root / "blocks" / "resnet.cnn").write_text((ARCH / "blocks" / "resnet.cnn").read_text())
    (root / "det.cnn").write_text(NET)
    return root


def _strip_prefix(outputs: dict[str, bytes], prefix: str) -> dict[str, object]:
    """The outputs with `prefix` taken off the paths they show; Python source as its code and its strings."""
    out: dict[str, object] = {}
    for name, data in outputs.items():
        if name.endswith(".onnx"):
            model = onnx.load_from_string(data)
            for proto in [
                model,
                model.graph,
                *model.graph.node,
                *model.graph.input,
                *model.graph.output,
                *model.graph.value_info,
            ]:
                proto.doc_string = proto.doc_string.replace(prefix, "")
            for prop in model.metadata_props:
                prop.value = prop.value.replace(prefix, "")
            out[name] = model.SerializeToString(deterministic=True)
        elif name.endswith(".py"):  # wrapped docstrings break at other places when the path is longer
            tree = ast.parse(data.decode())
            strings = [
                " ".join(n.value.replace(prefix, "").split())
                for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
            comments = [
                line.replace(prefix, "").removesuffix("  # noqa: E501")  # a long path: the line says it knows
                for line in data.decode().splitlines()
                if line.startswith("#")
            ]
            out[name] = (_without_strings(data.decode()), strings, comments)
        else:
            out[name] = data.decode().replace(prefix, "")
    return out


def test_every_backend_gives_the_same_bytes_whatever_the_hash_seed_and_directory(tmp_path):
    one = _project(tmp_path / "a" / "proj")
    two = _project(tmp_path / "b" / "deeper" / "checkout" / "proj")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    runs = {  # name: (working directory, the file as given, PYTHONHASHSEED)
        "here": (one, "det.cnn", "0"),
        "elsewhere": (two, "det.cnn", "4242"),
        "above": (tmp_path, "a/proj/det.cnn", "1"),
        "absolute": (two.parent, str(one / "det.cnn"), "random"),
        "dotted": (one / "blocks", "../det.cnn", "7"),
    }
    procs = {}
    for name, (cwd, source, seed) in runs.items():
        (tmp_path / name).mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        procs[name] = subprocess.Popen(
            [PY, str(driver), source, str(tmp_path / name)], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
        )
    for name, p in procs.items():
        assert p.wait(timeout=300) == 0, (name, p.stderr.read())
    outputs = {name: {o: (tmp_path / name / o).read_bytes() for o in OUTPUTS} for name in runs}
    # The same file given the same way: the same bytes, wherever the checkout lives and whatever the seed.
    assert outputs["here"] == outputs["elsewhere"]
    for name in ("here", "elsewhere", "above", "dotted"):  # no absolute path leaks (of the checkout, of imports)
        for o, data in outputs[name].items():
            assert str(tmp_path).encode() not in data, (name, o)
            assert b"det.cnn" in data or o == "diagram.dot", (name, o)
    # Given another way, the path shows as given (imports relative to it), and nothing else changes.
    shown = {"above": "a/proj/", "absolute": str(one) + "/", "dotted": "../"}
    for name, prefix in shown.items():
        for o in ("ir.json", "onnx.onnx"):
            assert (prefix + "det.cnn").encode() in outputs[name][o]
        assert (prefix + "blocks/resnet.cnn").encode() in outputs[name]["ir.json"]
        assert _strip_prefix(outputs[name], prefix) == _strip_prefix(outputs["here"], prefix), name
    assert outputs["here"]["diagram.dot"] == outputs["absolute"]["diagram.dot"]


# --- 4. no lost files ---------------------------------------------------------------------------------------

SMALL = "network small { input(1, 8, 8); conv(2, 3); relu(); flatten(); dense(3) }\n"
BROKEN = "network small { input(1, 8, 8); conv(2, 30); relu() }\n"  # a 30x30 kernel on 8x8


def _writers(tmp_path: Path) -> list[tuple[str, list[str]]]:
    """(output suffix, the command without `-o PATH`) for every command that writes a file."""
    checkpoint = tmp_path / "weights.pt"
    if not checkpoint.exists():
        torch.save(torch_backend.to_torch(cnndsl.loads(SMALL)).state_dict(), checkpoint)
    return [
        (".py", ["compile", "{cnn}", "-b", "torch"]), (".py", ["compile", "{cnn}", "-b", "keras"]),
        (".onnx", ["compile", "{cnn}", "-b", "onnx"]), (".json", ["compile", "{cnn}", "-b", "ir"]),
        (".dot", ["render", "{cnn}"]), (".svg", ["render", "{cnn}"]), (".png", ["render", "{cnn}"]),
        (".weights.h5", ["convert", "{cnn}", str(checkpoint)]),
    ]  # fmt: skip


def _listing(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir() if p.is_file()}


def _workspaces(tmp_path: Path):
    """For each writing command: a directory of its own holding SMALL as net.cnn, the output path, the argv."""
    for i, (suffix, command) in enumerate(_writers(tmp_path)):
        work = tmp_path / f"w{i}"
        work.mkdir()
        cnn = work / "net.cnn"
        cnn.write_text(SMALL)
        out = work / f"out{suffix}"
        yield work, cnn, out, [a.format(cnn=cnn) for a in command] + ["-o", str(out)]


def test_a_failed_command_leaves_the_existing_output_and_no_temporary_file(tmp_path, capsys):
    for work, cnn, out, argv in _workspaces(tmp_path):
        assert main(argv) == 0, (argv, capsys.readouterr().err)
        assert out.stat().st_size > 0
        cnn.write_text(BROKEN)
        before = _listing(work)
        assert main(argv) == 1, argv
        assert "error[E301]" in capsys.readouterr().err
        after = _listing(work)
        assert after == before, (argv, set(after) ^ set(before))  # the output as it was, nothing else added


def test_no_command_writes_over_its_input(tmp_path, capsys):
    for i, (suffix, command) in enumerate(_writers(tmp_path)):
        work = tmp_path / f"w{i}"
        work.mkdir()
        cnn = work / f"net{suffix}"  # the input named as an output of this command could be
        cnn.write_text(SMALL)
        (work / f"link{suffix}").symlink_to(cnn.name)
        for target in (cnn, work / "." / cnn.name, work / f"link{suffix}", Path(os.path.relpath(cnn))):
            before = _listing(work)
            argv = [a.format(cnn=cnn) for a in command] + ["-o", str(target)]
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert "refusing to overwrite the input" in err or "the output must be" in err, (argv, err)
            assert _listing(work) == before and cnn.read_text() == SMALL


def test_an_output_in_a_missing_directory_is_a_usage_error(tmp_path, capsys):
    cnn = tmp_path / "net.cnn"
    cnn.write_text(SMALL)
    for suffix, command in _writers(tmp_path):
        missing = tmp_path / "no" / "such" / "dir"
        argv = [a.format(cnn=cnn) for a in command] + ["-o", str(missing / f"out{suffix}")]
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"directory {missing} does not exist" in err and "Traceback" not in err, (argv, err)
        assert not (tmp_path / "no").exists()


def test_a_write_that_fails_midway_leaves_the_old_output_and_no_temporary_file(tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    for work, _, out, argv in _workspaces(tmp_path):
        out.write_bytes(b"the previous output")
        before = _listing(work)
        with monkeypatch.context() as m:
            m.setattr(os, "replace", full_disk)  # the last step of every atomic write
            assert main(argv) == 2, argv
        assert "No space left on device" in capsys.readouterr().err
        assert _listing(work) == before, argv


# --- 5. bounded work ------------------------------------------------------------------------------------------

SPECIAL = """\
import os, sys, time
from cnndsl.cli import main
start = time.monotonic()
codes = [main(["check", path]) for path in sys.argv[1:]]
print(codes, round(time.monotonic() - start, 2))
"""


def test_fifos_and_devices_are_refused_without_being_read(tmp_path):
    fifo = tmp_path / "fifo.cnn"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    importer = tmp_path / "importer.cnn"
    importer.write_text('import "fifo.cnn"\nnetwork n { input(3, 8, 8) }\n')
    script = tmp_path / "special.py"
    script.write_text(SPECIAL)
    paths = [str(fifo), "/dev/zero", "/dev/urandom", "/dev/stdin", str(importer), str(tmp_path)]
    result = subprocess.run(
        [PY, str(script), *paths], cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.PIPE
    )
    codes, seconds = result.stdout.rsplit("]", 1)
    assert codes == "[1, 1, 1, 1, 1, 1", result.stdout + result.stderr
    assert float(seconds) < 5
    err = result.stderr
    assert f"{fifo}: error[E400]: cannot read '{fifo}': not a regular file" in err
    assert "/dev/zero: error[E400]: cannot read '/dev/zero': not a regular file" in err
    assert f"{importer}:1:8: error[E400]: cannot import 'fifo.cnn': is not a regular file" in err
    # a directory is searched for .cnn files, and the FIFO found there is refused as well, unread
    assert err.count(f"{fifo}: error[E400]: cannot read '{fifo}': not a regular file") == 2


@pytest.mark.parametrize(
    "junk",
    [
        pytest.param(lambda n: os.urandom(n), id="random-bytes"),
        pytest.param(lambda n: b"a" * n, id="one-identifier"),
        pytest.param(lambda n: b"network n { input(3, 8, 8)\n" + b"relu()\n" * (n // 7) + b"}\n", id="statements"),
        pytest.param(lambda n: b"network n { input(3, 8, 8); " + b"sequence { " * (n // 11), id="nesting"),
        pytest.param(lambda n: b"network n { conv(" + b"9" * n + b") }", id="a-number"),
        pytest.param(lambda n: b"\x00" * n, id="nul"),
    ],
)
def test_ten_megabytes_of_junk_end_in_a_clear_error_within_seconds(junk, tmp_path):
    path = tmp_path / "junk.cnn"
    path.write_bytes(junk(10 << 20))
    script = tmp_path / "special.py"
    script.write_text(SPECIAL)
    result = subprocess.run([PY, str(script), str(path)], capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("[1]"), result.stdout + result.stderr
    assert float(result.stdout.split()[-1]) < 3
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:1:") and "error[E" in first and len(first) < 400, first


def test_the_largest_file_allowed_is_checked_within_seconds(tmp_path):
    # Just under the limit, the slowest kind of input: a statement a line, each a node.
    from cnndsl.compiler import MAX_BYTES

    body = "".join(f"l{i}: relu()\n" for i in range(MAX_BYTES // 16))
    path = tmp_path / "big.cnn"
    path.write_text(f"network n {{ input(3, 8, 8)\n{body}}}\n")
    assert MAX_BYTES - 100_000 < path.stat().st_size <= MAX_BYTES
    script = tmp_path / "special.py"
    script.write_text(SPECIAL)
    result = subprocess.run([PY, str(script), str(path)], capture_output=True, text=True, timeout=120)
    codes, seconds = result.stdout.splitlines()[-1].split()
    assert codes == "[0]", result.stdout + result.stderr
    assert float(seconds) < 15  # (about 5 s on one core)


def test_imports_stay_in_the_tree_unless_an_import_path_allows(tmp_path, capsys):
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "blocks.cnn").write_text("block b(c) { conv(c, 3) }\n")
    (tree / "sub" / "escape").symlink_to(outside / "blocks.cnn")
    (tree / "sub" / "loop").symlink_to("loop")
    cases = {
        '"../outside/blocks.cnn"': "leaves the directory",
        f'"{outside / "blocks.cnn"}"': "leaves the directory",
        '"sub/escape"': "leaves the directory",  # a link inside the tree to a file outside it
        '"sub/../../outside/blocks.cnn"': "leaves the directory",
        '"sub/loop"': "a loop of symbolic links",
        '"' + "x" * 5000 + '"': "File name too long",
        '"/etc/hostname"': "leaves the directory",
    }
    for target, message in cases.items():
        net = tree / "net.cnn"
        net.write_text(f"import {target}\nnetwork n {{ input(3, 8, 8); b(4) }}\n")
        assert main(["check", str(net)]) == 1, target
        err = capsys.readouterr().err
        assert f"{net}:1:8: error[E400]:" in err and message in err, (target, err)
        assert len(err.splitlines()[0]) < 400
    net.write_text('import "../outside/blocks.cnn"\nnetwork n { input(3, 8, 8); b(4) }\n')
    assert main(["check", str(net), "--import-path", str(outside)]) == 0
    net.write_text('import "sub/escape"\nnetwork n { input(3, 8, 8); b(4) }\n')
    assert main(["check", str(net), "--import-path", str(outside)]) == 0
    capsys.readouterr()


MEMORY = """\
import resource, sys, time
import cnndsl
n = int(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
net = cnndsl.loads(f"network n {{ input(3, 8, 8); repeat {n - 1} {{ relu() }} }}", max_nodes=n)
seconds = time.monotonic() - start
assert len(net.nodes) == n
try:
    cnndsl.loads(f"network n {{ input(3, 8, 8); repeat {n} {{ relu() }} }}", max_nodes=n)
except cnndsl.CnnDslError as e:
    assert e.code == "E403"
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, seconds)
"""


def test_memory_stays_bounded_just_under_the_node_budget(tmp_path):
    script = tmp_path / "memory.py"
    script.write_text(MEMORY)
    n = 100_000
    result = subprocess.run([PY, str(script), str(n)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    grown, seconds = map(float, result.stdout.split())
    # About 1.3 kB a node (a node, its op; a repeat's nodes share their span): 1.3 GB at the default budget.
    assert grown / n < 2_000, grown / n
    assert seconds < 10


# --- the generators on inputs shaped to be slow or to confuse them --------------------------------------------


def test_a_label_named_input_gives_a_working_keras_model():
    net = cnndsl.loads("network n { input(3, 9, 9); input: relu() }")
    model = keras_backend.to_keras(net)
    assert [layer.name for layer in model.layers] == ["input_2", "input"]  # the label keeps its name
    x = np.random.default_rng(0).standard_normal((1, 9, 9, 3)).astype("float32")
    assert np.allclose(keras.ops.convert_to_numpy(model(x)), np.maximum(x, 0))


def _emit_seconds(emit, net) -> float:
    import time

    start = time.perf_counter()
    ast.parse(emit(net))
    return time.perf_counter() - start


def _concat(n: int) -> cnndsl.Network:
    return cnndsl.loads("network n { input(3, 8, 8); concat {\n" + "relu()\n" * n + "} }")


def _block(n: int) -> cnndsl.Network:
    params = ", ".join(f"p{i}" for i in range(n))
    args = ", ".join(["4"] * n)
    return cnndsl.loads(f"block b({params}) {{ conv(p0, 3, padding=1) }}\nnetwork n {{ input(3, 8, 8); b({args}) }}")


# Eight times the size must take about eight times as long (a quadratic pass takes 64 times): the ratio holds
# on a busy machine, where a bound in seconds would not. The full sizes took minutes each when every branch's
# variable (keras) or parameter's Python name (torch) was checked against a copy or a list of the names before
# it; they take 1-2 s now.
@pytest.mark.parametrize(
    ("make", "emit", "n"), [(_concat, keras_backend.emit, 32_000), (_block, torch_backend.emit, 60_000)],
    ids=["keras concat of 32000 branches", "torch block of 60000 parameters"],
)  # fmt: skip
def test_the_generators_take_linear_time(make, emit, n):
    small, large = make(n // 8), make(n)
    assert _emit_seconds(emit, large) < 24 * _emit_seconds(emit, small) + 1
