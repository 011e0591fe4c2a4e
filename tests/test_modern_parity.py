"""Today's CNNs at torchvision parity, through the front end and ONNX (which carry every op of the language):
parameter count, kernel MACs, the state_dict's keys and shapes, and the output for the deterministic weights
and input of tests/reference/forward/recipe.py against torchvision's, recorded in <model>.json beside it
(torch 2.14.1, torchvision 0.29.1)."""

from __future__ import annotations

import importlib.util
import json

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
    ("efficientnet.cnn", "efficientnet_v2_s", "efficientnet_v2_s"),
    ("mobilenet_v3.cnn", "mobilenet_v3_large", "mobilenet_v3_large"),
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
    pytest.importorskip("onnx")  # to_onnx needs it
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
    x = recipe.recipe_input(ref["input_shape"]).numpy()
    (got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})
    want = np.asarray(ref["output"], dtype=np.float64).reshape(ref["output_shape"])
    assert np.abs(got - want).max() / np.abs(want).max() <= TOLERANCE
