"""Fuzzing: any bytes given to cnndsl end in a result or a located error, never in a traceback.

Inputs are the real files of architectures/ mutated (tokens deleted, duplicated, swapped; files spliced;
random bytes, invalid UTF-8, a BOM, CRLF line ends, tabs, huge numbers, the empty file) and randomly
generated well-formed programs. The quick profile runs in `make test`; `make fuzz` (CNNDSL_FUZZ=long)
runs at least 100,000 inputs.
"""

from __future__ import annotations

import os
import re

from conftest import ARCH
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.cli import main
from cnndsl.compiler import Compiler
from cnndsl.summary import table, to_dict

LONG = os.environ.get("CNNDSL_FUZZ") == "long"
PROFILE = settings(
    max_examples=50_000 if LONG else 150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not LONG,  # the quick profile is the same every run; the long one explores
    database=None,
)

SOURCES = [p.read_text() for p in sorted(ARCH.glob("*.cnn"))] + [(ARCH / "blocks" / "resnet.cnn").read_text()]
TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_]*|[0-9]+x[0-9]+|[0-9.eE+-]+|\"[^\"\n]*\"|#[^\n]*|.", re.S)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


@st.composite
def mutated(draw) -> bytes:
    text = draw(st.sampled_from(SOURCES))
    toks = tokens(text)
    for _ in range(draw(st.integers(1, 4))):
        if not toks:
            break
        i = draw(st.integers(0, len(toks) - 1))
        j = draw(st.integers(i, min(len(toks), i + 8)))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "splice", "number", "junk", "replace"]))
        if kind == "delete":
            del toks[i:j]
        elif kind == "duplicate":
            toks[i:i] = toks[i:j]
        elif kind == "swap":
            k = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[k] = toks[k], toks[i]
        elif kind == "splice":
            other = tokens(draw(st.sampled_from(SOURCES)))
            a = draw(st.integers(0, len(other)))
            toks[i:j] = other[a : a + draw(st.integers(0, 40))]
        elif kind == "number":
            toks[i] = draw(st.sampled_from(["0", "-1", "10" * 60, "99999999999999999999", "1e400", "0.0", "3x0", "?"]))
        elif kind == "junk":
            toks.insert(i, draw(st.text(max_size=6)))
        else:
            toks[i] = draw(st.sampled_from(toks))
    out = "".join(toks)
    style = draw(st.sampled_from(["plain", "crlf", "tabs", "bom"]))
    if style == "crlf":
        out = out.replace("\n", "\r\n")
    elif style == "tabs":
        out = out.replace("    ", "\t")
    data = out.encode("utf-8")
    if style == "bom":
        data = b"\xef\xbb\xbf" + data
    if draw(st.booleans()) and draw(st.booleans()):  # sometimes, raw bytes at a random place
        k = draw(st.integers(0, len(data)))
        data = data[:k] + draw(st.binary(min_size=1, max_size=4)) + data[k:]
    return data


NAMES = st.sampled_from(["a", "b", "x1", "enc", "layer1", "conv", "relu", "basic", "n"])
NUMBERS = st.one_of(st.integers(-3, 300).map(str), st.sampled_from(["0.5", "1e-3", "3x3", "(1, 2)", "?"]))
WORDS = st.sampled_from(["same", "valid", "relu", "true", "false", "nearest", "bilinear", "zeros", "c", "c * 2"])
LAYERS = st.sampled_from([
    "conv", "conv_transpose", "maxpool", "avgpool", "global_avgpool", "adaptive_avgpool", "upsample", "batchnorm",
    "lrn", "dropout", "flatten", "dense", "relu", "leaky_relu", "softmax", "concat", "add", "b",
])  # fmt: skip
KEYS = st.sampled_from(["strides", "padding", "activation", "groups", "dilation", "mode", "ceil_mode", "use_bias"])


@st.composite
def statement(draw, depth=0) -> str:
    label = draw(st.one_of(st.just(""), NAMES.map(lambda n: n + ": ")))
    kind = draw(st.integers(0, 9 if depth < 3 else 5))
    if kind <= 5:
        args = draw(st.lists(st.one_of(NUMBERS, WORDS), max_size=3))
        args += [f"{k}={v}" for k, v in draw(st.lists(st.tuples(KEYS, st.one_of(NUMBERS, WORDS)), max_size=2))]
        return f"{label}{draw(LAYERS)}({', '.join(args)})"
    body = "; ".join(draw(st.lists(statement(depth + 1), min_size=0, max_size=4)))
    if kind == 6:
        return f"{label}repeat {draw(NUMBERS)} {{ {body} }}"
    if kind == 7:
        return f"{label}residual {{ {body} }} shortcut {{ conv(c, 1) }}"
    if kind == 8:
        return f"{label}concat {{ {body} }}"
    return f"{label}sequence {{ {body} }}"


@st.composite
def generated(draw) -> bytes:
    block = "; ".join(draw(st.lists(statement(), max_size=4)))
    body = "; ".join(draw(st.lists(statement(), min_size=1, max_size=8)))
    shape = draw(st.sampled_from(["3, 32, 32", "1, 28, 28", "3, ?, ?", "16", "8, 7, 9"]))
    return f"block b(c = 8) {{ {block} }}\nnetwork n {{ input({shape}); {body} }}\n".encode()


def compile_everything(data: bytes, tmp_path) -> None:
    """What `cnndsl check`, `summary` and `compile --backend ir` do: must return or raise CnnDslError."""
    path = tmp_path / "fuzz.cnn"
    path.write_bytes(data)
    assert main(["check", str(path), "--max-nodes", "20000"]) in (0, 1)
    c = Compiler(max_nodes=20_000)
    try:
        c.add_file(path)
        for name in c.network_names():
            net = c.compile(name)
            table(net, receptive_field=True)
            to_dict(net)
            assert type(net).from_json(net.to_json()) == net
    except cnndsl.CnnDslError as e:
        assert e.line >= 1 and e.column >= 1 and e.code and e.message
        assert e.format().startswith(f"{path}:{e.line}:{e.column}: error[{e.code}]: ")


@PROFILE
@given(data=mutated())
def test_mutated_architectures(data, tmp_path_factory, capsys):
    compile_everything(data, tmp_path_factory.mktemp("m"))
    assert "Traceback" not in capsys.readouterr().err  # (main() returning 3 would already have failed)


@PROFILE
@given(data=generated())
def test_generated_programs(data, tmp_path_factory, capsys):
    compile_everything(data, tmp_path_factory.mktemp("g"))
    assert "Traceback" not in capsys.readouterr().err  # (main() returning 3 would already have failed)


@PROFILE
@given(data=st.binary(max_size=200))
def test_random_bytes(data, tmp_path_factory, capsys):
    compile_everything(data, tmp_path_factory.mktemp("b"))
    assert "internal error" not in capsys.readouterr().err


def test_special_files(tmp_path, capsys):
    for data in (b"", b"\xef\xbb\xbf", b"\xff\xfe", b"network", b"\x00" * 10, "network é {}".encode()):
        compile_everything(data, tmp_path)
    assert "internal error" not in capsys.readouterr().err
