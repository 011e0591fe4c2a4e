"""The architecture library: exact parameter and multiply-add counts against the published references, and
the headers that state them."""

from __future__ import annotations

import re

import pytest
from conftest import ARCH, NETWORKS, TORCHVISION, load_network, reference_header, reference_state_dict

import cnndsl

# Figures quoted by the issue and the papers; torchvision's come from tests/reference/ as well.
EXPECTED = {
    "lenet5": (61_706, 416_520),
    "alexnet": (61_100_840, 714_188_480),
    "vgg11": (132_863_336, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "googlenet": (6_624_904, 1_498_376_192),
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440),
    "resnet152": (60_192_808, 11_513_626_624),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_params_and_macs(name):
    net = cnndsl.load(ARCH / f"{name}.cnn")
    assert (net.params, net.macs) == EXPECTED[name]


@pytest.mark.parametrize("name", TORCHVISION + ["lenet5"])
def test_counts_match_reference_files(name):
    ref = reference_header(name if name == "lenet5" else f"torchvision_{name}")
    net = cnndsl.load(ARCH / f"{name}.cnn")
    assert net.params == int(ref["total_params"])
    assert net.macs == int(ref["kernel_macs"])
    assert "x".join(map(str, (1, *net.input_shape))) == ref["input_shape"]
    assert "x".join(map(str, (1, *net.output_shape))) == ref["output_shape"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_parametric_nodes_are_torchvisions_modules(name):
    """The front end alone already names every weight as torchvision does (the backends rely on it)."""
    ref = reference_state_dict(f"torchvision_{name}")
    net = cnndsl.load(ARCH / f"{name}.cnn")
    modules = {n.name: n for n in net.nodes if n.params}
    assert set(modules) == {k.rsplit(".", 1)[0] for k in ref}
    bn_channels = sum(n.shape[0] for n in modules.values() if n.op.kind == "batchnorm")
    assert (
        net.buffers
        == 2 * bn_channels
        == sum(shape[0] for key, shape in ref.items() if key.endswith(("running_mean", "running_var")))
    )


def test_every_file_names_its_paper(architecture):
    first = architecture.read_text().splitlines()[0]
    assert first.startswith("# ") and len(first) > 20


def header(path) -> str:
    """The comment lines that open a file."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("#"))])


@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_has_its_headers_parameter_count(name):
    """Where a file's header states parameter counts (people read them there), it states each network's own."""
    net = load_network(name)
    counts = re.findall(r"\d{1,3}(?:,\d{3})+", header(ARCH / f"{name.partition(':')[0]}.cnn"))
    assert not counts or f"{net.params:,}" in counts, (net.name, net.params, counts)


def test_unet_and_nin():
    unet = cnndsl.load(ARCH / "unet.cnn")
    assert unet.output_shape == (2, 128, 128)
    assert [n.shape for n in unet.nodes if n.op.kind == "concat"] == [(256, 32, 32), (128, 64, 64), (64, 128, 128)]
    nin = cnndsl.load(ARCH / "nin.cnn")
    # mlpconv1: 3*192*25+192 + 192*160+160 + 160*96+96; mlpconv2: 96*192*25+192 + 2*(192*192+192);
    # mlpconv3: 192*192*9+192 + 192*192+192 + 192*10+10
    expected = (
        (3 * 192 * 25 + 192) + (192 * 160 + 160) + (160 * 96 + 96)
        + (96 * 192 * 25 + 192) + 2 * (192 * 192 + 192)
        + (192 * 192 * 9 + 192) + (192 * 192 + 192) + (192 * 10 + 10)
    )  # fmt: skip
    assert nin.params == expected
    assert nin.output_shape == (10,)


def test_library_is_complete():
    names = {n.partition(":")[2] or load_network(n).name for n in NETWORKS}
    todays = {"efficientnet_b0", "efficientnet_v2_s", "mobilenet_v3_large", "regnet_y_400mf", "shufflenet_v2_x1_0"}
    others = {"densenet121", "inception_v3", "mobilenet_v2", "squeezenet1_1", "vgg16_bn"}  # issue 15's list
    assert names >= {*EXPECTED, "nin", "unet", *todays, *others}
