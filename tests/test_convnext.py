"""ConvNeXt (architectures/convnext.cnn) at torchvision parity, and the constructs it brought: layer norm over
channels, dense layers on each position's channels of a map held channels-last, layer scale.

convnext_tiny's output is compared with torchvision's through ONNX in tests/test_modern_parity.py, through
Keras in tests/test_keras_modern.py, and here through the PyTorch backend: the output for
tests/reference/forward/recipe.py's weights and input, recorded in convnext_tiny.json beside it (torch
2.14.1, torchvision 0.29.1)."""

from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pytest
from conftest import ARCH, REFERENCE

import cnndsl
from cnndsl.errors import CnnDslError
from cnndsl.ir import Network

FORWARD = REFERENCE / "forward"
TOLERANCE = 1e-4  # max|a - b| / max|b|

_spec = importlib.util.spec_from_file_location("recipe", FORWARD / "recipe.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)

REF = json.loads((FORWARD / "convnext_tiny.json").read_text())
SHAPES = {key: tuple(shape) for key, shape, dtype in REF["state_dict"]}  # all float: no batch norm


def load(network: str = "convnext_tiny") -> Network:
    return cnndsl.load(ARCH / "convnext.cnn", network)


@pytest.mark.parametrize(
    "network, params",
    [
        ("convnext_tiny", 28_589_128),
        ("convnext_small", 50_223_688),
        ("convnext_base", 88_591_464),
        ("convnext_large", 197_767_336),
    ],
)
def test_every_member_has_torchvisions_parameter_count(network, params):
    assert load(network).params == params


def test_convnext_tiny_keys_params_and_macs_are_torchvisions():
    from cnndsl.backends.onnx import parameter_shapes

    net = load()
    assert net.params == REF["params"]
    assert net.macs == REF["kernel_macs_batch1"]  # conv and dense weights × output positions
    assert parameter_shapes(net) == SHAPES  # keys and shapes: a strict load
    assert SHAPES["features.1.0.layer_scale"] == (96, 1, 1)  # a bare parameter: no `.weight`
    assert SHAPES["features.1.0.block.2.weight"] == (96,)  # block.1 is the first Permute
    assert SHAPES["features.1.0.block.5.weight"] == (96, 384)  # block.6 the second


def test_convnext_tiny_output_through_pytorch():
    """The PyTorch backend's model loads torchvision's state_dict strictly and gives its output, with
    torchvision's modules: the Permutes are block.1 and block.6, the other layer norms LayerNorm2d."""
    torch = pytest.importorskip("torch")
    net = load()
    model = cnndsl.to_torch(net).eval()
    state = {key: recipe.recipe_tensor(key, shape) for key, shape in SHAPES.items()}
    model.load_state_dict(state, strict=True)
    assert [type(m).__name__ for m in model.features[1][0].block] == [
        "Conv2d", "Permute", "LayerNorm", "Linear", "GELU", "Linear", "Permute",
    ]  # fmt: skip
    assert type(model.features[0][1]).__name__ == type(model.classifier[0]).__name__ == "LayerNorm2d"
    with torch.no_grad():
        got = model(recipe.recipe_input(REF["input_shape"])).numpy()
    want = np.asarray(REF["output"], dtype=np.float64).reshape(REF["output_shape"])
    assert np.abs(got - want).max() / np.abs(want).max() <= TOLERANCE


def test_stochastic_depth_grows_linearly_over_all_blocks():
    """torchvision: block i of n (from 0, over every stage) drops with probability p * i / (n - 1)."""
    for network, blocks, top in (("convnext_tiny", 18, 0.1), ("convnext_small", 36, 0.4)):
        drops = [n.op for n in load(network).nodes if n.op.kind == "stochastic_depth"]
        assert len(drops) == blocks
        for i, op in enumerate(drops):
            assert op.mode == "row" and op.p == pytest.approx(top * i / (blocks - 1))


def test_the_map_is_held_channels_last_between_the_permutes():
    net = load()
    held = [n.name for n in net.nodes if n.id in net.held_last and n.name.startswith("features.1.0.")]
    assert held == [f"features.1.0.block.{i}" for i in range(1, 6)]  # the Permute, norm, dense, gelu, dense


# --- the constructs on small networks, in every backend ----------------------------------------------------

SMALL = """
network small {
    input(8, 9, 7)
    layernorm(eps=1e-6)                     # over channels, on a map held channels-first (LayerNorm2d)
    residual {
        conv(8, 7, padding=3, groups=8)
        channels_last()
        layernorm()
        dense(32)
        gelu()
        dense(8)
        channels_first()
        layer_scale: layer_scale(0.5)
    }
    stage: {
        conv(8, 1)
        residual {
            conv(8, 3, padding=1)
            layer_scale(0.25)               # a bare parameter inside an nn.ModuleDict
        }
        eval: layer_scale()                 # a name nn.Module uses itself
    }
    avgpool(3)                              # 8×3×2
    flatten()
    layernorm()                             # on a vector, after a flatten Keras orders H·W·C
    layer_scale(2.0)
    dense(5)
}
"""


def small_torch():
    torch = pytest.importorskip("torch")
    net = cnndsl.loads(SMALL)
    torch.manual_seed(0)
    model = cnndsl.to_torch(net).eval()
    with torch.no_grad():  # every weight away from its initial value, so that a mix-up shows
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + 1)
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        y = model(x).numpy()
    return net, model, x, y


