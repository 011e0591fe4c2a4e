"""The pre-commit hook definition works as users install it (pre-commit try-repo on a scratch repository)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ARCH, ROOT


def test_pre_commit_hook(tmp_path):
    pre_commit = Path(sys.executable).parent / "pre-commit"
    repo = tmp_path / "project"
    repo.mkdir()
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig")}
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True, env=env)
    shutil.copy(ARCH / "lenet5.cnn", repo / "good.cnn")
    (repo / "bad.cnn").write_text("network bad {\n    input(3, 8, 8)\n    conv(8, 3, strids=2)\n}\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True, env=env)

    def hook(*files):
        return subprocess.run(
            [pre_commit, "try-repo", str(ROOT), "cnndsl-check", "--files", *files],
            cwd=repo, capture_output=True, text=True, env=env, timeout=900,
        )  # fmt: skip

    ok = hook("good.cnn")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "cnndsl check" in ok.stdout and "Passed" in ok.stdout
    bad = hook("good.cnn", "bad.cnn")
    assert bad.returncode == 1
    assert "bad.cnn:3:16: error[E201]: conv has no argument 'strids'" in bad.stdout
