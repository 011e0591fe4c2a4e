"""examples/digits.ipynb, the lecture's notebook: executed from top to bottom on a copy, so that it can never
rot, and the committed copy is the executed one, with its plots."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nbformat
from conftest import ROOT
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = ROOT / "examples" / "digits.ipynb"


def outputs(nb, kind: str) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == kind]


def test_the_digits_notebook_runs_and_learns(tmp_path):
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None  # nothing of the committed run can pass for this one
    kernel = KernelManager(kernel_name=nb.metadata.kernelspec.name)
    assert kernel.format_kernel_cmd()[0] == sys.executable  # this interpreter: its cnndsl, torch, matplotlib
    # In examples/, as Jupyter runs a notebook in its own directory: it imports train_digits from there.
    NotebookClient(nb, km=kernel, timeout=120, resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    nbformat.write(nb, copy)

    assert outputs(nb, "error") == []
    text = "".join(o.text for o in outputs(nb, "stream") if o.name == "stdout")
    assert "Receptive field" in text and "61,706" in text  # the summary, with receptive fields
    (accuracy,) = re.findall(r"^test accuracy: (\d\.\d+)$", text, re.MULTILINE)
    assert float(accuracy) >= 0.9
    results = outputs(nb, "execute_result") + outputs(nb, "display_data")
    assert any("image/svg+xml" in o.data for o in results)  # the diagram
    assert sum("image/png" in o.data for o in results) == 2  # the filters, the feature maps


def test_the_committed_notebook_is_executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert sum("image/png" in o.get("data", {}) for cell in code for o in cell.outputs) == 2
    assert nb.metadata.kernelspec.name == "python3"
    assert str(Path(ROOT)) not in NOTEBOOK.read_text()  # no path of this machine in the outputs


def test_the_documented_browser_free_command_runs(tmp_path):
    """docs/lecture.md's command without a browser, as written, with what `pip install -e '.[dev]'` installs."""
    import os
    import shlex
    import subprocess

    lecture = (ROOT / "docs" / "lecture.md").read_text(encoding="utf-8")
    (command,) = re.findall(r"^(jupyter execute .*?)\s+#", lecture, re.MULTILINE)
    words = shlex.split(command)
    jupyter = Path(sys.executable).parent / "jupyter"  # this environment's, as `make setup` installs it
    assert jupyter.exists()
    shutil.copytree(ROOT / "architectures", tmp_path / "architectures")
    (tmp_path / "examples").mkdir()
    for name in ("digits.ipynb", "train_digits.py"):
        shutil.copy(ROOT / "examples" / name, tmp_path / "examples" / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([str(jupyter), *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    nb = nbformat.read(tmp_path / "examples" / "digits-run.ipynb", as_version=4)
    assert outputs(nb, "error") == []
    text = "".join(o.text for o in outputs(nb, "stream") if o.name == "stdout")
    assert float(re.findall(r"^test accuracy: (\d\.\d+)$", text, re.MULTILINE)[0]) >= 0.9
    assert "C1 " in text and "F6 " in text  # the summary's rows carry the lecture's names