def test_small_network_in_pytorch_and_onnx():
    ort = pytest.importorskip("onnxruntime")
    from cnndsl.backends.onnx import MIN_OPSET, onnx_from_torch

    net, model, x, y = small_torch()
    assert {"layer_scale", "stage.2", "stage.eval", "14"} <= set(model.state_dict())  # bare keys
    assert tuple(model.state_dict()["layer_scale"].shape) == (8, 1, 1)
    assert tuple(model.state_dict()["14"].shape) == (48,)  # on a vector
    for opset in (MIN_OPSET, None):  # LayerNormalization from opset 17, its formula before
        onnx_model = onnx_from_torch(net, model, opset=opset)
        (z,) = ort.InferenceSession(onnx_model.SerializeToString()).run(None, {"input": x.numpy()})
        assert np.abs(z - y).max() / np.abs(y).max() < 1e-5


def test_small_network_in_keras_with_transferred_weights():
    pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    net, model, x, y = small_torch()
    keras_model = cnndsl.to_keras(net)
    cnndsl.transfer_weights(model, keras_model, net)
    z = np.asarray(keras_model(np.transpose(x.numpy(), (0, 2, 3, 1))))
    assert np.abs(z - y).max() / np.abs(y).max() < TOLERANCE
    back = cnndsl.to_torch(net).eval()
    cnndsl.transfer_weights(keras_model, back, net)
    with torch.no_grad():
        assert np.abs(back(x).numpy() - y).max() == 0


def test_summary_receptive_field_and_diagram():
    net = cnndsl.loads(SMALL)
    table = net.summary(receptive_field=True)
    assert "channels_last" in table and "layernorm, eps 1e-06" in table and "layer_scale 0.5" in table
    assert "dense 32" in table
    from cnndsl.receptive import receptive_fields

    fields = receptive_fields(net)
    dense = next(n for n in net.nodes if n.op.kind == "dense")
    conv = net.nodes[dense.inputs[0] - 2]  # the depthwise 7×7 before channels_last and layernorm
    assert conv.op.kind == "conv" and fields[dense.id] == fields[conv.id]  # a dense on a map sees one position


def test_ir_round_trip_keeps_the_layout_and_refuses_an_output_held_channels_last():
    net = load()
    again = Network.from_json(net.to_json())
    assert again.held_last == net.held_last and again.params == net.params
    doctored = cnndsl.loads("network n {\n    input(4, 5, 5)\n    channels_last()\n    channels_first()\n}\n")
    data = json.loads(doctored.to_json())
    data["nodes"] = data["nodes"][:2]
    data["output"] = 1
    data["scopes"][0]["output"] = 1
    with pytest.raises(ValueError, match="held channels-last"):
        Network.from_json(json.dumps(data))


# --- errors -----------------------------------------------------------------------------------------------


def error_of(body: str) -> CnnDslError:
    with pytest.raises(CnnDslError) as e:
        cnndsl.loads("network n {\n    input(8, 6, 6)\n" + body + "\n}\n")
    return e.value


@pytest.mark.parametrize(
    "body, line, message, hint",
    [
        ("    channels_last()\n    conv(8, 3)\n    channels_first()", 4,
         "conv needs a map held channels-first, and this one is held channels-last", "add channels_first()"),
        ("    channels_last()\n    softmax()\n    channels_first()", 4, "activation needs a map held channels-first",
         None),
        ("    channels_last()\n    dense(4, activation=softmax)\n    channels_first()", 4, "dense needs a map held",
         None),
        ("    a: conv(8, 1)\n    channels_last()\n    add(a)\n    channels_first()", 5, "add needs a map held", None),
        ("    channels_first()", 3, "the map is held channels-first already", "ends what channels_last() began"),
        ("    channels_last()\n    channels_last()", 4, "held channels-last already", None),
        ("    channels_last()\n    dense(4)", 4, "the network's output 1 is held channels-last", "channels_first()"),
        ("    dense(10)", 3, "dense expects a vector, got 8×6×6", "channels_last()"),
        ("    flatten()\n    channels_last()", 4, "channels_last expects a C×H×W feature map, got 288", None),
        ("    layernorm(eps=0)", 3, "must be greater than 0", None),
    ],
)  # fmt: skip
def test_located_errors(body, line, message, hint):
    e = error_of(body)
    assert e.code in ("E304", "E205", "E202", "E203") and e.line == line, e.format()
    assert message in e.message, e.format()
    if hint is not None:
        assert hint in (e.hint or ""), e.format()


def test_the_documented_example():
    """docs/language.md's ConvNeXt example: torchvision's names, shapes and layouts."""
    from conftest import ROOT

    text = (ROOT / "docs" / "language.md").read_text()
    example = next(e for e in re.findall(r"```cnn\n(.*?)```", text, re.S) if "network convnext_stage" in e)
    net = cnndsl.loads(example)
    nodes = {n.name: n for n in net.nodes}
    assert nodes["stem.0"].shape == (48, 16, 16)
    assert nodes["stage.0.block.3"].op.kind == "dense" and nodes["stage.0.block.3"].shape == (192, 16, 16)
    assert nodes["stage.0.block.3"].macs == 48 * 192 * 16 * 16
    assert nodes["stage.1.layer_scale"].params == 48
    assert [nodes[f"stage.0.block.{i}"].id in net.held_last for i in range(7)] == [False] + [True] * 5 + [False]
    block = (48 * 49 + 48) + 2 * 48 + (48 * 192 + 192) + (192 * 48 + 48) + 48  # conv, norm, dense, dense, scale
    assert net.params == (3 * 16 * 48 + 48) + 2 * 48 + 2 * block + 2 * 48 + (48 * 10 + 10)
