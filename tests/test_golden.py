"""Golden files: the PyTorch and Keras source emitted for every network in architectures/, kept in
tests/golden/ so that any change to generated code shows in review.

After a deliberate change to the generators, refresh them with one command and review the diff:

    CNNDSL_UPDATE_GOLDEN=1 pytest tests/test_golden.py

A file holding one network gives tests/golden/<file>.<backend>.py (`resnet34.torch.py`); one holding several
gives tests/golden/<file>.<network>.<backend>.py; architectures/keras/resnet50.cnn gives
`keras_resnet50.<backend>.py`.
"""

from __future__ import annotations

import builtins
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


# --- no layer that does nothing ------------------------------------------------------------------------------


def _layers_made(source: str) -> list[tuple[str, tuple, dict]]:
    """The Keras layers an emitted file's build() makes, as (class name, arguments): its code run against a
    stand-in for keras that only records them, so every instance of every function is seen without a framework."""
    made = []
    classes: dict[str, type] = {}

    class Layer:
        def __init__(self, *args, **kwargs):
            made.append((type(self).__name__, args, kwargs))

        def __call__(self, *inputs):
            return self  # a stand-in tensor too

    class Namespace:  # keras, keras.layers, keras.saving, ...: a capitalised name is a layer class
        def __getattr__(self, name: str):
            return classes.setdefault(name, type(name, (Layer,), {})) if name[0].isupper() else Namespace()

        def __call__(self, *args, **kwargs):  # keras.saving.register_keras_serializable(...): a decorator
            return lambda cls: cls

    def imports(name, *args, **kwargs):
        return Namespace() if name.split(".")[0] == "keras" else __import__(name, *args, **kwargs)

    namespace = {"__builtins__": {**vars(builtins), "__import__": imports}, "__name__": "emitted"}
    exec(compile(source, "emitted.keras.py", "exec"), namespace)
    namespace["build"]()
    return made


def _idle(kind: str, args: tuple, kwargs: dict) -> bool:
    """A layer that passes its input on unchanged: a padding or crop of 0, a dropout at rate 0."""

    def flat(v):
        return [x for item in v for x in flat(item)] if isinstance(v, tuple | list) else [v]

    if kind in ("ZeroPadding2D", "Cropping2D"):
        return not any(flat(args[0] if args else kwargs.get("padding", kwargs.get("cropping"))))
    if kind == "Dropout":
        return (args[0] if args else kwargs["rate"]) == 0
    return False


KERAS_GOLDEN = [stem for stem, backend in CASES if backend == "keras"]


@pytest.mark.parametrize("stem", KERAS_GOLDEN)
def test_emitted_keras_builds_no_layer_that_does_nothing(stem):
    made = _layers_made((GOLDEN / f"{stem}.keras.py").read_text(encoding="utf-8"))
    idle = [f"{kind}{args}" for kind, args, kwargs in made if _idle(kind, args, kwargs)]
    assert not idle, f"{stem}: layers that do nothing: {idle[:5]}"


def test_the_stand_in_sees_every_instance_of_a_shared_function():
    source = (
        "from keras import layers\n\n\n"
        "def conv(x, filters, kernel, name=None):\n"
        '    x = layers.ZeroPadding2D((kernel - 1) // 2, name=f"{name}_pad")(x)\n'
        '    return layers.Conv2D(filters, kernel, name=f"{name}_conv")(x)\n\n\n'
        "def build():\n"
        "    x = layers.Input(shape=(8, 8, 3))\n"
        '    x = conv(x, 4, 3, name="a")\n'
        '    return conv(x, 4, 1, name="b")\n'
    )
    made = _layers_made(source)
    assert [kind for kind, _, _ in made] == ["Input", "ZeroPadding2D", "Conv2D", "ZeroPadding2D", "Conv2D"]
    assert [_idle(*layer) for layer in made] == [False, False, False, True, False]
