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
        (("graphviz",), ("render", "architectures/lenet5.cnn", "-o", "{tmp}/x.png"), "render"),
        (("PIL",), ("apply", "architectures/filters.cnn", "-o", "{tmp}/x.png"), "images"),
    ],
)
def test_missing_extras_name_the_extra(tmp_path, modules, args, extra):
    run = cli_without(modules, *(a.format(tmp=tmp_path) for a in args))
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == f"cnndsl: {args[0]} needs the [{extra}] extra: pip install 'cnndsl[{extra}]'"
    assert "[all]" not in run.stderr and modules[0] not in run.stderr.replace(f"[{extra}]", "")


@pytest.mark.parametrize(
    "function, module, extra",
    [("to_torch", "torch", "torch"), ("to_onnx", "onnx", "onnx"), ("to_onnx", "numpy", "onnx")],
)
def test_python_api_names_the_extra(function, module, extra):
    code = f"import cnndsl\nnet = cnndsl.load('architectures/lenet5.cnn')\ncnndsl.{function}(net)"
    run = without((module,), code)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last == f"ImportError: cnndsl.{function} needs the [{extra}] extra: pip install 'cnndsl[{extra}]'"
