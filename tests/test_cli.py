"""The command line: check, summary, compile --backend ir, schema; exit codes and output formats."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ARCH, ROOT

import cnndsl
from cnndsl import ops
from cnndsl.cli import main
from cnndsl.compiler import Compiler
from cnndsl.ir import Network

BAD = "network n {\n    input(3, 32, 32)\n    conv(8, 3, strids=2)\n}\n"


def run(*args, cwd=ROOT, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_check_all_architectures(capsys):
    files = sorted(str(p) for p in ARCH.glob("*.cnn"))
    assert main(["check", *files]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "resnet34: 3×224×224 → 1000, 21,797,672 params" in out
    assert "vgg16: 3×224×224 → 1000, 138,357,544 params" in out
    networks = 0  # a line per network: a family file holds several
    for f in files:
        c = Compiler()
        c.add_file(f)
        networks += len(c.network_names())
    assert len(out) == networks


def test_check_reports_every_error_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.cnn"
    bad.write_text(BAD)
    worse = tmp_path / "worse.cnn"
    worse.write_text("network m { input(3, 8, 8); conv2(8, 3) }")
    assert main(["check", str(bad), str(worse), str(ARCH / "lenet5.cnn")]) == 1
    captured = capsys.readouterr()
    assert "lenet5: 1×32×32 → 10, 61,706 params" in captured.out
    err = captured.err
    assert f"{bad}:3:16: error[E201]: conv has no argument 'strids'" in err
    assert "    conv(8, 3, strids=2)\n" + " " * 19 + "^" in err  # the caret under column 16
    assert "hint: did you mean 'strides'?" in err
    assert f"{worse}:1:29: error[E200]: unknown layer or block 'conv2' — did you mean 'conv'?" in err


def test_check_github_and_json_formats(tmp_path, capsys):
    bad = tmp_path / "bad.cnn"
    bad.write_text(BAD)
    assert main(["check", "--format", "github", str(bad)]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"::error file={bad},line=3,col=16,title=E201::conv has no argument 'strids'")
    assert main(["check", "--format", "json", str(bad), str(ARCH / "lenet5.cnn")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["errors"] == [
        {"path": str(bad), "line": 3, "column": 16, "code": "E201", "message": "conv has no argument 'strids'",
         "hint": "did you mean 'strides'?", "networks": [f"{bad}:n"]}
    ]  # fmt: skip
    assert data["networks"][0]["params"] == 61706


def test_summary_table(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # the table fits what the terminal has: under xdist, 80 columns
    assert main(["summary", str(ARCH / "resnet34.cnn")]) == 0
    out = capsys.readouterr().out
    assert "layer2.0.downsample.0" in out and "basic(128, stride=2)" in out
    assert "Trainable params: 21,797,672" in out
    assert "Buffers: 17,024" in out
    assert "Multiply-adds (MACs): 3,663,761,408" in out
    assert "FLOPs: 7,327,522,816" in out
    assert "Activation memory:" in out


def test_summary_json(capsys):
    assert main(["summary", str(ARCH / "googlenet.cnn"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"network", "input", "output", "params", "buffers", "macs", "layers"} <= data.keys()
    assert data["params"] == 6_624_904 and data["macs"] == 1_498_376_192 and data["output"] == [1000]
    layer = next(x for x in data["layers"] if x["name"] == "inception3a.branch2.1.conv")
    assert (
        layer["output"] == [128, 28, 28]
        and layer["params"] == 96 * 128 * 9
        and layer["block"] == ("inception3a.branch2.1")
    )
    assert sum(x["params"] for x in data["layers"]) == data["params"]


def test_compile_ir_round_trips(tmp_path):
    out = tmp_path / "resnet18.json"
    assert main(["compile", str(ARCH / "resnet18.cnn"), "--backend", "ir", "-o", str(out)]) == 0
    net = Network.from_json(out.read_text())
    assert net.params == 11_689_512
    from cnndsl import load

    assert net == load(ARCH / "resnet18.cnn")


def test_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Network" and "nodes" in schema["properties"]
    assert "Conv" in schema["$defs"] and "BatchNorm" in schema["$defs"]
    # the bounds the front end checks are the schema's
    assert schema["$defs"]["Conv"]["properties"]["filters"]["minimum"] == 1
    assert schema["$defs"]["Dropout"]["properties"]["rate"]["exclusiveMaximum"] == 1


def _edited_ir(edit) -> str:
    data = json.loads(cnndsl.loads(SMALL).to_json())
    edit(data)
    return json.dumps(data)


SMALL = "network n { input(3, 8, 8); conv(4, 3, padding=1); maxpool(2); flatten(); dense(10) }"


# Values for every kind of argument: in range, out of range, of another type, of the wrong shape.
PROBES = [
    0, 1, 3, -1, 2**53, 0.0, 0.5, 1.0, 1.5, -0.1, True, False, None, "same", "relu", "swish", "valid", "nearest",
    "box", "sobel_x", "?", "", [1, 2], [3, 3], [0, 0], [1, -1], [1, 2, 3], [1.5, 2], [[1.0, 2.0], [3.0, 4.0]],
    [[0.0] * 3] * 3, [True, 1], ["?", 4, 4], [3, "?", "?"],
]  # fmt: skip


def _required(cls) -> dict:
    """Valid values for the fields an op cannot do without."""
    return {"filters": 4, "kernel_size": (3, 3), "pool_size": (2, 2), "output_size": (1, 1), "units": 5,
            "function": "relu", "shape": (3, 8, 8)}  # fmt: skip


@pytest.mark.parametrize("cls", ops.OPS, ids=lambda c: c.__name__)
def test_the_front_end_and_pydantic_admit_the_same_values(cls):
    """Both read the same declarations (ops.make for .cnn calls, pydantic for IR JSON): on values already in
    the IR's form (no shorthand), they must accept and refuse alike, every field and every probe."""
    from pydantic import TypeAdapter

    adapter = TypeAdapter(ops.Op)
    fields = [f.name for f in dataclasses.fields(cls) if f.name != "kind"]
    base = {k: v for k, v in _required(cls).items() if k in fields}
    for name in fields:
        for probe in PROBES:
            values = {**base, name: probe}
            as_python = {k: _tuples(v) for k, v in values.items()}
            try:
                front = ops.make(cls, as_python)
            except ops.ArgumentError:
                front = None
            kind = cls.__dataclass_fields__["kind"].default
            try:
                back = adapter.validate_json(json.dumps({"kind": kind, **values}))
            except ValueError:
                back = None
            if front is not None and back is None:
                # a shorthand of the language (3 for (3, 3), valid, 8.0 for 8): `make` stored something else
                assert not _exactly(getattr(front, name), _tuples(probe)), (cls.__name__, name, probe)
                continue
            assert (front is None) == (back is None), (cls.__name__, name, probe, front, back)
            assert front == back, (cls.__name__, name, probe)


