"""Issue 16's family files: every member of each torchvision family, from one .cnn file per family, with
torchvision's parameter count (torchvision 0.29.1's documented num_params), and torchvision's state_dict keys and
shapes wherever tests/reference/ holds them. Members without a reference listing are checked against torchvision's
construction logic, re-implemented here from its source (RegNet's BlockParams, EfficientNet's scaling)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest
from conftest import ARCH, REFERENCE, ROOT, reference_state_dict

import cnndsl

# file -> {network: torchvision's parameter count}, in the order of the file
FAMILIES = {
    "efficientnet": {
        "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b2": 9_109_994,
        "efficientnet_b3": 12_233_232, "efficientnet_b4": 19_341_616, "efficientnet_b5": 30_389_784,
        "efficientnet_b6": 43_040_704, "efficientnet_b7": 66_347_960, "efficientnet_v2_s": 21_458_488,
        "efficientnet_v2_m": 54_139_356, "efficientnet_v2_l": 118_515_272,
    },
    "mobilenet_v3": {"mobilenet_v3_small": 2_542_856, "mobilenet_v3_large": 5_483_032},
    "regnet": {
        "regnet_y_400mf": 4_344_144, "regnet_y_800mf": 6_432_512, "regnet_y_1_6gf": 11_202_430,
        "regnet_x_400mf": 5_495_976, "regnet_x_800mf": 7_259_656,
    },
    "shufflenet_v2": {
        "shufflenet_v2_x0_5": 1_366_792, "shufflenet_v2_x1_0": 2_278_604, "shufflenet_v2_x1_5": 3_503_624,
        "shufflenet_v2_x2_0": 7_393_996,
    },
    "densenet": {
        "densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480, "densenet201": 20_013_928,
    },
    "resnet": {
        "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
        "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
        "resnext101_64x4d": 83_455_272, "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
    },
    "mobilenet_v2": {"mobilenet_v2": 3_504_872},
}  # fmt: skip
MEMBERS = [(file, network, params) for file, members in FAMILIES.items() for network, params in members.items()]


def load(file: str, network: str, **args) -> cnndsl.Network:
    return cnndsl.load(ARCH / f"{file}.cnn", network, args=args or None)


@pytest.mark.parametrize("file, network, params", MEMBERS, ids=[m[1] for m in MEMBERS])
def test_member_has_torchvisions_parameter_count(file, network, params):
    net = load(file, network)
    assert net.params == params
    assert net.output_shape == (1000,) and net.input_shape[0] == 3


def test_check_prints_every_members_count():
    files = [f"architectures/{file}.cnn" for file in FAMILIES]
    r = subprocess.run([sys.executable, "-m", "cnndsl", "check", *files], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    printed = dict(re.findall(r"^(\w+): 3×\d+×\d+ → 1000, ([\d,]+) params", r.stdout, re.MULTILINE))
    assert printed == {network: f"{params:,}" for _, network, params in MEMBERS}


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl", *argv], capture_output=True, text=True, cwd=ROOT)


def test_network_and_resolution_from_the_command_line():
    r = cli("compile", "architectures/efficientnet.cnn", "--network", "efficientnet_b3", "--backend", "ir")
    assert r.returncode == 0, r.stderr
    net = cnndsl.Network.from_json(r.stdout)
    assert net.name == "efficientnet_b3" and net.input_shape == (3, 300, 300) and net.params == 12_233_232
    r = cli("summary", "architectures/efficientnet.cnn", "--network", "efficientnet_b0", "--set", "resolution=300")
    assert r.returncode == 0, r.stderr
    assert "Input: 3×300×300" in r.stdout and "Trainable params: 5,288,548" in r.stdout
    r = cli("compile", "architectures/efficientnet.cnn", "--backend", "ir", "--set", "resolution=300")
    assert r.returncode == 1 and "several networks are defined" in r.stderr  # a family file needs --network
    r = cli("summary", "architectures/efficientnet.cnn", "--network", "efficientnet_b9")
    assert r.returncode == 1 and "no network named 'efficientnet_b9'" in r.stderr


# --- keys and shapes against torchvision's listings ------------------------------------------------------------

FORWARD = REFERENCE / "forward"
# network -> reference JSON in tests/reference/forward/ (torchvision's state_dict, eval mode)
JSON = {
    "efficientnet_b0": "efficientnet", "efficientnet_v2_s": "efficientnet", "mobilenet_v3_large": "mobilenet_v3",
    "regnet_y_400mf": "regnet", "shufflenet_v2_x1_0": "shufflenet_v2", "densenet121": "densenet",
    "resnet18": "resnet", "resnet50": "resnet", "mobilenet_v2": "mobilenet_v2",
}  # fmt: skip


@pytest.mark.parametrize("network", sorted(JSON))
def test_state_dict_is_torchvisions(network):
    pytest.importorskip("onnx")
    from cnndsl.backends.onnx import parameter_shapes

    record = json.loads((FORWARD / f"{network}.json").read_text())
    expected = {key: tuple(shape) for key, shape, dtype in record["state_dict"] if dtype.startswith("float")}
    assert parameter_shapes(load(JSON[network], network)) == expected  # num_batches_tracked aside: a strict load


@pytest.mark.parametrize("network", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_members_are_the_single_network_files(network):
    pytest.importorskip("onnx")
    from cnndsl.backends.onnx import parameter_shapes

    expected = {k: v for k, v in reference_state_dict(f"torchvision_{network}").items() if v != ()}
    family = load("resnet", network)
    assert parameter_shapes(family) == expected
    single = cnndsl.load(ARCH / f"{network}.cnn")
    assert [(n.name, n.op, n.shape) for n in family.nodes] == [(n.name, n.op, n.shape) for n in single.nodes]
    assert family.macs == single.macs


def test_resnext_and_wide_resnet_bottlenecks():
    """torchvision's Bottleneck: width = int(planes * (width_per_group / 64)) * groups on conv1 and the grouped
    conv2; conv3 and the projection give planes * 4 as in ResNet-50."""
    for network, groups, width in (("resnext50_32x4d", 32, 128), ("resnext101_64x4d", 64, 256),
                                   ("resnext101_32x8d", 32, 256), ("wide_resnet50_2", 1, 128)):  # fmt: skip
        nodes = {n.name: n for n in load("resnet", network).nodes}
        conv2 = nodes["layer1.0.conv2"].op
        assert (conv2.filters, conv2.groups) == (width, groups), network
        assert nodes["layer1.0.conv1"].shape[0] == width and nodes["layer1.0.conv3"].shape[0] == 256
        assert nodes["layer4.2.conv2"].op.filters == width * 8 and nodes["layer4.2.conv3"].shape[0] == 2048


# --- RegNet: torchvision's BlockParams.from_init_params ------------------------------------------------------

REGNETS = {  # network: (depth, w_0, w_a, w_m, group_width, se_ratio), as torchvision's builders pass them
    "regnet_y_400mf": (16, 48, 27.89, 2.09, 8, 0.25), "regnet_y_800mf": (14, 56, 38.84, 2.4, 16, 0.25),
    "regnet_y_1_6gf": (27, 48, 20.71, 2.65, 24, 0.25), "regnet_x_400mf": (22, 24, 24.48, 2.54, 16, 0),
    "regnet_x_800mf": (16, 56, 35.73, 2.28, 16, 0),
}  # fmt: skip


def torchvision_block_params(depth, w_0, w_a, w_m, group_width):
    """torchvision/models/regnet.py BlockParams.from_init_params with bottleneck_multiplier 1, in float32 as
    torch computes it: the stages' widths, depths and group widths."""
    np = pytest.importorskip("numpy")
    widths_cont = np.arange(depth, dtype=np.float32) * np.float32(w_a) + np.float32(w_0)
    block_capacity = np.round(np.log(widths_cont / np.float32(w_0)) / np.float32(math.log(w_m)))
    block_widths = (np.round(np.float32(w_0) * np.power(np.float32(w_m), block_capacity) / 8) * 8).astype(int)
    block_widths = block_widths.tolist()
    splits = [w != wp for w, wp in zip(block_widths + [0], [0] + block_widths)]
    stage_widths = [w for w, t in zip(block_widths, splits[:-1]) if t]
    stage_depths = np.diff([d for d, t in enumerate(splits) if t]).tolist()

    def make_divisible(v, divisor):
        new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
        return new_v + divisor if new_v < 0.9 * v else new_v

    groups = [min(group_width, w) for w in stage_widths]
    return [make_divisible(w, g) for w, g in zip(stage_widths, groups)], stage_depths, groups


