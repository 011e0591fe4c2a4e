"""The pre-commit hook definitions work as users install them (pre-commit try-repo on scratch repositories).

The hooks' environment (cnndsl installed by pre-commit) is built once per module, in a shared cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ARCH, ROOT

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("pre-commit")
    return {**os.environ, "PRE_COMMIT_HOME": str(home / "cache"), "GIT_CONFIG_GLOBAL": str(home / "gitconfig")}


def new_repo(path: Path, env) -> Path:
    path.mkdir()
    subprocess.run([*GIT, "init", "-q"], cwd=path, check=True, env=env)
    return path


def git(repo: Path, env, *args):
    subprocess.run([*GIT, *args], cwd=repo, check=True, env=env, capture_output=True)


def hook(repo: Path, env, hook_id: str, *args):
    return subprocess.run(
        [PRE_COMMIT, "try-repo", str(ROOT), hook_id, *args],
        cwd=repo, capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip


def test_pre_commit_hook(tmp_path, env):
    repo = new_repo(tmp_path / "project", env)
    shutil.copy(ARCH / "lenet5.cnn", repo / "good.cnn")
    (repo / "bad.cnn").write_text("network bad {\n    input(3, 8, 8)\n    conv(8, 3, strids=2)\n}\n")
    git(repo, env, "add", ".")

    ok = hook(repo, env, "cnndsl-check", "--files", "good.cnn")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "cnndsl check" in ok.stdout and "Passed" in ok.stdout
    bad = hook(repo, env, "cnndsl-check", "--files", "good.cnn", "bad.cnn")
    assert bad.returncode == 1
    assert "bad.cnn:3:16: error[E201]: conv has no argument 'strids'" in bad.stdout


def test_hook_rechecks_the_importers_of_a_changed_block_library(tmp_path, env):
    """Only the library is staged, and it is fine on its own: the network importing it is what breaks."""
    repo = new_repo(tmp_path / "project", env)
    (repo / "models" / "blocks").mkdir(parents=True)
    shutil.copy(ARCH / "blocks" / "resnet.cnn", repo / "models" / "blocks" / "resnet.cnn")
    shutil.copy(ARCH / "resnet50.cnn", repo / "models" / "resnet50.cnn")
    shutil.copy(ARCH / "lenet5.cnn", repo / "lenet5.cnn")
    git(repo, env, "add", ".")
    git(repo, env, "commit", "-q", "-m", "models")

    lib = repo / "models" / "blocks" / "resnet.cnn"
    lib.write_text(lib.read_text().replace("conv(channels * 4, 1, strides", "conv(channels * 2, 1, strides"))
    git(repo, env, "add", "models/blocks/resnet.cnn")
    broken = hook(repo, env, "cnndsl-check")  # the staged files only, as `git commit` runs it
    assert broken.returncode == 1, broken.stdout + broken.stderr
    lines = lib.read_text().splitlines()
    shortcut = next(i for i, line in enumerate(lines) if "conv(channels * 2, 1, strides" in line)
    residual = max(i for i, line in enumerate(lines[:shortcut]) if "residual {" in line) + 1  # the merge's line
    assert f"models/blocks/resnet.cnn:{residual}:5: error[E300]: add: main path gives 256×56×56" in broken.stdout
    assert "lenet5" not in broken.stdout  # unrelated files are not checked
    every = hook(repo, env, "cnndsl-check-all")
    assert every.returncode == 1 and "error[E300]" in every.stdout

    git(repo, env, "checkout", "--", ".")
    git(repo, env, "reset", "-q")
    (repo / "lenet5.cnn").write_text("# LeNet\n" + (repo / "lenet5.cnn").read_text())
    git(repo, env, "add", "lenet5.cnn")  # an unrelated change: the whole repository is checked, and passes
    fixed = hook(repo, env, "cnndsl-check-all")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "Passed" in fixed.stdout


def test_hooks_pass_on_the_projects_own_architectures(tmp_path, env):
    repo = new_repo(tmp_path / "project", env)
    shutil.copytree(ARCH, repo / "architectures")
    git(repo, env, "add", ".")
    for hook_id in ("cnndsl-check", "cnndsl-check-all", "cnndsl-fmt"):
        r = hook(repo, env, hook_id, "--all-files")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Passed" in r.stdout

    lenet = repo / "architectures" / "lenet5.cnn"
    lenet.write_text(lenet.read_text().replace("    input(1, 32, 32)", "  input( 1,32,32 ) ;"))
    git(repo, env, "add", ".")
    r = hook(repo, env, "cnndsl-fmt")
    assert r.returncode == 1 and "files were modified by this hook" in r.stdout
    assert lenet.read_text() == (ARCH / "lenet5.cnn").read_text()
