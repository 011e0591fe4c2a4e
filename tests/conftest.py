"""Shared test helpers: paths, the architecture library, and the reference listings in tests/reference/."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "architectures"
REFERENCE = Path(__file__).resolve().parent / "reference"

def _networks(stem: str) -> list[str]:
    """`stem` for a file of one network, `stem:network` for each of a file of several."""
    from cnndsl.compiler import Compiler

    c = Compiler()
    c.add_file(ARCH / f"{stem}.cnn")
    names = c.network_names()
    return [stem] if len(names) == 1 else [f"{stem}:{n}" for n in names]


# Every network of the library, as `stem` or `stem:network` where a file holds several; every backend writes
# them all.
TORCH_NETWORKS = [n for p in sorted(ARCH.glob("*.cnn")) for n in _networks(p.stem)]

# The files of one network, for the tests that load a file as its network (tests/test_render.py).
ARCHITECTURES = [n for n in TORCH_NETWORKS if ":" not in n]


def load_network(name: str):
    """A network of TORCH_NETWORKS."""
    import cnndsl

    stem, _, network = name.partition(":")
    return cnndsl.load(ARCH / f"{stem}.cnn", network or None)


# The models whose torchvision state_dict the library reproduces key for key.
TORCHVISION = [
    "alexnet", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "vgg11", "vgg13", "vgg16", "vgg19",
]  # fmt: skip


def reference_header(name: str) -> dict[str, str]:
    """The `key<TAB>value` lines at the top of tests/reference/<name>.txt (total_params, kernel_macs ...)."""
    out = {}
    for line in (REFERENCE / f"{name}.txt").read_text().splitlines():
        if line.startswith("## "):
            break
        if "\t" in line and not line.startswith("#"):
            key, value = line.split("\t")[:2]
            out[key] = value
    return out


def reference_state_dict(name: str) -> dict[str, tuple[int, ...]]:
    """torchvision's state_dict listing: key -> shape (() for the scalar num_batches_tracked)."""
    out, inside = {}, False
    for line in (REFERENCE / f"{name}.txt").read_text().splitlines():
        if line.startswith("## state_dict"):
            inside = True
            continue
        if inside:
            if not line.strip() or line.startswith("## "):
                break
            key, shape = line.split("\t")
            out[key] = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
    return out


def torch_model(net, seed: int = 0):
    """The PyTorch backend's model in eval mode, with batch norm's statistics and affine parameters away from
    their initial 0 and 1 so that a mix-up of mean, variance, scale and shift shows (for the Keras and ONNX
    comparisons)."""
    import torch  # here: most tests never need it

    import cnndsl

    torch.manual_seed(seed)
    model = cnndsl.to_torch(net).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model


@pytest.fixture(params=sorted(p.stem for p in ARCH.glob("*.cnn")))
def architecture(request) -> Path:
    """Every network file of the library (blocks/ holds imported blocks only)."""
    return ARCH / f"{request.param}.cnn"
