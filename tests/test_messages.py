"""Messages: missing extras name the extra to install; hints for common mistakes; where errors point."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

MISSING = """
import sys
for name in {modules!r}:
    sys.modules[name] = None  # as if the package were not installed
{code}
"""


def without(modules: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", MISSING.format(modules=modules, code=code)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip


def cli_without(modules: tuple[str, ...], *args: str) -> subprocess.CompletedProcess:
    return without(modules, f"from cnndsl.cli import main; sys.exit(main({list(args)!r}))")


@pytest.mark.parametrize(
    "modules, args, extra",
    [
        (("numpy",), ("compile", "architectures/lenet5.cnn", "-b", "onnx", "-o", "{tmp}/x.onnx"), "onnx"),
        (("onnx",), ("compile", "architectures/lenet5.cnn", "-b", "onnx", "-o", "{tmp}/x.onnx"), "onnx"),
        (("PIL",), ("apply", "architectures/filters.cnn", "-o", "{tmp}/x.png"), "images"),
        (("keras",), ("import", "keras.applications.VGG16"), "keras"),
    ],
)
def test_missing_extras_name_the_extra(tmp_path, modules, args, extra):
    run = cli_without(modules, *(a.format(tmp=tmp_path) for a in args))
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == f"cnndsl: {args[0]} needs the [{extra}] extra: pip install 'cnndsl[{extra}]'"
    assert "[all]" not in run.stderr and modules[0] not in run.stderr.replace(f"[{extra}]", "")


@pytest.mark.parametrize(
    "function, module, extra",
    [
        ("to_torch", "torch", "torch"),
        ("to_onnx", "onnx", "onnx"),
        ("to_onnx", "numpy", "onnx"),
        ("from_onnx", "onnx", "onnx"),
        ("from_exported", "torch", "torch"),
    ],
)
def test_python_api_names_the_extra(function, module, extra):
    # from_onnx (from_exported) is handed the network too: it fails on the missing onnx (torch) before it looks at
    # its argument
    code = f"import cnndsl\nnet = cnndsl.load('architectures/lenet5.cnn')\ncnndsl.{function}(net)"
    run = without((module,), code)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last == f"ImportError: cnndsl.{function} needs the [{extra}] extra: pip install 'cnndsl[{extra}]'"


def _error(text: str):
    import cnndsl

    with pytest.raises(cnndsl.CnnDslError) as info:
        cnndsl.loads(text)
    return info.value


def net(*lines: str) -> str:
    return "network n {\n    input(3, 32, 32)\n" + "".join(f"    {line}\n" for line in lines) + "}\n"


def test_channels_last_input_warns_at_the_size():
    import warnings

    import cnndsl
    from cnndsl.errors import CnnDslWarning

    text = "network n {\n    input(32, 32, 3)\n    conv(8, 3)\n}\n"
    with pytest.warns(CnnDslWarning) as caught:
        n = cnndsl.loads(text)
    assert n.input_shape == (32, 32, 3)  # valid, as written
    w = caught[0].message
    assert (w.line, w.column) == (2, 19) and "looks like channels" in w.message
    assert w.hint == "sizes are channels first: input(3, 32, 32)"
    assert w.format().splitlines()[1:3] == ["        input(32, 32, 3)", " " * 22 + "^"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for shape in ("3, 32, 32", "1, 28, 28", "3, ?, ?", "4, 4, 3", "64, 7, 7"):
            cnndsl.loads(f"network n {{\n    input({shape})\n}}\n")


def test_channels_last_on_the_command_line(tmp_path):
    f = tmp_path / "keras.cnn"
    f.write_text("network n {\n    input(32, 32, 3)\n    conv(8, 3)\n}\n")
    r = subprocess.run([sys.executable, "-m", "cnndsl", "check", str(f)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.startswith("n: 32×32×3")  # a warning, not an error
    assert r.stderr.splitlines()[0] == (
        f"{f}:2:19: warning: input(32, 32, 3) reads as 32 channels of 32×3; the last size, 3, looks like channels"
    )
    assert "hint: sizes are channels first: input(3, 32, 32)" in r.stderr


@pytest.mark.parametrize(
    "line, message",
    [
        ("Conv2D(8, 3)", "unknown layer or block 'Conv2D' — did you mean 'conv'?"),
        ("BatchNormalization()", "did you mean 'batchnorm'?"),
        ("MaxPool2d(2)", "did you mean 'maxpool'?"),
        ("ReLU()", "did you mean 'relu'?"),
    ],
)
def test_other_frameworks_names(line, message):
    e = _error(net(line))
    assert e.code == "E200" and message in e.message and (e.line, e.column) == (3, 5)


def test_bias_suggests_use_bias():
    e = _error(net("conv(8, 3, bias=false)"))
    assert (e.code, e.hint) == ("E201", "did you mean 'use_bias'?")
    assert _error(net("conv(8, 3, out_channels=4)")).hint == "did you mean 'filters'?"


def test_bare_activation_says_to_call_it():
    e = _error(net("conv(8, 3)", "relu", "flatten()"))
    assert (e.code, e.line, e.column) == ("E100", 4, 5)
    assert e.message == "'relu' without parentheses: write 'relu()'"


def test_concat_mismatch_names_and_points_at_the_branch():
    text = net("conv(8, 3)", "concat {", "  same: { conv(8, 3, padding=1) }", "  halved: { maxpool(2) }", "}")
    e = _error(text)
    assert e.code == "E300" and e.message == "concat: branch 2 (halved) gives 8×15×15 but branch 1 gives 8×30×30"
    assert (e.line, e.column) == (6, 7) and e.source_line.strip().startswith("halved:")
    e = _error(net("concat {", "    conv(8, 3, padding=1)", "    conv(8, 3, padding=1)", "    conv(8, 3)", "}"))
    assert e.message.startswith("concat: branch 3 gives 8×30×30") and e.line == 6


def test_open_sizes_are_parenthesised():
    import cnndsl

    n = cnndsl.loads("network n {\n    input(3, ?, ?)\n    conv(16, 3, strides=2)\n    conv(16, 3)\n}\n")
    assert str(n) == "n: 3×H×W → 16×((H-3)//2-1)×((W-3)//2-1), 2,768 params"
    assert "16×((H-3)//2+1)×((W-3)//2+1)" in n.summary()


def test_missing_file_has_no_made_up_location(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "cnndsl", "check", "nope.cnn"], capture_output=True, text=True, cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert r.returncode == 1 and r.stderr == "nope.cnn: error[E400]: cannot read 'nope.cnn': no such file\n"
    r = subprocess.run(
        [sys.executable, "-m", "cnndsl", "check", "--format", "github", "nope.cnn"], capture_output=True, text=True,
        cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert r.stdout == "::error file=nope.cnn,title=E400::cannot read 'nope.cnn': no such file\n"
