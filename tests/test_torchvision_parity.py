"""torchvision parity, outputs included: each network compiles to the parameter count and kernel MACs torchvision
records, its PyTorch model — built in memory and from the emitted file — has torchvision's state_dict (keys, order,
shapes, dtypes), loads the deterministic weights of tests/reference/forward/recipe.py strictly and gives
torchvision's output for the recipe's input.

tests/reference/forward/<model>.json are copies of the shared reference data (torch 2.14.1, torchvision 0.29.1,
eval mode); torchvision itself is not needed here.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache

import pytest
from conftest import ARCH, REFERENCE

import cnndsl

FORWARD = REFERENCE / "forward"
TOLERANCE = 1e-4  # max|a - b| / max|b|, as the reference data prescribes

# (file in architectures/, network, tests/reference/forward/<json>)
MODELS = [
    ("resnet18.cnn", "resnet18", "resnet18"),
    ("vgg16_bn.cnn", "vgg16_bn", "vgg16_bn"),
    ("squeezenet.cnn", "squeezenet1_1", "squeezenet1_1"),
    ("mobilenet_v2.cnn", "mobilenet_v2", "mobilenet_v2"),
    ("densenet.cnn", "densenet121", "densenet121"),
    ("inception_v3.cnn", "inception_v3", "inception_v3"),
]

# Today's CNNs (issue 15): gates, channel split and shuffle, stochastic depth, quoted module names, extra outputs.
# (file, network, json, network arguments); their counts are tested in test_modern_parity.py and
# test_forward_parity.py.
MODERN = [
    ("efficientnet.cnn", "efficientnet_b0", "efficientnet_b0", {}),
    ("efficientnet.cnn", "efficientnet_v2_s", "efficientnet_v2_s", {}),
    ("mobilenet_v3.cnn", "mobilenet_v3_large", "mobilenet_v3_large", {}),
    ("regnet.cnn", "regnet_y_400mf", "regnet_y_400mf", {}),
    ("shufflenet_v2.cnn", "shufflenet_v2_x1_0", "shufflenet_v2_x1_0", {}),
    ("googlenet.cnn", "googlenet", "googlenet_aux", {"aux_logits": True}),  # torchvision's googlenet(aux_logits=True)
]
SLOW = {"efficientnet_v2_s"}  # ~10 s a build
# torchvision registers RegNet's shortcut (`proj`) before the main path (`f`), and GoogLeNet's auxiliary heads
# after inception5b; the .cnn files write each where it computes, so only the order of the keys differs.
UNORDERED = {"regnet_y_400mf", "googlenet_aux"}


@cache
def recipe():
    """tests/reference/forward/recipe.py, the weights and input every reference output was computed with."""
    spec = importlib.util.spec_from_file_location("recipe", FORWARD / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(name: str) -> dict:
    return json.loads((FORWARD / f"{name}.json").read_text())


def params(models):
    return [pytest.param(file, network, ref, id=network) for file, network, ref in models]


@pytest.mark.parametrize(("file", "network", "ref"), params(MODELS))
def test_counts(file, network, ref):
    record = reference(ref)
    net = cnndsl.load(ARCH / file, network)
    assert net.params == record["params"]
    assert net.macs == record["kernel_macs_batch1"]
    assert [1, *net.input_shape] == record["input_shape"]
    assert [1, *net.output_shape] == record["output_shape"]


def emitted(net, directory):
    """The model `build()` of the emitted source gives, the file written to `directory` and imported."""
    from test_torch import load_file

    from cnndsl.backends.torch import emit

    path = directory / f"{net.name}.py"
    path.write_text(emit(net))
    return load_file(path).build()


def relative_error(net, record: dict, ordered: bool = True, model=None) -> float:
    """Build `net` in PyTorch (or take `model`, built from it), check its state_dict against torchvision's (in
    torchvision's order, unless not `ordered`), load the recipe's weights strictly and return
    max|y - reference| / max|reference| for the recipe's input (the main output: torchvision returns only that
    in eval mode)."""
    import torch

    model = cnndsl.to_torch(net) if model is None else model
    state = model.state_dict()
    got = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in state.items()]
    if ordered:
        assert got == record["state_dict"]  # keys in torchvision's order, shapes, dtypes
    else:
        assert sorted(got) == sorted(record["state_dict"])
    model.load_state_dict(recipe().recipe_state_dict(state), strict=True)
    x = recipe().recipe_input(record["input_shape"])
    with torch.no_grad():
        y = model.eval()(x)
    if isinstance(y, (tuple, list)):  # the extra outputs follow the main one
        y = y[0]
    expected = torch.tensor(record["output"]).reshape(record["output_shape"])
    assert y.shape == expected.shape
    return ((y - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize(("file", "network", "ref"), params(MODELS))
def test_forward(file, network, ref):
    error = relative_error(cnndsl.load(ARCH / file, network), reference(ref))
    assert error <= TOLERANCE, f"relative difference {error:.3g}"


def modern(models):
    marks = {name: [pytest.mark.slow] if name in SLOW else [] for *_, name, _ in models}
    return [
        pytest.param(file, network, ref, args, how, id=f"{ref}-{how}", marks=marks[ref])
        for file, network, ref, args in models
        for how in ("memory", "file")
    ]


@pytest.mark.parametrize(("file", "network", "ref", "args", "how"), modern(MODERN))
def test_forward_of_todays_cnns(file, network, ref, args, how, tmp_path):
    """Both the model in memory (`cnndsl.to_torch`) and the emitted file (`cnndsl compile -b torch`)."""
    net = cnndsl.load(ARCH / file, network, args=args)
    model = emitted(net, tmp_path) if how == "file" else None
    error = relative_error(net, reference(ref), ordered=ref not in UNORDERED, model=model)
    assert error <= TOLERANCE, f"relative difference {error:.3g}"


def test_googlenet_returns_its_auxiliary_logits_as_onnx_does():
    """googlenet(aux_logits=True) returns (logits, aux1, aux2) in eval mode too; torchvision records only the logits
    (compared above), so the auxiliary heads are compared with the ONNX backend's graph, built independently."""
    import numpy as np
    import torch

    ort = pytest.importorskip("onnxruntime")
    net = cnndsl.load(ARCH / "googlenet.cnn", "googlenet", args={"aux_logits": True})
    model = cnndsl.to_torch(net).eval()
    model.load_state_dict(recipe().recipe_state_dict(model.state_dict()), strict=True)
    weights = {k: v.numpy() for k, v in model.state_dict().items() if v.is_floating_point()}
    session = ort.InferenceSession(cnndsl.to_onnx(net, weights=weights).SerializeToString())
    x = recipe().recipe_input([1, 3, 224, 224])
    with torch.no_grad():
        outputs = model(x)
    assert isinstance(outputs, tuple) and [tuple(y.shape) for y in outputs] == [(1, 1000)] * 3
    for got, want in zip(outputs, session.run(None, {"input": x.numpy()}), strict=True):
        assert np.abs(got.numpy() - want).max() / np.abs(want).max() <= TOLERANCE
    assert not torch.allclose(outputs[1], outputs[2])  # two heads, two answers


def test_a_state_dict_match_is_not_enough():
    """DenseNet with its layers' concatenation reversed (output before input) has exactly torchvision's
    state_dict and loads strictly, but computes something else: the forward comparison is what catches it."""
    source = (ARCH / "densenet.cnn").read_text()
    assert source.count("identity()") == 1
    body = source[source.index("concat {") : source.index("# Between dense blocks")]
    swapped = body.replace("        identity()\n", "").replace("    }\n}", "        identity()\n    }\n}", 1)
    assert swapped != body
    net = cnndsl.loads(source.replace(body, swapped), "densenet121")
    assert relative_error(net, reference("densenet121")) > 100 * TOLERANCE  # 0.13 measured
