"""The PyTorch backend: the emitted source, the models it builds, torchvision parity, and each op's semantics
checked against expectations computed by hand."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    ACTIVATION_CHOICE,
    ARCH,
    ROOT,
    TORCH_NETWORKS,
    TORCHVISION,
    load_network,
    reference_header,
    reference_state_dict,
)
from test_modern import NEW_OPS

import cnndsl
from cnndsl.backends.torch import emit, to_torch
from cnndsl.cli import main as cli
from cnndsl.expr import Param

RUFF = [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml")]


def expected_state_dict(net) -> dict[str, tuple[int, ...]]:
    """The state_dict the IR implies: `{name}.weight` and `.bias` of every layer with weights, batch norm's
    statistics, with their shapes in torch's layouts."""
    out = {}
    for n in net.nodes:
        op = n.op
        if op.kind in ("conv", "conv_transpose", "dense"):
            cin = net.nodes[n.inputs[0]].shape[0]
            if op.kind == "conv":
                out[f"{n.name}.weight"] = (op.filters, cin // op.groups, *op.kernel_size)
            elif op.kind == "conv_transpose":
                out[f"{n.name}.weight"] = (cin, op.filters // op.groups, *op.kernel_size)
            else:
                out[f"{n.name}.weight"] = (op.units, cin)
            if op.use_bias:
                out[f"{n.name}.bias"] = (n.shape[0],)
        elif op.kind == "batchnorm":
            for key in ("weight", "bias", "running_mean", "running_var"):
                out[f"{n.name}.{key}"] = (n.shape[0],)
            out[f"{n.name}.num_batches_tracked"] = ()
        elif op.kind == "layernorm":
            for key in ("weight", "bias"):
                out[f"{n.name}.{key}"] = (n.shape[0],)
        elif op.kind == "layer_scale":  # a bare parameter: the layer's own name, C×1×1 on a map
            out[n.name] = (n.shape[0], *(1 for _ in n.shape[1:]))
    return out


def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def load_file(path) -> object:
    """A Python file, imported as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"emitted_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(x)


# --- every architecture: the emitted file ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return {name: emit(load_network(name)) for name in TORCH_NETWORKS}


def test_emitted_source_passes_ruff(sources, tmp_path):
    for name, source in sources.items():
        (tmp_path / f"{name}.py").write_text(source)
    result = subprocess.run([*RUFF, str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_emitted_source_is_deterministic(sources, tmp_path):
    assert {name: emit(load_network(name)) for name in TORCH_NETWORKS} == sources
    # Another process, another hash seed, another working directory.
    script = (
        "import hashlib, json, sys, cnndsl\n"
        "from cnndsl.backends.torch import emit\n"
        "def load(n):\n"
        "    stem, _, network = n.partition(':')\n"
        "    return cnndsl.load(f'{sys.argv[1]}/{stem}.cnn', network or None)\n"
        "digest = lambda n: hashlib.sha256(emit(load(n)).encode()).hexdigest()\n"
        "print(json.dumps({n: digest(n) for n in sys.argv[2:]}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    command = [sys.executable, "-c", script, str(ARCH), *TORCH_NETWORKS]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {n: hashlib.sha256(s.encode()).hexdigest() for n, s in sources.items()}


@dataclass
class Built:
    """One architecture: its IR, its emitted file imported, and both models (built once per test module)."""

    name: str
    path: Path  # where the emitted file goes

    @cached_property
    def net(self):
        return load_network(self.name)

    @cached_property
    def memory(self) -> torch.nn.Module:
        torch.manual_seed(0)
        return to_torch(self.net)

    @cached_property
    def file(self) -> torch.nn.Module:
        self.path.write_text(emit(self.net))
        return load_file(self.path).build()

    @cached_property
    def probe(self) -> torch.Tensor:
        """An input for both models: the IR's size, or 112x112 for the ImageNet models (their adaptive pools
        take it), a quarter of the work of 224x224."""
        size = [d if isinstance(d, int) else 40 for d in self.net.input_shape]
        if self.name in TORCHVISION:
            size = [3, 112, 112]
        return torch.randn(2, *size, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module", params=TORCH_NETWORKS)
def built(request, tmp_path_factory) -> Built:
    return Built(request.param, tmp_path_factory.mktemp("emitted") / f"{request.param.replace(':', '_')}.py")


def test_state_dict_follows_the_ir(built):
    net, model = built.net, built.memory
    assert shapes(model) == expected_state_dict(net)
    assert sum(p.numel() for p in model.parameters()) == net.params
    buffers = sum(b.numel() for k, b in model.named_buffers() if not k.endswith("num_batches_tracked"))
    assert buffers == net.buffers


def test_emitted_file_is_the_same_model(built):
    memory, file = built.memory, built.file
    assert list(shapes(file).items()) == list(shapes(memory).items())  # the same keys, in the same order
    file.load_state_dict(memory.state_dict())
    assert torch.equal(forward(file, built.probe), forward(memory, built.probe))


def test_forward_gives_the_ir_output_shape(built):
    net = built.net
    if built.name in TORCHVISION:
        x = torch.randn(2, 3, 224, 224)  # parity with torchvision: its input size gives 2 x 1000
    else:
        x = built.probe
    open_sizes = {"H": x.shape[2], "W": x.shape[3]}  # architectures/filters.cnn keeps any picture's size
    assert tuple(forward(built.memory, x).shape) == (2, *(open_sizes.get(d, d) for d in net.output_shape))


@pytest.mark.parametrize("built", TORCHVISION, indirect=True)
def test_torchvision_parity(built):
    """Keys, shapes and their order as torchvision's state_dict, so its pretrained weights load."""
    reference = reference_state_dict(f"torchvision_{built.name}")
    assert list(shapes(built.memory).items()) == list(reference.items())
    assert sum(p.numel() for p in built.memory.parameters()) == int(
        reference_header(f"torchvision_{built.name}")["total_params"]
    )


def test_resnet34_reads_like_torchvision(sources):
    source = sources["resnet34"]
    assert source.count("class ") == 2  # Basic serves every block, projection or not; then the network
    assert "class Basic(nn.Module):" in source and "class Resnet34(nn.Module):" in source
    assert "def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: bool = False)" in source
    assert source.count("downsample=True") == 3
    assert "        out += identity\n        return F.relu(out, inplace=True)\n" in source
    assert "        self.layer1 = nn.Sequential(\n            Basic(64, 64),\n" in source
    assert "def build(classes: int = 1000) -> nn.Module:" in source and "return Resnet34(classes=classes)" in source
    assert "    def __init__(self, classes: int = 1000) -> None:" in source
    assert "self.fc = nn.Linear(512, classes)" in source


def test_network_parameters_are_constructor_arguments(tmp_path):
    for name, classes in (("resnet18", 10), ("nin", 7)):  # nin's classes are a convolution's filters
        out = tmp_path / f"{name}.py"
        out.write_text(emit(cnndsl.load(ARCH / f"{name}.cnn")))
        model = load_file(out).build(classes=classes)
        size = cnndsl.load(ARCH / f"{name}.cnn").input_shape
        assert forward(model, torch.randn(1, *size)).shape == (1, classes)


def test_googlenet_reads_like_torchvision(sources):
    source = sources["googlenet"]
    assert source.count("class ") == 3  # ConvBn, Inception, the network
    assert "        self.branch1 = ConvBn(in_channels, c1, 1)\n" in source
    assert "            ConvBn(c3r, c3, 3, padding=1),\n" in source  # arguments in the block's own terms
    assert "        return torch.cat([branch1, branch2, branch3, branch4], 1)\n" in source
    assert "        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)\n" in source


def test_pure_chains_are_sequential(sources):
    # LeNet-5's layers carry the lecture's labels (C1 ... F6), so it is a class whose modules have those names
    assert "        self.C1 = nn.Conv2d(1, 6, kernel_size=5)\n" in sources["lenet5"]
    assert "        x = self.F6(x)\n" in sources["lenet5"]
    assert "class DoubleConv(nn.Sequential):" in sources["unet"]
    vgg = sources["vgg16"]
    assert "        self.features = nn.Sequential(\n            nn.Conv2d(3, 64, kernel_size=3, padding=1),\n" in vgg
    assert "nn.ReLU(inplace=True)" in vgg


# --- the command line ----------------------------------------------------------------------------------


def test_cli_compiles_to_a_file_and_to_stdout(tmp_path, capsys):
    source = ARCH / "resnet34.cnn"
    out = tmp_path / "resnet34.py"
    assert cli(["compile", str(source), "--backend", "torch", "-o", str(out)]) == 0
    expected = emit(cnndsl.load(source))
    assert out.read_text() == expected
    assert cli(["compile", str(source), "-b", "torch"]) == 0
    assert capsys.readouterr().out == expected
    assert load_file(out).build().fc.out_features == 1000


# --- each op, against what it must compute ---------------------------------------------------------------


def single(layer: str, input_shape: str) -> tuple[torch.nn.Module, object]:
    """A network of one layer, as a model in eval mode, and its IR."""
    net = cnndsl.loads(f"network n {{ input({input_shape}); {layer} }}")
    return to_torch(net).eval(), net


def only(module: torch.nn.Module, kind: type) -> torch.nn.Module:
    (found,) = [m for m in module.modules() if isinstance(m, kind)]
    return found


def test_same_padding_on_a_strided_conv_puts_the_odd_pixel_last():
    # Height 7: out 4, total padding (4-1)*2+3-7 = 2 -> 1 and 1. Width 8: out 4, total 1 -> 0 left, 1 right.
    model, net = single("conv(3, 3, strides=2, padding=same)", "2, 7, 8")
    conv = only(model, torch.nn.Conv2d)
    x = torch.randn(1, 2, 7, 8)
    expected = F.conv2d(F.pad(x, (0, 1, 1, 1)), conv.weight, conv.bias, stride=2)
    assert expected.shape == (1, 3, 4, 4) == (1, *net.output_shape)
    assert torch.allclose(forward(model, x), expected, atol=1e-6)


def test_same_padding_with_an_even_kernel_and_stride_1():
    model, _ = single("conv(3, 2, padding=same)", "2, 5, 5")  # total padding 1: none before, one after
    conv = only(model, torch.nn.Conv2d)
    x = torch.randn(1, 2, 5, 5)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias)
    assert torch.allclose(forward(model, x), expected, atol=1e-6)


