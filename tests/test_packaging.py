"""The wheel carries the grammar: an installed, non-editable cnndsl works outside the source tree."""

from __future__ import annotations

import subprocess
import sys
import venv

from conftest import ARCH, ROOT


def test_wheel_installs_and_runs(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = dist.glob("cnndsl-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True, timeout=600)
    work = tmp_path / "elsewhere"  # far from the source tree's grammars/ directory
    work.mkdir()
    r = subprocess.run(
        [env_dir / "bin" / "cnndsl", "check", str(ARCH / "resnet50.cnn")],
        capture_output=True, text=True, cwd=work, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == "resnet50: 3×224×224 → 1000, 25,557,032 params\n"
    r = subprocess.run(
        [python, "-c", "import cnndsl.syntax as s; print(s.grammar_path())"],
        capture_output=True, text=True, cwd=work, timeout=120,
    )  # fmt: skip
    assert "site-packages/cnndsl/grammars/cnn.lark" in r.stdout
    # the Pygments lexer is registered, so ```cnn blocks highlight wherever cnndsl is installed
    code = "from importlib.metadata import entry_points as e; print(e(group='pygments.lexers')['cnn'].value)"
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=work, timeout=120)
    assert r.stdout.strip() == "cnndsl.highlight:CnnLexer", r.stderr