@pytest.mark.parametrize("network", sorted(REGNETS))
def test_regnet_stages_follow_block_params(network):
    depth, w_0, w_a, w_m, group_width, se_ratio = REGNETS[network]
    widths, depths, groups = torchvision_block_params(depth, w_0, w_a, w_m, group_width)
    nodes = {n.name: n for n in load("regnet", network).nodes}
    width_in = 32
    for k, (w, d, g) in enumerate(zip(widths, depths, groups), start=1):
        names = [f"trunk_output.block{k}.block{k}-{j}" for j in range(d)]
        assert (
            all(f"{name}.f.a.0" in nodes for name in names) and f"trunk_output.block{k}.block{k}-{d}.f.a.0" not in nodes
        )
        b = nodes[f"{names[0]}.f.b.0"]
        assert (b.op.filters, b.op.groups, b.op.strides) == (w, w // g, (2, 2))
        assert f"{names[0]}.proj.0" in nodes and (len(names) == 1 or f"{names[1]}.proj.0" not in nodes)
        se = nodes.get(f"{names[0]}.f.se.fc1")
        assert (se.op.filters if se else 0) == int(round(se_ratio * width_in))  # a quarter of the block's input
        width_in = w
    assert f"trunk_output.block{len(widths) + 1}.block{len(widths) + 1}-0.f.a.0" not in nodes


# --- EfficientNet: one description, members that differ in their arguments ----------------------------------


def test_efficientnet_b0_to_b7_differ_only_in_their_arguments():
    text = (ARCH / "efficientnet.cnn").read_text()
    bodies = re.findall(r"^network efficientnet_b\d\((.*?)\) \{\n(.*?)^\}", text, re.MULTILINE | re.DOTALL)
    assert len(bodies) == 8 and len({body for _, body in bodies}) == 1
    params = {tuple(re.findall(r"(\w+) = ", head)) for head, _ in bodies}
    assert params == {("width", "depth", "resolution", "dropout", "bn", "classes")}


@pytest.mark.parametrize(
    "network, width, depth, eps, momentum, dropout",
    [
        ("efficientnet_b1", 1.0, 1.1, 1e-5, 0.1, 0.2),
        ("efficientnet_b4", 1.4, 1.8, 1e-5, 0.1, 0.4),
        ("efficientnet_b7", 2.0, 3.1, 1e-3, 0.01, 0.5),
        ("efficientnet_v2_m", 1.0, 1.0, 1e-3, 0.1, 0.3),
    ],
)
def test_efficientnet_scaling_as_torchvision(network, width, depth, eps, momentum, dropout):
    """_efficientnet_conf: ceil(layers × depth) blocks per stage, _make_divisible(channels × width, 8) widths;
    B5…B7 and V2 with TensorFlow's batch norm; stochastic depth 0.2 · i / n over all n blocks."""
    net = load("efficientnet", network)
    stages = {}  # features.<stage> -> its blocks
    for node in net.nodes:
        m = re.match(r"features\.(\d+)\.(\d+)\.", node.name)
        if m:
            stages.setdefault(int(m[1]), set()).add(int(m[2]))
    rows = (1, 2, 2, 3, 3, 4, 1) if network.startswith("efficientnet_b") else (3, 5, 5, 7, 14, 18, 5)
    assert [len(stages[s]) for s in sorted(stages)] == [math.ceil(n * depth) for n in rows]
    bns = {(n.op.eps, n.op.momentum) for n in net.nodes if n.op.kind == "batchnorm"}
    assert bns == {(eps, momentum)}
    assert [n.op.rate for n in net.nodes if n.op.kind == "dropout"] == [dropout]
    order = sorted({m[0] for n in net.nodes if (m := re.match(r"features\.\d+\.\d+(?=\.)", n.name))},
                   key=lambda s: tuple(map(int, s.split(".")[1:])))  # fmt: skip
    drops = {n.name.rsplit(".", 1)[0]: n.op.p for n in net.nodes if n.op.kind == "stochastic_depth"}
    assert drops and all(p == pytest.approx(0.2 * order.index(name) / len(order)) for name, p in drops.items())
    stem = net.nodes[1]
    assert stem.op.filters == max(8, int(32 * width + 4) // 8 * 8) if network.startswith("efficientnet_b") else 24


# --- the constructs the issue asks the families to use ---------------------------------------------------------


def test_densenet_has_no_hand_written_layer_labels():
    text = (ARCH / "densenet.cnn").read_text()
    assert "denselayer{j + 1}: " in text and not re.search(r"^\s*denselayer\d+:", text, re.MULTILINE)
    names = {n.name for n in load("densenet", "densenet161").nodes}
    assert "features.denseblock3.denselayer36.conv2" in names and "features.denseblock3.denselayer37.conv2" not in names
    assert "features.transition3.conv" in names and "features.transition4.conv" not in names


def test_mobilenet_v2_has_one_inverted_residual():
    text = (ARCH / "mobilenet_v2.cnn").read_text()
    assert text.count("block inverted_residual(") == 1 and text.count("inverted_residual(") == 2  # defined, called
    assert "residual {" not in text and "in.channels" in text
    net = load("mobilenet_v2", "mobilenet_v2")
    adds = sorted({int(n.name.split(".")[1]) for n in net.nodes if n.op.kind == "add"})
    assert adds == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]  # torchvision's use_res_connect blocks
    assert load("mobilenet_v2", "mobilenet_v2", width=1.4).params == 6_108_776  # torchvision's width_mult=1.4


def test_mobilenet_v3_small_as_torchvision():
    nodes = {n.name: n for n in load("mobilenet_v3", "mobilenet_v3_small").nodes}
    # features.1: no expansion (16 → 16), stride 2, squeeze-excitation on 16 channels to _make_divisible(4, 8)
    assert nodes["features.1.block.0.0"].op.groups == 16 and nodes["features.1.block.1.fc1"].op.filters == 8
    assert nodes["features.12.0"].op.filters == 576 and nodes["classifier.0"].op.units == 1024
    assert {n.name.split(".")[1] for n in nodes.values() if n.op.kind == "add"} == {"3", "5", "6", "8", "10", "11"}


def test_shufflenet_widths_and_repeats():
    for network, widths in (("shufflenet_v2_x0_5", (48, 96, 192)), ("shufflenet_v2_x2_0", (244, 488, 976))):
        nodes = {n.name: n for n in load("shufflenet_v2", network).nodes}
        for stage, (width, repeats) in enumerate(zip(widths, (4, 8, 4)), start=2):
            assert nodes[f"stage{stage}.0.branch1.2"].op.filters == width // 2
            assert f"stage{stage}.{repeats - 1}.branch2.0" in nodes and f"stage{stage}.{repeats}.branch2.0" not in nodes
            assert f"stage{stage}.1.branch1.0" not in nodes  # stride 1: the first half goes through unchanged


def test_torch_emitter_collects_like_terms_of_a_channel_sum():
    import ast

    from cnndsl.backends.arith import sum_of

    def collected(text):
        return ast.unparse(sum_of([ast.parse(text, mode="eval").body]))

    assert collected("stem + growth + growth + 2 * growth + 3 + 4") == "stem + 4 * growth + 7"
    assert collected("(a + b) + (a + 2 * b)") == "2 * a + 3 * b"
    assert collected("a - b + b") == "a - b + b"  # only sums are collected
    pytest.importorskip("torch")
    from cnndsl.backends.torch import emit

    source = emit(load("densenet", "densenet121"))
    assert "DenseLayer(stem + 5 * growth, growth, bn_size=bn_size)" in source
    assert "self.transition1 = Transition(stem + 6 * growth, 128)" in source


def test_a_default_computed_from_the_other_arguments_is_left_out_of_a_call():
    """Summaries and diagrams write a block call as one would: resnet50's bottleneck(64), not
    bottleneck(64, width=64), since width = channels * width_per_group // 64 * groups gives 64 there."""
    from cnndsl.util import short_call

    net = load("resnet", "resnext50_32x4d")
    calls = {s.name: short_call(s, net.blocks[s.block]) for s in net.scopes if s.kind == "block"}
    assert calls["layer1.0"] == "bottleneck(64, groups=32, width_per_group=4)"
    net = load("resnet", "resnet50")
    assert short_call(next(s for s in net.scopes if s.name == "layer2.0"), net.blocks["bottleneck"]) == (
        "bottleneck(128, stride=2)"
    )
    net = load("mobilenet_v2", "mobilenet_v2")  # a default that reads `in` is not in the IR: shown
    assert short_call(next(s for s in net.scopes if s.name == "features.2"), net.blocks["inverted_residual"]) == (
        "inverted_residual(24, 2, 6, 96)"
    )


def test_defaults_of_every_kind_are_computed_from_the_ir():
    """short_call evaluates the IR's default expressions (cnndsl.expr) as Python would: words, sizes, tuples,
    arithmetic on the other arguments; a default it cannot compute (a file constant, a division by zero) is
    shown as given."""
    from cnndsl import expr
    from cnndsl.compiler import Compiler
    from cnndsl.util import short_call

    c = Compiler()
    c.add_text("""
let k = 3
block b(c, pad = same, act = relu, size = (3, 3), fl = c // 2, neg = -c, kk = k, t = (c, c * 2), f = 0.5 * c,
        z = 1 % (c - 7)) {
    conv(c, 1)
}
network n {
    input(8, 8, 8)
    b(8)
    b(8, pad=valid, act=tanh, size=3x3, fl=4, neg=-8, kk=4, t=(8, 16), f=4.0)
    b(9, fl=5, neg=9, t=(9, 17), f=4)
}
""")
    net = c.compile("n")
    calls = [short_call(s, net.blocks["b"]) for s in net.scopes if s.kind == "block"]
    assert calls == ["b(8, kk=3)", "b(8, pad=valid, act=tanh, kk=4)", "b(9, fl=5, neg=9, kk=3, t=(9, 17), f=4)"]
    assert expr.evaluate(net.blocks["b"]["t"], {"c": 5}) == (5, 10)
    with pytest.raises(ZeroDivisionError):
        expr.evaluate(net.blocks["b"]["z"], {"c": 7})
    with pytest.raises(TypeError):
        expr.evaluate(net.blocks["b"]["neg"], {"c": "same"})