def test_same_padding_on_open_sizes_is_computed_at_run_time():
    model, net = single("conv(3, 3, strides=2, padding=same)", "2, ?, ?")
    conv = only(model, torch.nn.Conv2d)
    for (h, w), pads in {(7, 8): (0, 1, 1, 1), (9, 9): (1, 1, 1, 1), (6, 5): (1, 1, 0, 1)}.items():
        x = torch.randn(1, 2, h, w)
        expected = F.conv2d(F.pad(x, pads), conv.weight, conv.bias, stride=2)
        assert expected.shape[2:] == (math.ceil(h / 2), math.ceil(w / 2))
        assert torch.allclose(forward(model, x), expected, atol=1e-6)


def test_same_max_pool_never_takes_the_padding():
    model, _ = single("maxpool(2, strides=2, padding=same)", "1, 3, 3")
    x = -1 - torch.arange(9.0).reshape(1, 1, 3, 3)  # all negative: a zero pad would win
    assert forward(model, x).tolist() == [[[[-1.0, -3.0], [-7.0, -9.0]]]]


def test_same_avg_pool_counts_the_padding_or_not():
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    counted, _ = single("avgpool(2, strides=2, padding=same)", "1, 3, 3")
    excluded, _ = single("avgpool(2, strides=2, padding=same, count_include_pad=false)", "1, 3, 3")
    # windows: {1,2,4,5}, {3,6,+2 pads}, {7,8,+2 pads}, {9,+3 pads}
    assert forward(counted, x).tolist() == [[[[3.0, 2.25], [3.75, 2.25]]]]
    assert forward(excluded, x).tolist() == [[[[3.0, 4.5], [7.5, 9.0]]]]


