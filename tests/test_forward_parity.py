"""torchvision parity of ShuffleNetV2 x1.0, RegNetY-400MF and GoogLeNet with its auxiliary classifiers, through the
front end and ONNX: parameter and multiply-add counts, the state_dict (keys, shapes, float dtypes), the ONNX checker
with strict shape inference, and onnxruntime's output for the deterministic weights and input of
tests/reference/forward/recipe.py against torchvision's recorded one (tests/reference/forward/<model>.json, copied
from the shared reference data). The PyTorch backend's models of them are tested in test_torchvision_parity.py."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ARCH, REFERENCE

import cnndsl

FORWARD = REFERENCE / "forward"

# reference json -> (.cnn file, network, network arguments)
MODELS = {
    "shufflenet_v2_x1_0": ("shufflenet_v2", "shufflenet_v2_x1_0", {}),
    "regnet_y_400mf": ("regnet", "regnet_y_400mf", {}),
    "googlenet_aux": ("googlenet", "googlenet", {"aux_logits": True}),  # torchvision's googlenet(aux_logits=True)
}

# torchvision's kernel MACs are counted on an eval-mode forward pass, which skips the auxiliary classifiers;
# cnndsl counts every output. Each InceptionAux head: 1x1 conv 128·C_in·4·4 + fc1 2048·1024 + fc2 1024·1000.
AUX_MACS = {
    "googlenet_aux": (128 * 512 * 16 + 2048 * 1024 + 1024 * 1000) + (128 * 528 * 16 + 2048 * 1024 + 1024 * 1000)
}


def _reference(name: str) -> dict:
    return json.loads((FORWARD / f"{name}.json").read_text())


def _net(name: str):
    stem, network, args = MODELS[name]
    return cnndsl.load(ARCH / f"{stem}.cnn", network=network, args=args)


def _float_state_dict(ref: dict) -> dict[str, tuple[int, ...]]:
    """torchvision's state_dict without its integer buffers (num_batches_tracked, which cnndsl does not model)."""
    return {key: tuple(shape) for key, shape, dtype in ref["state_dict"] if dtype.startswith("float")}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_counts(name):
    ref, net = _reference(name), _net(name)
    assert (net.params, net.macs) == (ref["params"], ref["kernel_macs_batch1"] + AUX_MACS.get(name, 0))
    main_path = sum(n.macs for n in net.nodes if not n.name.startswith(("aux1.", "aux2.")))
    assert main_path == ref["kernel_macs_batch1"]
    assert (1, *net.input_shape) == tuple(ref["input_shape"])
    assert (1, *net.output_shape) == tuple(ref["output_shape"])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_dict(name):
    pytest.importorskip("onnx")
    from cnndsl.backends.onnx import parameter_shapes

    ref, net = _reference(name), _net(name)
    assert parameter_shapes(net) == _float_state_dict(ref)
    assert all(dtype in ("float32", "int64") for _, _, dtype in ref["state_dict"])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output(name):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    sys.path.insert(0, str(FORWARD))
    try:
        from recipe import recipe_input, recipe_tensor
    finally:
        sys.path.remove(str(FORWARD))
    import numpy as np

    ref, net = _reference(name), _net(name)
    weights = {key: recipe_tensor(key, shape).numpy() for key, shape in _float_state_dict(ref).items()}
    model = cnndsl.to_onnx(net, weights=weights)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    sizes = [[d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim] for o in inferred.graph.output]
    assert [tuple(s[1:]) for s in sizes] == [net.output_shape, *(net.nodes[i].shape for i in net.extra_outputs)]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = recipe_input(tuple(ref["input_shape"])).numpy()
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    assert [o.shape[1:] for o in outputs] == [net.output_shape, *(net.nodes[i].shape for i in net.extra_outputs)]
    y = outputs[0]  # the main output; torchvision records only that one (eval mode)
    expected = np.asarray(ref["output"], dtype=np.float64).reshape(ref["output_shape"])
    assert y.shape == expected.shape
    assert np.abs(y - expected).max() / np.abs(expected).max() <= 1e-4
