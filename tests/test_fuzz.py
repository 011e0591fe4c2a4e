"""Fuzzing: any bytes given to cnndsl end in a result or a located error, never in a traceback.

Inputs are the real files of architectures/ mutated (tokens deleted, duplicated, swapped; files spliced;
random bytes, invalid UTF-8, a BOM, CRLF line ends, tabs, huge numbers, the empty file) and randomly
generated well-formed programs. The other inputs a command reads are fuzzed the same way (issue 14): IR JSON
(real IRs with values replaced, keys dropped or added, text cut), checkpoints for `convert` (a real state_dict
with bytes changed or cut, random bytes, pickles of random data) and pictures for `apply` (PNGs with bytes
changed, headers claiming any size, random bytes; any --width, any output suffix). The quick profile runs in
`make test`; `make fuzz` (CNNDSL_FUZZ=long) runs at least 100,000 inputs.
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
# The examples of a test share its tmp_path (hence no function_scoped_fixture health check): pytest's
# tmp_path_factory.mktemp lists every directory it made before making the next, quadratic over 50,000 examples.
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
# Strategies are built once, here: Hypothesis validates each new one, which cost more than the compilation of
# the program drawn with it.
LABELS = st.one_of(st.just(""), NAMES.map(lambda n: n + ": "))
ARGS = st.lists(st.one_of(NUMBERS, WORDS), max_size=3)
KWARGS = st.lists(st.tuples(KEYS, st.one_of(NUMBERS, WORDS)), max_size=2)


@st.composite
def statement(draw, depth=0) -> str:
    label = draw(LABELS)
    kind = draw(st.integers(0, 9 if depth < 3 else 5))
    if kind <= 5:
        args = draw(ARGS)
        args += [f"{k}={v}" for k, v in draw(KWARGS)]
        return f"{label}{draw(LAYERS)}({', '.join(args)})"
    body = "; ".join(draw(st.lists(STATEMENTS[depth + 1], min_size=0, max_size=4)))
    if kind == 6:
        return f"{label}repeat {draw(NUMBERS)} {{ {body} }}"
    if kind == 7:
        return f"{label}residual {{ {body} }} shortcut {{ conv(c, 1) }}"
    if kind == 8:
        return f"{label}concat {{ {body} }}"
    return f"{label}sequence {{ {body} }}"


STATEMENTS = [statement(depth) for depth in range(4)]


@st.composite
def generated(draw) -> bytes:
    block = "; ".join(draw(st.lists(STATEMENTS[0], max_size=4)))
    body = "; ".join(draw(st.lists(STATEMENTS[0], min_size=1, max_size=8)))
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
def test_mutated_architectures(data, tmp_path, capsys):
    compile_everything(data, tmp_path)
    assert "Traceback" not in capsys.readouterr().err  # (main() returning 3 would already have failed)


@PROFILE
@given(data=generated())
def test_generated_programs(data, tmp_path, capsys):
    compile_everything(data, tmp_path)
    assert "Traceback" not in capsys.readouterr().err  # (main() returning 3 would already have failed)


@PROFILE
@given(data=st.binary(max_size=200))
def test_random_bytes(data, tmp_path, capsys):
    compile_everything(data, tmp_path)
    assert "internal error" not in capsys.readouterr().err


def test_special_files(tmp_path, capsys):
    for data in (b"", b"\xef\xbb\xbf", b"\xff\xfe", b"network", b"\x00" * 10, "network é {}".encode()):
        compile_everything(data, tmp_path)
    assert "internal error" not in capsys.readouterr().err


# --- the other inputs: IR JSON, checkpoints (convert), pictures (apply) ---------------------------------------

# Each example of these runs a command end to end (apply runs a PyTorch model), so fewer of them.
COMMANDS = settings(PROFILE, max_examples=5_000 if LONG else 25)
SMALL = "network small { input(3, 8, 8); conv(4, 3, padding=1); batchnorm(); relu(); flatten(); dense(2) }\n"
JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 3, 2**53, 10**30]),
    st.floats(allow_nan=False), st.text(max_size=8), st.sampled_from(["conv", "relu", "input", "?", "H", ""]),
    st.lists(st.integers(-2, 100_000), max_size=4),
)  # fmt: skip


def _ir_sources() -> list[dict]:
    import json

    nets = [cnndsl.loads(SMALL), cnndsl.load(ARCH / "lenet5.cnn"), cnndsl.load(ARCH / "filters.cnn")]
    return [json.loads(net.to_json()) for net in nets]


IRS = _ir_sources()


@st.composite
def mutated_ir(draw) -> bytes:
    """A real IR with values replaced, keys deleted or added, list items dropped or duplicated; sometimes
    its text cut or a byte changed."""
    import copy
    import json

    data = copy.deepcopy(draw(st.sampled_from(IRS)))
    for _ in range(draw(st.integers(1, 3))):
        parent, key = None, None
        value = data
        while isinstance(value, (dict, list)) and value and draw(st.integers(0, 4)):  # walk down a random path
            keys = list(value) if isinstance(value, dict) else list(range(len(value)))
            parent, key = value, draw(st.sampled_from(keys))
            value = value[key]
        if parent is None:
            continue
        kind = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if kind == "replace":
            parent[key] = draw(JSON_VALUES)
        elif kind == "delete":
            del parent[key]
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "shape", "op", "kind", "params"]))] = draw(JSON_VALUES)
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    text = json.dumps(data).encode()
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    elif draw(st.integers(0, 9)) == 0:
        i = draw(st.integers(0, max(0, len(text) - 1)))
        text = text[:i] + draw(st.binary(min_size=1, max_size=2)) + text[i + 1 :]
    return text


@PROFILE
@given(data=mutated_ir())
def test_mutated_ir_json(data, tmp_path, capsys):
    """IR JSON is refused with a ValueError, or accepted only when every node is what its op gives."""
    from cnndsl.ir import Network

    path = tmp_path / "net.json"
    path.write_bytes(data)
    try:
        net = Network.from_json(data)
    except ValueError:
        net = None
    code = main(["summary", str(path), "--format", "json"])
    assert code == (1 if net is None else 0)
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    if net is not None:  # what was accepted compiles to every text backend
        from cnndsl.backends import torch as torch_backend

        torch_backend.emit(net)
        assert Network.from_json(net.to_json()) == net


def _state_dict_bytes() -> bytes:
    import io

    import torch

    from cnndsl.backends.torch import to_torch

    buffer = io.BytesIO()
    torch.save(to_torch(cnndsl.loads(SMALL)).state_dict(), buffer)
    return buffer.getvalue()


@st.composite
def checkpoint(draw) -> bytes:
    """A real state_dict file with bytes changed, cut or inserted; random bytes; a pickle of random data."""
    import pickle

    # A valid one is converted, which builds both models (TensorFlow's import alone takes ~10 s): long profile only.
    kind = draw(st.sampled_from(["mutated", "cut", "random", "pickle", *(["valid"] if LONG else [])]))
    if kind == "valid":
        return STATE_DICT
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "pickle":
        leaves = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(allow_nan=False))
        value = draw(
            st.recursive(
                leaves,
                lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                max_leaves=8,
            )
        )
        return pickle.dumps(value, protocol=draw(st.integers(0, 5)))
    data = bytearray(STATE_DICT)
    if kind == "cut":
        return bytes(data[: draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    return bytes(data)


STATE_DICT = _state_dict_bytes()


@COMMANDS
@given(data=checkpoint())
def test_convert_any_checkpoint(data, tmp_path, capsys):
    """`cnndsl convert` of any .pt file converts it or says what is wrong with it (exit 1), and leaves no
    temporary file behind."""
    work, out = tmp_path, tmp_path / "out.weights.h5"
    out.unlink(missing_ok=True)  # the previous example's
    (work / "small.cnn").write_text(SMALL)
    (work / "in.pt").write_bytes(data)
    code = main(["convert", str(work / "small.cnn"), str(work / "in.pt"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    assert "internal error" not in err and "weights_only" not in err
    assert sorted(p.name for p in work.iterdir()) == ["in.pt", *(["out.weights.h5"] if code == 0 else []), "small.cnn"]


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@st.composite
def picture(draw) -> bytes:
    """A small PNG with bytes changed, a PNG header claiming any size, random bytes."""
    import struct
    import zlib

    kind = draw(st.sampled_from(["png", "png", "png", "mutated", "header", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "header":
        w, h = draw(st.integers(0, 2**31)), draw(st.integers(0, 2**31))
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc
    data = bytearray(_png(draw(st.integers(1, 24)), draw(st.integers(1, 24))))
    if kind == "mutated":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(8, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@COMMANDS
@given(
    image=picture(),
    width=st.sampled_from([None, None, None, None, -5, 0, 1, 3, 40, 20_000, 10**6, 10**20]),
    suffix=st.sampled_from([".png", ".png", ".jpg", ".xpm", ".gif", ".bmp", ".webp", ".txt", ""]),
    network=st.sampled_from(
        ["input(3, ?, ?); conv(3, 3, groups=3, weights=box)", "input(1, 7, 9); conv(1, 2, weights=box)"]
    ),
)
def test_apply_any_picture(image, width, suffix, network, tmp_path, capsys):
    """`cnndsl apply` of any picture, width and output format writes a picture or refuses (exit 1 or 2), and
    leaves no temporary file behind."""
    work, out = tmp_path, tmp_path / f"out{suffix}"
    for old in work.glob("out*"):  # the previous example's
        old.unlink()
    (work / "f.cnn").write_text(f"network f {{ {network} }}")
    (work / "in.png").write_bytes(image)
    argv = ["apply", str(work / "f.cnn"), "--image", str(work / "in.png"), "-o", str(out)]
    code = main(argv + ([] if width is None else ["--width", str(width)]))
    err = capsys.readouterr().err
    assert code in (0, 1, 2), err
    assert "internal error" not in err and "Traceback" not in err
    assert sorted(p.name for p in work.iterdir()) == sorted(["f.cnn", "in.png", *([out.name] if code == 0 else [])])