def test_ceil_mode_pooling():
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    model, net = single("maxpool(2, ceil_mode=true)", "1, 5, 5")
    assert net.output_shape == (1, 3, 3)
    assert forward(model, x).tolist() == [[[[6.0, 8.0, 9.0], [16.0, 18.0, 19.0], [21.0, 23.0, 24.0]]]]
    model, _ = single("avgpool(2, ceil_mode=true)", "1, 5, 5")
    assert forward(model, x)[0, 0, 2].tolist() == [20.5, 22.5, 24.0]  # the last windows hold 2, 2 and 1 pixels


def test_bed_of_nails_upsampling():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    model, _ = single("upsample(2, mode=zeros)", "1, 2, 2")
    expected = [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    assert forward(model, x)[0, 0].tolist() == expected
    model, _ = single("upsample((1, 3), mode=zeros)", "1, 2, 2")
    assert forward(model, x)[0, 0].tolist() == [[1, 0, 0, 2, 0, 0], [3, 0, 0, 4, 0, 0]]


def test_bilinear_upsampling_with_and_without_align_corners():
    x = torch.tensor([[[[0.0, 3.0]]]])
    model, _ = single("upsample((1, 2), mode=bilinear, align_corners=true)", "1, 1, 2")
    assert torch.allclose(forward(model, x), torch.tensor([[[[0.0, 1.0, 2.0, 3.0]]]]))
    model, _ = single("upsample((1, 2), mode=bilinear)", "1, 1, 2")  # pixel centres: 0.25 and 0.75 in between
    assert torch.allclose(forward(model, x), torch.tensor([[[[0.0, 0.75, 2.25, 3.0]]]]))
    model, _ = single("upsample(2)", "1, 1, 2")
    assert forward(model, x)[0, 0].tolist() == [[0, 0, 3, 3], [0, 0, 3, 3]]


def test_grouped_and_depthwise_convolutions():
    text = "network n { input(8, 6, 6); g: conv(12, 3, groups=4); d: conv(12, 3, groups=12, use_bias=false) }"
    net = cnndsl.loads(text)
    model = to_torch(net)
    assert shapes(model) == {"g.weight": (12, 2, 3, 3), "g.bias": (12,), "d.weight": (12, 1, 3, 3)}
    assert sum(p.numel() for p in model.parameters()) == net.params
    assert model.g.groups == 4 and model.d.groups == 12


def test_fixed_filters_are_buffers_with_the_irs_kernels():
    net = cnndsl.loads(
        """network fixed {
            input(3, 9, 9)
            blur: conv(3, 5, padding=same, groups=3, weights=gaussian, sigma=1.5)
            box: conv(3, 3, padding=same, groups=3, weights=box)
            edges: conv(1, 3, padding=same, weights=sobel_x)
            custom: conv(1, 3, weights=((0, -1, 0), (-1, 5, -1), (0, -1, 0)), activation=relu)
        }"""
    )
    model = to_torch(net).eval()
    assert list(model.parameters()) == [] and shapes(model) == expected_state_dict(net)
    gaussian = torch.tensor(cnndsl.ops.preset_kernel("gaussian", (5, 5), 1.5), dtype=torch.float32)
    assert torch.equal(model.blur.weight, gaussian.expand(3, 1, 5, 5))
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    x = torch.randn(1, 3, 9, 9)
    y = F.conv2d(x, gaussian.expand(3, 1, 5, 5), padding=2, groups=3)
    y = F.conv2d(y, torch.full((3, 1, 3, 3), 1 / 9), padding=1, groups=3)
    y = F.conv2d(y, sobel.expand(1, 3, 3, 3), padding=1)  # the three channels' gradients, summed
    y = F.relu(F.conv2d(y, torch.tensor([[[[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]]])))
    assert torch.allclose(forward(model, x), y, atol=1e-5)
    model.train()
    assert model(x).requires_grad is False  # nothing to train


def test_local_response_norm_is_torchs():
    x = torch.randn(2, 7, 5, 5)
    for layer in ("lrn(3, alpha=0.001, beta=0.5, k=2.0)", "norm: lrn(3, alpha=0.001, beta=0.5, k=2.0)"):
        model, _ = single(layer, "7, 5, 5")
        reference = torch.nn.LocalResponseNorm(3, alpha=0.001, beta=0.5, k=2.0)
        assert torch.allclose(forward(model, x), reference(x))
    # by hand, for one element: b = a / (k + alpha / size * sum of a^2 over channels c-1..c+1) ** beta
    a = x[0, :, 2, 2]
    by_hand = a[3] / (2.0 + 0.001 / 3 * (a[2:5] ** 2).sum()) ** 0.5
    assert torch.allclose(forward(model, x)[0, 3, 2, 2], by_hand)


@pytest.mark.parametrize(
    ("layer", "reference"),
    [
        ("conv_transpose(3, 3, strides=2, padding=1, output_padding=1)", dict(stride=2, padding=1, output_padding=1)),
        ("conv_transpose(3, 4, strides=2, padding=same)", dict(stride=2, padding=1)),  # crop 1 and 1
        ("conv_transpose(3, 1, strides=2, padding=same)", dict(stride=2, output_padding=1)),  # extend by 1
        ("conv_transpose(3, 3, strides=2, padding=same)", dict(stride=2)),  # crop 0 and 1: see below
    ],
)
def test_conv_transpose(layer, reference):
    model, net = single(layer, "2, 4, 5")
    up = only(model, torch.nn.ConvTranspose2d)
    x = torch.randn(1, 2, 4, 5)
    expected = F.conv_transpose2d(x, up.weight, up.bias, **reference)
    if "3, 3, strides=2, padding=same" in layer:
        expected = expected[:, :, :-1, :-1]  # the full 9x11 output, its last row and column cropped
    assert expected.shape[1:] == net.output_shape
    assert torch.allclose(forward(model, x), expected, atol=1e-6)


def test_open_sizes_run_at_any_size_and_match_the_ir():
    net = cnndsl.loads(
        """network fcn {
            input(3, ?, ?)
            conv(8, 3, strides=2, padding=1); relu()
            maxpool(3, strides=2, padding=same)
            conv(8, 3, padding=same)
            avgpool(2, ceil_mode=true)
            up: upsample(2, mode=bilinear)
            conv_transpose(4, 3, strides=2, padding=same)
            upsample(2, mode=zeros)
        }"""
    )
    model = to_torch(net)
    for h, w in ((32, 32), (17, 23), (9, 40)):
        y = forward(model, torch.randn(1, 3, h, w))
        expected = [eval(str(d), {"H": h, "W": w, "ceil": math.ceil}) for d in net.output_shape[1:]]
        assert list(y.shape[2:]) == expected, (h, w)


ACTIVATIONS = {
    "relu": torch.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu, "silu": F.silu,
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "softmax": lambda v: F.softmax(v, 1), "relu6": F.relu6,
    "hardswish": F.hardswish, "hardsigmoid": lambda v: F.relu6(v + 3) / 6,
}  # fmt: skip


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_standalone_and_fused(name):
    x = torch.randn(2, 6)
    fn = ACTIVATIONS[name]  # torch's defaults are the .cnn ones: leaky_relu 0.01, elu 1.0
    model, _ = single(f"{name}()", "6")
    assert torch.allclose(forward(model, x), fn(x))
    model, _ = single(f"dense(6, activation={name})", "6")
    assert torch.allclose(forward(model, x), fn(only(model, torch.nn.Linear)(x)))


def test_activation_arguments():
    x = torch.randn(2, 6)
    model, _ = single("leaky_relu(0.2)", "6")
    assert torch.allclose(forward(model, x), F.leaky_relu(x, 0.2))
    model, _ = single("elu(0.5)", "6")
    assert torch.allclose(forward(model, x), F.elu(x, 0.5))


# --- how the code is organised ---------------------------------------------------------------------------

VARIANTS = """
block unit(c, stride = 1) { conv(c, 3, strides=stride, padding=same, use_bias=false); batchnorm() }
block stage(n, c) { repeat n unit(c) }
network variants {
    input(3, 32, 32)
    a: unit(8)
    b: unit(8, stride=2)
    c: stage(2, 8)
    d: stage(3, 16)
}
"""


def test_instances_that_differ_in_structure_get_a_class_each():
    net = cnndsl.loads(VARIANTS)
    source = emit(net)
    # stride 2 on 32 pixels pads 0 then 1: a class that pads explicitly; the repeat count is structure
    assert "class Unit(nn.Sequential):" in source and "class Unit2(nn.Module):" in source
    assert "class Stage(nn.Sequential):" in source and "class Stage2(nn.Sequential):" in source
    assert "F.pad(x, (0, 1, 0, 1))" in source
    assert shapes(to_torch(net)) == expected_state_dict(net)


def test_instances_alike_in_structure_are_split_only_by_the_values_no_parameter_gives():
    # A class is written once for the instances alike in structure. Where they differ in a value that no
    # parameter gives and no caller could pass (a padding that depends on the input's size), they are split
    # by that value: those that agree stay together.
    net = cnndsl.loads(
        """
        block down(c) { conv(c, 3, strides=2, padding=same) }
        network n { input(3, 26, 26); d: down(8); e: down(8); f: down(8) }
        """
    )
    source = emit(net)
    assert "self.d = Down(3, 8)\n" in source and "F.pad(x, (0, 1, 0, 1))" in source  # 26 pixels: the odd one last
    assert "self.e = Down2(8, 8)\n" in source and "self.f = Down2(8, 8)\n" in source and "Down3" not in source
    assert shapes(to_torch(net)) == expected_state_dict(net)


def test_a_value_instances_pass_a_nested_block_that_no_parameter_gives_becomes_a_parameter():
    # half(c) is a function's value, not an expression of `c`: rather than a class for each value, the
    # class takes it as a keyword-only parameter that its callers pass (MobileNetV3's `squeeze`).
    net = cnndsl.loads(
        """
        def half(c) = c // 2
        block squeeze(c, s) { conv(s, 1); relu(); conv(c, 1) }
        block unit(c) { conv(c, 3, padding=1); squeeze(c, half(c)) }
        network n { input(3, 8, 8); a: unit(8); b: unit(16); c: unit(16) }
        """
    )
    source = emit(net)
    assert "class Unit(nn.Sequential):" in source and "Unit2" not in source
    assert "def __init__(self, in_channels: int, c: int, *, s: int) -> None:" in source
    assert "Squeeze(c, c, s)," in source
    assert "self.a = Unit(3, 8, s=4)\n" in source and "self.b = Unit(8, 16, s=8)\n" in source
    assert shapes(to_torch(net)) == expected_state_dict(net)


def test_a_last_module_that_a_word_parameter_chooses_is_appended_by_one_class():
    # torchvision's Conv2dNormActivation: one class, the activation layer as its argument says
    net = cnndsl.loads(ACTIVATION_CHOICE)
    source = emit(net)
    assert "class ConvBnAct(nn.Sequential):" in source and "ConvBnAct2" not in source
    assert 'act: str = "relu"' in source and 'if act == "relu":' in source and 'elif act == "hardswish":' in source
    assert "self.a = ConvBnAct(3, 4)\n" in source and 'self.b = ConvBnAct(4, 4, act="none")\n' in source
    model = to_torch(net)
    assert shapes(model) == expected_state_dict(net)  # the keys are the IR's: a.0.weight, a.1.running_mean ...
    assert [type(m[-1]).__name__ for m in (model.a, model.b, model.c)] == ["ReLU", "BatchNorm2d", "Hardswish"]
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        model.eval()
        b = model.b[1](model.b[0](model.a(x)))
        assert torch.equal(model.b(model.a(x)), b)
        assert torch.allclose(forward(model, x), F.hardswish(model.c[1](model.c[0](b))))


def test_instances_that_skip_a_closing_residual_share_a_class_that_returns_early():
    net = cnndsl.loads(
        """
        block unit(c, stride = 1) {
            x: identity()
            body: { conv(c, 3, strides=stride, padding=1, use_bias=false); batchnorm() }
            if stride == 1 and in.channels == c {
                drop: stochastic_depth(0.1)
                add(x)
            }
        }
        network n { input(4, 8, 8); a: unit(8, 2); b: unit(8); c: unit(8) }
        """
    )
    source = emit(net)
    assert "class Unit(nn.Module):" in source and "Unit2" not in source
    assert "residual: bool = False" in source and "        if residual:\n            self.drop = " in source
    assert "        if not self.residual:\n            return body\n" in source
    assert "self.a = Unit(4, 8, stride=2)\n" in source and "self.b = Unit(8, 8, residual=True)\n" in source
    model = to_torch(net)
    assert shapes(model) == expected_state_dict(net) and not hasattr(model.a, "drop")
    x = torch.randn(1, 4, 8, 8)
    a = forward(model.a, x)
    assert torch.equal(a, model.a.body(x))
    assert torch.equal(forward(model.b, a), model.b.body(a) + a)  # stochastic depth is the identity in eval


def test_a_block_ending_in_its_add_shares_one_class_with_and_without_the_projection():
    # The add closes the block whether it adds the input or its projection: instances that skip the
    # projection still share the class, with `downsample=False`.
    net = cnndsl.loads(
        """
        block unit(c, stride = 1) {
            residual { conv(c, 3, strides=stride, padding=1) } shortcut downsample { conv(c, 1, strides=stride) }
        }
        network n { input(4, 8, 8); a: unit(8, 2); b: unit(8); c: unit(8) }
        """
    )
    source = emit(net)
    assert "class Unit(nn.Module):" in source and "Unit2" not in source
    assert "self.a = Unit(4, 8, stride=2, downsample=True)\n" in source and "self.b = Unit(8, 8)\n" in source
    model = to_torch(net)
    assert shapes(model) == expected_state_dict(net) and model.b.downsample is None
    x = torch.randn(1, 8, 4, 4)
    assert torch.allclose(forward(model.b, x), forward(getattr(model.b, "0"), x) + x)


def test_arguments_written_in_terms_of_parameters_and_defaults():
    net = cnndsl.loads(
        """
        block conv_bn(filters, kernel = 3, stride = 1) {
            conv: conv(filters, kernel, strides=stride, padding=kernel // 2, use_bias=false)
            bn: batchnorm()
            relu()
        }
        block stack(width, expand = width * 4) { conv_bn(width, 1); conv_bn(width); conv_bn(expand, 1) }
        network n { input(3, 16, 16); s1: stack(8); s2: stack(4, expand=6) }
        """
    )
    source = emit(net)
    assert "def __init__(self, in_channels: int, filters: int, kernel: int = 3, stride: int = 1)" in source
    assert "padding=kernel // 2" in source
    assert "def __init__(self, in_channels: int, width: int, expand: int | None = None)" in source
    assert "        if expand is None:\n            expand = width * 4\n" in source
    assert "self.s1 = Stack(3, 8)\n" in source and "self.s2 = Stack(32, 4, expand=6)\n" in source
    assert shapes(to_torch(net)) == expected_state_dict(net)


def test_labels_that_clash_with_module_attributes_or_builtins_keep_their_keys():
    net = cnndsl.loads(
        """
        network clash {
            input(3, 8, 8)
            forward: conv(4, 3, padding=1)
            eval: batchnorm()
            conv(4, 1)
            to: sequence { keys: conv(4, 1); items: relu() }
            seq: { conv(4, 3, padding=1); residual { conv(4, 3, padding=1); type: batchnorm() }; relu() }
            add(forward)
            concat { list: conv(2, 1); input: conv(2, 1) }
            flatten()
            dense(3)
        }
        """
    )
    model = to_torch(net)
    assert shapes(model) == expected_state_dict(net)
    assert callable(model.forward) and model.training  # still nn.Module's
    y = forward(model, torch.randn(2, 3, 8, 8))
    assert y.shape == (2, 3)
    model.train()
    model(torch.randn(2, 3, 8, 8)).sum().backward()  # the in-place updates leave autograd intact
    assert all(p.grad is not None for p in model.parameters())


def test_backward_through_residual_and_inception_blocks():
    for name in ("resnet18", "googlenet"):
        model = to_torch(cnndsl.load(ARCH / f"{name}.cnn")).train()
        model(torch.randn(2, 3, 64, 64)).sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    "body",
    [
        "residual { conv(6, 1) } shortcut p { conv(6, 1) }; residual { conv(8, 1) } shortcut p { conv(8, 1) }",
        "p: conv(4, 1); residual { conv(6, 3, padding=1) } shortcut p { conv(6, 1) }",
        "residual { conv(6, 3, padding=1) } shortcut class { conv(6, 1) }",
    ],
)
def test_shortcut_labels_are_checked_as_labels(body):
    # Each would give two modules one name, or a module a name Python refuses.
    with pytest.raises(cnndsl.CnnDslError) as error:
        cnndsl.loads(f"network n {{ input(4, 8, 8); {body} }}")
    assert error.value.code in ("E208", "E212")


def test_a_doctored_ir_cannot_inject_code():
    net = cnndsl.loads("block b(c) { conv(c, 3) }\nnetwork n { input(3, 8, 8); x: b(4) }")
    conv = net.nodes[1]
    hostile = replace(conv, exprs={"filters": Param(name="__import__('os').system('echo hi')")})
    source = emit(replace(net, nodes=(net.nodes[0], hostile)))
    assert "__import__" not in source and "nn.Conv2d(in_channels, 4, kernel_size=3)" in source
    for update in (
        {"name": "x.y; import os"},
        {"name": "x.__class__"},
    ):
        bad = replace(net, nodes=(net.nodes[0], replace(conv, **update)))
        with pytest.raises(ValueError):
            emit(bad)
    bad_block = replace(net.scopes[1], block="b(); import os; B")
    with pytest.raises(ValueError):
        emit(replace(net, scopes=(net.scopes[0], bad_block)))


def test_an_ir_from_json_gives_the_same_source(sources):
    net = cnndsl.load(ARCH / "googlenet.cnn")
    assert emit(cnndsl.Network.from_json(net.to_json())) == sources["googlenet"]


# --- the rest of the PyTorch ecosystem -----------------------------------------------------------------------


def test_torch_compile_runs_and_matches_eager():
    model = to_torch(cnndsl.load(ARCH / "lenet5.cnn")).eval()
    x = torch.randn(4, 1, 32, 32)
    fast = torch.compile(model, backend="aot_eager")
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-6)


