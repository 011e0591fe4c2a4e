"""Today's CNNs at torchvision parity, through the front end and ONNX (which carry every op of the language):
parameter count, kernel MACs, the state_dict's keys and shapes, and the output for the deterministic weights
and input of tests/reference/forward/recipe.py against torchvision's, recorded in <model>.json beside it
(torch 2.14.1, torchvision 0.29.1). The PyTorch backend's models of them are tested in test_torchvision_parity.py."""

from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pytest
from conftest import ARCH, REFERENCE

import cnndsl

FORWARD = REFERENCE / "forward"
TOLERANCE = 1e-4  # max|a - b| / max|b|

_spec = importlib.util.spec_from_file_location("recipe", FORWARD / "recipe.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)

# (file in architectures/, network, reference)
MODELS = [
    ("efficientnet.cnn", "efficientnet_b0", "efficientnet_b0"),
    pytest.param("efficientnet.cnn", "efficientnet_v2_s", "efficientnet_v2_s", marks=pytest.mark.slow),  # ~10 s
    ("mobilenet_v3.cnn", "mobilenet_v3_large", "mobilenet_v3_large"),
    ("convnext.cnn", "convnext_tiny", "convnext_tiny"),
]


def reference(name: str) -> dict:
    return json.loads((FORWARD / f"{name}.json").read_text())


def float_entries(ref: dict) -> dict[str, tuple[int, ...]]:
    """torchvision's state_dict without its integer entries: batch norm's num_batches_tracked is an int64
    buffer that only counts training steps, and cnndsl does not model it (the ONNX backend has no use for
    it, the PyTorch backend's BatchNorm2d makes it itself)."""
    return {key: tuple(shape) for key, shape, dtype in ref["state_dict"] if dtype.startswith("float")}


@pytest.mark.parametrize("file, network, name", MODELS)
def test_torchvision_parity(file, network, name):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnndsl.backends.onnx import parameter_shapes

    ref = reference(name)
    net = cnndsl.load(ARCH / file, network)
    assert net.params == ref["params"]
    assert net.macs == ref["kernel_macs_batch1"]
    assert (1, *net.input_shape) == tuple(ref["input_shape"])
    assert (1, *net.output_shape) == tuple(ref["output_shape"])
    shapes = float_entries(ref)
    assert parameter_shapes(net) == shapes  # keys and shapes, parameters and buffers: a strict load

    weights = {key: recipe.recipe_tensor(key, shape).numpy() for key, shape in shapes.items()}
    model = cnndsl.to_onnx(net, weights=weights)
    onnx.checker.check_model(model.SerializeToString(), full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True, check_type=True)
    x = recipe.recipe_input(ref["input_shape"]).numpy()
    (got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})
    want = np.asarray(ref["output"], dtype=np.float64).reshape(ref["output_shape"])
    assert np.abs(got - want).max() / np.abs(want).max() <= TOLERANCE


@pytest.mark.parametrize("network, blocks", [("efficientnet_b0", 16), ("efficientnet_v2_s", 40)])
def test_stochastic_depth_grows_with_the_block_index(network, blocks):
    """torchvision's MBConv i (from 0, over all stages) drops its residual branch with probability
    0.2 * i / blocks while training, and only where the block has a residual connection (an identity in
    inference, so the forward comparison cannot see it)."""
    net = cnndsl.load(ARCH / "efficientnet.cnn", network)
    order = []  # features.<stage>.<index> of every block, in order
    for node in net.nodes:
        m = re.match(r"features\.\d+\.\d+(?=\.)", node.name)
        if m and m[0] not in order:
            order.append(m[0])
    assert len(order) == blocks
    drops = {n.name.rsplit(".", 1)[0]: n.op for n in net.nodes if n.op.kind == "stochastic_depth"}
    adds = {n.name.rsplit(".", 1)[0] for n in net.nodes if n.op.kind == "add"}
    assert set(drops) == adds  # exactly the residual blocks
    for name, op in drops.items():
        assert op.mode == "row" and op.p == pytest.approx(0.2 * order.index(name) / blocks)
