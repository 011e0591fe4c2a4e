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


def load_network(name: str):
    """A network of NETWORKS."""
    import cnndsl

    stem, _, network = name.partition(":")
    return cnndsl.load(ARCH / f"{stem}.cnn", network or None)


# The members of the family files (several networks each) that the tests over the whole library build: those
# whose torchvision outputs tests/reference/forward/ records. tests/test_family_members.py checks every member.
REPRESENTATIVES = {
    "densenet": ("densenet121",), "efficientnet": ("efficientnet_b0", "efficientnet_v2_s"),
    "mobilenet_v3": ("mobilenet_v3_large",), "regnet": ("regnet_y_400mf",), "resnet": ("resnet18",),
    "shufflenet_v2": ("shufflenet_v2_x1_0",), "convnext": ("convnext_tiny",),
}  # fmt: skip

# Every network of every file, for the tests that check each one's structure (tests/test_onnx.py,
# tests/test_architectures.py).
NETWORKS = [n for p in sorted(ARCH.glob("*.cnn")) for n in _networks(p.stem)]


def _represents(name: str) -> bool:
    stem, _, network = name.partition(":")
    return stem not in REPRESENTATIVES or network in REPRESENTATIVES[stem]


# The networks the PyTorch backend is tested on: a family file's representatives, every network of other files.
TORCH_NETWORKS = [n for n in NETWORKS if _represents(n)]

# Network files of the library (blocks/ holds imported blocks only), each loaded as its network or its family's
# first representative (load_architecture).
ARCHITECTURES = sorted(p.stem for p in ARCH.glob("*.cnn"))


def load_architecture(name: str):
    """The network of architectures/<name>.cnn: its only one, or a family file's (first) representative."""
    import cnndsl

    return cnndsl.load(ARCH / f"{name}.cnn", REPRESENTATIVES.get(name, (None,))[0])


# The layers that act on each position's channels, in the backends' op tests (tests/test_onnx.py, test_keras.py):
# layer norm over channels on a map held channels-first, on one held channels-last and on a vector (after a
# flatten that Keras orders H·W·C), dense layers on a map held channels-last, layer scale on a map and a vector.
CHANNELS_LAST_OPS = """
network convnext_ops {
    input(8, 9, 7)
    layernorm(eps=1e-6)
    residual {
        conv(8, 7, padding=3, groups=8)
        channels_last()
        layernorm()
        dense(32, activation=gelu)
        dense(8, use_bias=false)
        channels_first()
        layer_scale(0.5)
    }
    global_avgpool()
    layernorm()
    flatten()
    layer_scale()
    dense(5)
}
network flat_layernorm {
    input(4, 3, 3)
    flatten()
    layernorm()
    layer_scale(2.0)
    dense(6)
}
"""

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


@pytest.fixture(params=ARCHITECTURES)
def architecture(request) -> Path:
    """Every network file of the library."""
    return ARCH / f"{request.param}.cnn"


# A block whose closing activation a word parameter chooses, used three ways (torchvision's
# Conv2dNormActivation): both generators write it as one class or function.
ACTIVATION_CHOICE = """
block conv_bn_act(filters, act = relu) {
    conv(filters, 3, padding=1, use_bias=false)
    batchnorm()
    if act == relu { relu() } else if act == hardswish { hardswish() }
}
network n { input(3, 8, 8); a: conv_bn_act(4); b: conv_bn_act(4, act=none); c: conv_bn_act(4, act=hardswish) }
"""