def test_torch_export_of_resnet18():
    model = to_torch(cnndsl.load(ARCH / "resnet18.cnn")).eval()
    x = torch.randn(1, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.allclose(exported.module()(x), model(x), atol=1e-5)
    assert set(exported.state_dict) >= {"layer2.0.downsample.0.weight", "fc.weight"}


# --- training proves it is real ------------------------------------------------------------------------------


def test_lenet5_learns_the_digits():
    train_digits = load_file(ROOT / "examples" / "train_digits.py")
    assert train_digits.main(epochs=4, seed=0) >= 0.95  # 8x8 digits upsampled to 32x32, a quarter held out


# --- today's CNNs: gates, channel split and shuffle, stochastic depth, extra outputs, quoted labels -----------


@pytest.mark.parametrize("how", ["memory", "file"])
def test_the_new_ops_compute_what_torch_computes(how, tmp_path):
    """A gate broadcast over the map, the second half of the channels, a shuffle, stochastic depth (the identity in
    eval mode) and an extra output: forward returns (main, aux), as the ONNX graph does."""
    net = cnndsl.loads(NEW_OPS)
    model = to_torch(net)
    if how == "file":
        (tmp_path / "n.py").write_text(emit(net))
        model = load_file(tmp_path / "n.py").build()
    assert list(shapes(model)) == ["aux.2.weight", "aux.2.bias", "g.weight", "g.bias"]
    x = torch.randn(2, 8, 6, 5, generator=torch.Generator().manual_seed(0))
    main, aux = forward(model, x)
    w = model.state_dict()
    a = x.relu()
    pooled = a.mean((2, 3))
    gate = F.hardsigmoid(pooled @ w["g.weight"][:, :, 0, 0].T + w["g.bias"])  # relu6(z + 3) / 6
    y = (a * gate[:, :, None, None])[:, 4:]
    y = y.reshape(2, 2, 2, 6, 5).transpose(1, 2).reshape(2, 4, 6, 5)
    assert torch.allclose(main, y, atol=1e-6)
    assert torch.allclose(aux, pooled @ w["aux.2.weight"].T + w["aux.2.bias"], atol=1e-6)


def test_the_new_ops_read_like_torchvision():
    source = emit(cnndsl.loads(NEW_OPS))
    assert "        x = a * x\n" in source  # the gate, broadcast over the map
    assert ".chunk(2, dim=1)[1]" in source and "channel_shuffle(" in source
    assert "def channel_shuffle(x: Tensor, groups: int) -> Tensor:" in source  # torchvision's, carried along
    assert "    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:" in source
    assert '        return stochastic_depth(x, 0.3, "row", self.training), aux\n' in source


def test_extra_outputs_keep_their_values():
    """An extra output read again by the main path is not overwritten by an in-place ReLU, and is named."""
    net = cnndsl.loads("network n { input(4, 3, 3); conv(4, 1); a: output relu(); b: output { relu() } }")
    assert "        return x, a, b\n" in emit(net)
    main, a, b = forward(to_torch(net), torch.randn(1, 4, 3, 3))
    assert (main < 0).any() and torch.equal(a, main.relu()) and torch.equal(b, a)


def test_stochastic_depth_drops_whole_samples_while_training():
    """torchvision.ops.StochasticDepth, mode "row": each sample is zero or scaled by 1 / (1 - p); identity in eval."""
    net = cnndsl.loads("block b(p) { s: stochastic_depth(p) }\nnetwork n { input(4, 3, 3); body: b(0.5) }")
    model = to_torch(net)
    assert "StochasticDepth(p=0.5, mode=row)" in repr(model) and not list(model.state_dict())
    x = torch.ones(64, 4, 3, 3)
    assert torch.equal(forward(model, x), x)
    torch.manual_seed(0)
    y = model.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(per_sample.min(1).values, per_sample.max(1).values)  # whole samples
    kept = (per_sample[:, 0] > 0).float().mean().item()
    assert 0.3 < kept < 0.7


def test_quoted_labels_are_the_state_dict_keys(tmp_path):
    text = (
        'network n { input(3, 8, 8); "block1-0": { conv(4, 1); relu() }; "class": conv(4, 1); s: sequence {'
        ' "block2-0": conv(4, 1); "block2-1": conv(4, 1) } }'
    )
    net = cnndsl.loads(text)
    source = emit(net)
    assert 'self.add_module("block1-0", nn.Sequential(' in source and 'getattr(self, "block1-0")(x)' in source
    assert '("block2-0", nn.Conv2d(4, 4, kernel_size=1)),' in source  # an nn.Sequential of an OrderedDict
    (tmp_path / "n.py").write_text(source)
    for model in (to_torch(net), load_file(tmp_path / "n.py").build()):
        assert list(shapes(model)) == [
            "block1-0.0.weight", "block1-0.0.bias", "class.weight", "class.bias",
            "s.block2-0.weight", "s.block2-0.bias", "s.block2-1.weight", "s.block2-1.bias",
        ]  # fmt: skip
    # torch.fx and torch.export reach the modules by name (fx's own code generator cannot call a module named by
    # a keyword, `self.class(...)`: that label stays out here)
    model = to_torch(cnndsl.loads(text.replace('"class": conv(4, 1); ', ""))).eval()
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(torch.fx.symbolic_trace(model)(x), forward(model, x))
    assert torch.equal(torch.export.export(model, (x,)).module()(x), forward(model, x))


def test_quoted_labels_starting_with_a_digit():
    """keras.applications' `"1_conv"`: registered and reached by name, its value's variable `x1_conv`."""
    net = cnndsl.loads('network n { input(3, 8, 8); b: sequence { "1_conv": conv(4, 1); "2_bn": batchnorm() }; '
                       'add { "3_conv": conv(4, 1); identity() } }')  # fmt: skip
    source = emit(net)
    assert 'self.add_module("3_conv", nn.Conv2d(4, 4, kernel_size=1))' in source
    assert 'x3_conv = getattr(self, "3_conv")(b)' in source
    model = to_torch(net).eval()
    assert list(shapes(model))[:2] == ["b.1_conv.weight", "b.1_conv.bias"]
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(torch.fx.symbolic_trace(model)(x), forward(model, x))


def outputs(y) -> tuple:
    return y if isinstance(y, tuple) else (y,)


def test_torch_compile_of_the_new_ops_matches_eager():
    """Gate, chunk, shuffle, stochastic depth and an extra output in one graph, without a graph break. Backend
    aot_eager (Dynamo and AOTAutograd's tracing, no code generation): inductor's C++ compilation takes minutes on
    CPU (252 s for mobilenet_v3_large at 64x64), aot_eager 20-30 s for each of the real networks."""
    model = to_torch(cnndsl.loads(NEW_OPS)).eval()
    fast = torch.compile(model, backend="aot_eager", fullgraph=True)
    x = torch.randn(2, 8, 6, 5)
    with torch.no_grad():
        for a, b in zip(outputs(fast(x)), outputs(model(x)), strict=True):
            assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize(
    ("file", "network", "args", "count"),
    [("mobilenet_v3.cnn", "mobilenet_v3_large", {}, 1), ("googlenet.cnn", "googlenet", {"aux_logits": True}, 3)],
)
def test_torch_export_of_gates_and_several_outputs(file, network, args, count):
    model = to_torch(cnndsl.load(ARCH / file, network, args=args)).eval()
    x = torch.randn(1, 3, 64, 64)  # their adaptive pools take it; googlenet's aux heads pool to 4 x 4
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        got, want = outputs(exported.module()(x)), outputs(model(x))
    assert len(got) == len(want) == count
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_module_named_training_is_a_located_error():
    """nn.Module keeps its train/eval flag as `training`: the front end refuses that label, quoted or not (E212,
    tests/test_errors.py), and the backend still refuses it in an IR read from JSON."""
    net = cnndsl.loads('network n {\n    input(3, 8, 8)\n    "trainin": conv(4, 1)\n}\n', path="n.cnn")
    net = cnndsl.Network.from_json(net.to_json().replace('"trainin"', '"training"'))
    with pytest.raises(cnndsl.CnnDslError) as e:
        emit(net)
    assert (e.value.code, e.value.line) == ("E500", 3) and "'training'" in e.value.message
