"""examples/train_digits.py under torchrun: LeNet-5 compiled by cnndsl trains with DistributedDataParallel,
two CPU processes (gloo), each on its shard of the digits."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


def torchrun() -> list[str]:
    """The documented `torchrun`, from this interpreter's environment (python -m torch.distributed.run else)."""
    script = Path(sys.executable).parent / "torchrun"
    return (
        [str(script)]
        if script.exists()
        else [shutil.which("torchrun") or sys.executable, "-m", "torch.distributed.run"]
    )


@pytest.mark.slow
def test_two_processes_train_lenet5_with_ddp():
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("this torch has no gloo backend")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [*torchrun(), "--standalone", "--nproc_per_node", "2", "examples/train_digits.py", "--epochs", "3"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    # each process trains on its own half: 1,347 training images, 673 each
    assert sorted(line for line in lines if line.startswith("process")) == [
        "process 0 of 2: 673 of the 1347 training images per epoch",
        "process 1 of 2: 673 of the 1347 training images per epoch",
    ]
    assert re.fullmatch(r"accuracy: 0\.9\d\d \(3 epochs, 2 processes, [\d.]+ s\)", lines[-1]), lines[-1]
    assert sum(line.startswith("accuracy:") for line in lines) == 1  # process 0 alone reports
    assert sum(line.startswith("epoch ") for line in lines) == 3


def test_one_process_prints_the_same_line():
    run = subprocess.run(
        [sys.executable, "examples/train_digits.py", "--epochs", "2"], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"accuracy: 0\.9\d\d \(2 epochs, 1 process, [\d.]+ s\)", run.stdout.splitlines()[-1])
    assert "process 0" not in run.stdout