def _tuples(v):
    return tuple(_tuples(i) for i in v) if isinstance(v, list) else v


def _exactly(a, b) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0 == True in Python)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(_exactly, a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: d["nodes"][1]["op"].update(filters=0), "greater than or equal to 1"),  # a field's bound
        (lambda d: d["nodes"][1]["op"].update(kernel_size=[3]), "kernel_size.1\n  Field required"),
        (lambda d: d["nodes"][1]["op"].update(kind="conv3d"), "does not match any of the expected tags"),
        (lambda d: d["nodes"][2]["op"].update(padding=[2, 2]), "at most half the pool size"),  # an op's rule
        (lambda d: d["nodes"][1]["op"].update(weights="sharpen", use_bias=True), "no bias"),
        (lambda d: d["nodes"][2].update(inputs=[5]), "refers to a missing node"),  # the graph
        (lambda d: d["nodes"][2].update(inputs=[]), "must be the input"),
        (lambda d: d["nodes"][3].update(scope=9), "missing node or scope"),
        (lambda d: d.update(output=7), "outputs are not among its nodes"),
        (lambda d: d["scopes"][0].update(kind="sequence"), "must be the network"),
        (lambda d: d["nodes"][1].update(name="conv.__class__"), "not a valid name"),
    ],
)
def test_an_ir_read_from_json_is_validated(edit, words):
    assert Network.from_json(_edited_ir(lambda d: None)) == cnndsl.loads(SMALL)
    with pytest.raises(ValueError, match=re.escape(words)):
        Network.from_json(_edited_ir(edit))


def test_network_selection(tmp_path, capsys):
    f = tmp_path / "two.cnn"
    f.write_text("network a { input(4); dense(2) }\nnetwork b { input(4); dense(3) }\n")
    assert main(["check", str(f)]) == 0
    assert capsys.readouterr().out.splitlines() == ["a: 4 → 2, 10 params", "b: 4 → 3, 15 params"]
    assert main(["summary", str(f)]) == 1
    assert "several networks are defined (a, b)" in capsys.readouterr().err
    assert main(["summary", str(f), "--network", "b", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == [3]


def test_output_is_written_atomically_and_never_over_the_input(tmp_path):
    src = tmp_path / "n.cnn"
    src.write_text("network n { input(4); dense(2) }")
    out = tmp_path / "n.json"
    out.write_text("previous")
    bad = tmp_path / "bad.cnn"
    bad.write_text(BAD)
    assert main(["compile", str(bad), "-b", "ir", "-o", str(out)]) == 1
    assert out.read_text() == "previous"  # a failed compile leaves the old output alone
    assert main(["compile", str(src), "-b", "ir", "-o", str(src)]) == 2
    assert src.read_text() == "network n { input(4); dense(2) }"
    assert main(["compile", str(src), "-b", "ir", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["name"] == "n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.cnn", "n.cnn", "n.json"]  # no temporary left


def test_usage_errors_exit_2_without_traceback(tmp_path):
    for args in (["check"], ["frobnicate"], ["compile", str(ARCH / "lenet5.cnn")], ["summary", str(tmp_path)]):
        r = run(*args)
        assert r.returncode in (1, 2), args
        assert "Traceback" not in r.stderr
    assert run("check").returncode == 2
    r = run("check", str(tmp_path / "missing.cnn"))
    assert r.returncode == 1 and "error[E400]: cannot read" in r.stderr


def test_python_m_and_the_front_end_imports_no_framework():
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cnndsl", "check", str(ARCH / "resnet152.cnn")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith("resnet152: 3×224×224 → 1000, 60,192,808 params")
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    assert "lark" in imported and "pydantic" not in imported  # pydantic only reads and writes IR JSON
    heavy = {"torch", "tensorflow", "keras", "graphviz", "onnx", "numpy", "pygls", "lsprotocol", "pygments"}
    assert not imported & heavy


@pytest.mark.parametrize("seed", ["1", "2"])
def test_ir_output_is_deterministic(seed, tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": seed}
    here = run("compile", "architectures/googlenet.cnn", "-b", "ir", env=env)
    (tmp_path / "architectures").symlink_to(ARCH)
    there = run("compile", "architectures/googlenet.cnn", "-b", "ir", cwd=tmp_path, env=env)
    assert here.returncode == 0 and here.stdout == there.stdout
    assert here.stdout == run("compile", "architectures/googlenet.cnn", "-b", "ir").stdout
