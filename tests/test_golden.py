"""Golden files: the PyTorch and Keras source emitted for every network in architectures/, kept in
tests/golden/ so that any change to generated code shows in review.

After a deliberate change to the generators, refresh them with one command and review the diff:

    CNNDSL_UPDATE_GOLDEN=1 pytest tests/test_golden.py

A file holding one network gives tests/golden/<file>.<backend>.py (`resnet34.torch.py`); one holding several
gives tests/golden/<file>.<network>.<backend>.py; architectures/keras/resnet50.cnn gives
`keras_resnet50.<backend>.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ARCH, ROOT

import cnndsl
from cnndsl.backends import keras as keras_backend
from cnndsl.backends import torch as torch_backend

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("CNNDSL_UPDATE_GOLDEN") == "1"
BACKENDS = {"torch": torch_backend.emit, "keras": keras_backend.emit}
FILES = sorted(p.relative_to(ROOT) for p in ARCH.rglob("*.cnn") if p.parent.name != "blocks")


def _networks() -> dict[str, cnndsl.Network]:
    """golden stem -> network, loaded by a path relative to the repository (the path the source names)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        out = {}
        for path in FILES:
            stem = "_".join(path.relative_to("architectures").with_suffix("").parts)
            nets = cnndsl.load_all(path)
            for net in nets:
                out[stem if len(nets) == 1 else f"{stem}.{net.name}"] = net
        return out
    finally:
        os.chdir(cwd)


NETWORKS = _networks()
CASES = [(stem, backend) for stem in NETWORKS for backend in BACKENDS]


@pytest.mark.parametrize(("stem", "backend"), CASES, ids=[f"{s}.{b}" for s, b in CASES])
def test_emitted_source_is_the_golden_file(stem, backend):
    source = BACKENDS[backend](NETWORKS[stem])
    golden = GOLDEN / f"{stem}.{backend}.py"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(source, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run CNNDSL_UPDATE_GOLDEN=1 pytest tests/test_golden.py"
    assert source == golden.read_text(encoding="utf-8"), f"{golden.name} is out of date (see this module's docstring)"


def test_every_golden_file_belongs_to_a_network():
    expected = {f"{stem}.{backend}.py" for stem, backend in CASES}
    assert {p.name for p in GOLDEN.glob("*.py")} == expected


def test_golden_files_pass_ruff():
    config = ["--config", str(ROOT / "pyproject.toml")]
    for command in (["check", "--no-cache"], ["format", "--check", "--diff", "--no-cache"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *config, str(GOLDEN)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
