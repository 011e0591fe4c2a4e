"""The ONNX backend: ONNX's checker and shape inference as a second opinion on the IR, and onnxruntime
against the PyTorch backend on the architectures and on small networks that exercise every op."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import ARCH, CHANNELS_LAST_OPS, NETWORKS, ROOT, TORCH_NETWORKS, load_network, torch_model
from onnx import TensorProto, helper

import cnndsl
from cnndsl import ops
from cnndsl.backends.onnx import (
    BATCH,
    DEFAULT_OPSET,
    MIN_OPSET,
    _valued,
    initial_weights,
    onnx_from_torch,
    parameter_shapes,
    to_onnx,
)

TOLERANCE = 1e-4  # the largest difference from torch, relative to the largest output of torch


def run_all(model: onnx.ModelProto | bytes, x: np.ndarray) -> list[np.ndarray]:
    """Every output: the main one, then the extra ones (`aux1: output ...`)."""
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def run(model: onnx.ModelProto | bytes, x: np.ndarray) -> np.ndarray:
    return run_all(model, x)[0]


def bare(net, model: onnx.ModelProto, ir_shapes: bool = False) -> onnx.ModelProto:
    """The graph alone: the weights become typed inputs (their values play no part), and unless `ir_shapes`
    the IR's shapes in value_info and on the output are left out."""
    g = model.graph
    weights = parameter_shapes(net)
    graph = helper.make_graph(
        list(g.node),
        g.name,
        [*g.input, *(helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in weights.items())],
        list(g.output)
        if ir_shapes
        else [helper.make_tensor_value_info(o.name, TensorProto.FLOAT, None) for o in g.output],
        [t for t in g.initializer if t.name not in weights],
        value_info=list(g.value_info) if ir_shapes else None,
    )
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def onnx_shapes(net, model: onnx.ModelProto) -> dict[str, list[int | str]]:
    """ONNX's own shape inference, from the graph alone (`bare`). Unknown dims come back as ""."""
    # data_prop: ONNX follows the sizes the graph computes (a channel shuffle reshapes to its input's Shape)
    inferred = onnx.shape_inference.infer_shapes(bare(net, model), strict_mode=True, data_prop=True).graph
    return {
        v.name: [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.input, *inferred.value_info, *inferred.output]
    }


def check_shapes(net, model: onnx.ModelProto) -> list[str]:
    """ONNX's inferred shape of every IR node's value against the IR's: they never contradict each other.
    Returns the values whose size (batch aside) ONNX could not follow exactly.

    A number ONNX infers must be the IR's. A symbol ONNX infers stands for one size: values that ONNX gives
    the same symbol (it propagates `N`, `H` and its own `unk__3` through relu, batch norm, add ...) must
    have the same size in the IR. ONNX follows no arithmetic on symbols, and after a padding computed at run
    time it knows only the rank, so on open sizes it knows less than the IR."""
    inferred = onnx_shapes(net, model)
    symbols = {d: d for d in (BATCH, *net.input_shape) if isinstance(d, str)}
    inexact = []
    for node, value in zip(net.nodes, _valued(net), strict=True):  # a layer scale's value is not its name
        got, want = inferred[value.name], [BATCH, *node.shape]
        if node.id in net.held_last:  # N×H×W×C between channels_last() and channels_first()
            want = [BATCH, *node.shape[1:], node.shape[0]]
        assert len(got) == len(want), f"{node.name}: ONNX infers {got}, the IR {want}"
        for g, w in zip(got, want, strict=True):
            if isinstance(g, int):
                assert g == w, f"{node.name}: ONNX infers {got}, the IR {want}"
            elif g:
                assert symbols.setdefault(g, w) == w, f"{node.name}: ONNX's {g} is both {symbols[g]} and {w}"
        if got[1:] != want[1:]:  # the batch is only ever a symbol, and Resize loses even that one's name
            inexact.append(node.name)
    return inexact


def difference(model: onnx.ModelProto | bytes, module: torch.nn.Module, x: np.ndarray) -> float:
    """The largest difference between onnxruntime's output and torch's, relative to torch's largest output;
    the largest over the outputs, each relative to its own, where there are several (a tuple in torch)."""
    got = run_all(model, x)
    with torch.no_grad():
        want = module(torch.from_numpy(x))
    want = [y.numpy() for y in (want if isinstance(want, tuple) else (want,))]
    assert [y.shape for y in got] == [y.shape for y in want]
    return max(float(np.abs(g - w).max() / np.abs(w).max()) for g, w in zip(got, want, strict=True))


# --- every architecture ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NETWORKS)
def test_architecture(name):
    """Every network of every file: checker and shape inference node by node; onnxruntime against torch with
    torch's weights on TORCH_NETWORKS (a family's representatives: its other members are the same ops at other
    widths and depths, and test_op holds every op to torch), the others with the backend's own weights."""
    net = load_network(name)
    module = torch_model(net) if name in TORCH_NETWORKS else None
    model = to_onnx(net) if module is None else onnx_from_torch(net, module)
    data = model.SerializeToString()
    onnx.checker.check_model(data if module is not None else bare(net, model, ir_shapes=True), full_check=True)
    open_sizes = not all(isinstance(d, int) for d in net.input_shape)  # architectures/filters.cnn: any picture
    assert check_shapes(net, model) == [] or open_sizes  # on open sizes ONNX follows less than the IR
    if module is not None:
        batch = 2 if net.params < 15_000_000 else 1
        shape = tuple(d if isinstance(d, int) else 33 for d in net.input_shape)
        x = np.random.default_rng(0).standard_normal((batch, *shape), dtype=np.float32)
        assert difference(data, module, x) < TOLERANCE


# --- every op -------------------------------------------------------------------------------------------

# Small networks that together use every layer of ops.LAYERS, each in the cases that need their own lowering.
OPS_SOURCE = """
network conv_same_strided {
    input(3, 17, 19)
    conv(8, 3, strides=2, padding=same, activation=relu)
    conv(8, (3, 5), strides=(2, 3), padding=same)
    conv(4, 1, strides=2, padding=same)
}
network conv_dilation_groups {
    input(8, 16, 15)
    conv(8, 3, padding=2, dilation=2, groups=4)
    conv(16, 3, strides=2, padding=(1, 0), dilation=(1, 2), activation=leaky_relu)
}
network conv_depthwise_same_dilated {
    input(6, 13, 12)
    conv(6, 3, padding=same, groups=6, dilation=2, use_bias=false)
}
network conv_transpose_valid {
    input(4, 7, 9)
    conv_transpose(6, 3, strides=2)
    conv_transpose(6, (3, 2), strides=(2, 3), padding=1, output_padding=(1, 2), dilation=(1, 2), activation=elu)
}
network conv_transpose_same {
    input(4, 7, 9)
    conv_transpose(6, 3, strides=2, padding=same)
    conv_transpose(4, 4, strides=2, padding=same, groups=2, use_bias=false)
    conv_transpose(4, 1, strides=3, padding=same)
}
network maxpool_padded_ceil { input(3, 16, 15); maxpool(3, strides=2, padding=1, ceil_mode=true) }
network maxpool_last_window_dropped { input(3, 9, 10); maxpool(2, strides=2, padding=1, ceil_mode=true) }
network maxpool_same { input(3, 9, 8); maxpool(3, strides=2, padding=same) }
network avgpool_padded_ceil { input(3, 16, 15); avgpool(3, strides=2, padding=1, ceil_mode=true) }
network avgpool_ceil_overhang { input(3, 16, 14); avgpool(3, strides=2, ceil_mode=true) }
network avgpool_exclude_padding { input(3, 16, 15); avgpool(3, strides=2, padding=1, count_include_pad=false) }
network avgpool_same {
    input(3, 9, 8)
    avgpool(3, strides=2, padding=same)
    avgpool(2, padding=same, count_include_pad=false)
}
network global_pools { input(5, 7, 6); concat { global_avgpool(); global_maxpool() } }
network adaptive_avgpool_divisible { input(4, 12, 8); adaptive_avgpool((3, 4)) }
network adaptive_avgpool_variable_windows { input(4, 13, 10); adaptive_avgpool((5, 4)) }
network upsample_nearest { input(3, 5, 6); upsample((2, 3)) }
network upsample_bilinear { input(3, 5, 6); upsample((2, 3), mode=bilinear) }
network upsample_bilinear_align_corners { input(3, 5, 6); upsample(2, mode=bilinear, align_corners=true) }
network upsample_zeros { input(3, 5, 6); upsample((3, 2), mode=zeros) }
network batchnorm { input(6, 5, 5); batchnorm(); batchnorm(eps=0.001, momentum=0.01) }
network lrn_odd { input(9, 5, 6); lrn(5); lrn(3, alpha=0.01, beta=0.5, k=2.0) }
network lrn_even { input(9, 5, 6); lrn(4, alpha=0.1, beta=0.6, k=1.5); lrn(2, alpha=0.3) }
network dense_dropout { input(3, 4, 4); flatten(); dropout(0.3); dense(7, activation=tanh); dense(5, use_bias=false) }
network vector_input { input(12); dense(6, activation=softmax) }
network activations {
    input(6, 5, 5)
    conv(6, 1); relu(); leaky_relu(); leaky_relu(0.2)
    conv(6, 1); elu(0.7)
    conv(6, 1); gelu()
    conv(6, 1); silu()
    conv(6, 1); sigmoid()
    conv(6, 1); tanh()
    conv(6, 1); swish()
    conv(6, 1); relu6()
    conv(6, 1); hardswish()
    conv(6, 1); hardsigmoid()
    softmax()
}
network fused_activations {
    input(6, 5, 5)
    conv(6, 3, padding=1, activation=gelu)
    conv(6, 1, activation=hardswish)
    conv(6, 1, activation=hardsigmoid)
    conv(6, 1, activation=relu6)
    conv_transpose(4, 2, strides=2, activation=sigmoid)
    conv(4, 1, activation=silu)
}
network concat_add_residual {
    input(8, 8, 8)
    a: conv(8, 3, padding=1)
    concat { conv(4, 1); maxpool(3, strides=1, padding=1) }
    add { conv(8, 1); conv(8, 3, padding=1); conv(8, 1, use_bias=false) }
    add(a)
    concat(a)
    residual { conv(16, 3, padding=1); batchnorm(); relu() }
}
network todays_ops {
    input(12, 6, 5)
    a: relu()
    aux: output { global_avgpool(); flatten(); dense(3) }
    "block1-0": multiply { identity(); inline { global_avgpool(); conv(4, 1); relu(); conv(12, 1); hardsigmoid() } }
    half: chunk(2, 1)
    channel_shuffle(3)
    stochastic_depth(0.3)
    "head-2": output { flatten(); dense(2) }
    residual { conv(6, 3, padding=1); stochastic_depth(0.5, mode=batch) }
    multiply { inline { global_avgpool(); conv(6, 1); sigmoid() }; identity() }
    multiply(half)
}
"""
OPS_SOURCE += CHANNELS_LAST_OPS
OPS = re.findall(r"^network (\w+)", OPS_SOURCE, re.MULTILINE)


def op_network(name: str):
    return cnndsl.loads(OPS_SOURCE, name)


def test_the_op_networks_use_every_op():
    nodes = [node for name in OPS for node in op_network(name).nodes]
    used = {n.op.kind for n in nodes} | {n.op.function for n in nodes if n.op.kind == "activation"}
    used |= {n.op.activation for n in nodes if getattr(n.op, "activation", None)}
    # every op: today's CNNs' too (todays_ops)
    kinds = {cls.__dataclass_fields__["kind"].default for cls, _ in ops.LAYERS.values()}
    assert kinds | set(ops.ACTIVATIONS) <= used


@pytest.mark.parametrize("opset", [MIN_OPSET, DEFAULT_OPSET])
@pytest.mark.parametrize("name", OPS)
def test_op(name, opset):
    net = op_network(name)
    module = torch_model(net)
    model = onnx_from_torch(net, module, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert check_shapes(net, model) == []
    x = np.random.default_rng(1).standard_normal((2, *net.input_shape), dtype=np.float32)
    assert difference(model, module, x) < TOLERANCE


# --- open sizes -----------------------------------------------------------------------------------------

OPEN = """
network fully_convolutional {
    input(3, ?, ?)
    conv(8, 3, strides=2, padding=same, activation=relu)
    conv(8, 3, padding=same, dilation=2)
    conv(8, 1, strides=2, padding=same)
    maxpool(3, strides=2, padding=1, ceil_mode=true)
    residual { conv(8, 3, padding=1); batchnorm(); relu() }
    avgpool(2, strides=3, padding=same, count_include_pad=false)
    upsample(2, mode=bilinear)
    conv_transpose(4, 3, strides=2, padding=same)
    upsample(2, mode=zeros)
    lrn(4)
}

network classifier {
    input(3, ?, ?)
    conv(8, 3, strides=2, padding=1)
    maxpool(2)
    concat { global_avgpool(); adaptive_avgpool(1); global_maxpool() }
    flatten()
    dense(5)
}

network adaptive {
    input(3, ?, ?)
    conv(4, 3, padding=same)
    adaptive_avgpool((5, 3))
    flatten()
    dense(5)
}
"""


def _size(expression: int | str, h: int, w: int) -> int:
    """An IR size at a given input size: its expressions are Python, with ceil()."""
    return expression if isinstance(expression, int) else eval(expression, {"ceil": math.ceil, "H": h, "W": w})


@pytest.mark.parametrize("opset", [MIN_OPSET, DEFAULT_OPSET])
@pytest.mark.parametrize("name", ["fully_convolutional", "classifier", "adaptive"])
def test_open_sizes(name, opset):
    net = cnndsl.loads(OPEN, name)
    module = torch_model(net)
    model = onnx_from_torch(net, module, opset)
    onnx.checker.check_model(model, full_check=True)
    check_shapes(net, model)  # no contradiction; on open sizes ONNX knows less than the IR
    dims = model.graph.output[0].type.tensor_type.shape.dim  # the fully convolutional output's sizes are symbols
    assert [d.dim_param or d.dim_value for d in dims] == [BATCH, *net.output_shape]
    for h, w in [(64, 48), (37, 53)]:
        x = np.random.default_rng(h).standard_normal((2, 3, h, w), dtype=np.float32)
        assert run(model, x).shape == (2, *(_size(d, h, w) for d in net.output_shape))
        assert difference(model, module, x) < TOLERANCE


# --- weights, names, provenance, opsets -----------------------------------------------------------------


def test_default_weights_follow_pytorchs_initialisation():
    """Same bounds as torch's own initialisation (kaiming_uniform(a=√5), fan_in from weight.shape[1], which
    for a transposed convolution counts output channels), batch norm's constants, and a fixed seed."""
    net = cnndsl.load(ARCH / "unet.cnn")
    ours = initial_weights(net)
    state = cnndsl.to_torch(net).state_dict()
    theirs = {k: v.numpy() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert ours.keys() == theirs.keys() == parameter_shapes(net).keys()
    batchnorms = {n.name for n in net.nodes if n.op.kind == "batchnorm"}
    for key, value in ours.items():
        assert value.dtype == np.float32 and value.shape == theirs[key].shape
        if key.rsplit(".", 1)[0] in batchnorms:
            assert np.array_equal(value, theirs[key]), key
        elif value.size >= 1000:
            assert 0.98 < np.abs(value).max() / np.abs(theirs[key]).max() < 1.02, key
            assert abs(value.mean()) < 0.05 * np.abs(value).max(), key
    assert to_onnx(net).SerializeToString() == to_onnx(net).SerializeToString()
    assert not np.array_equal(ours["head.weight"], initial_weights(net, seed=1)["head.weight"])


def test_default_weights_run():
    net = cnndsl.load(ARCH / "resnet18.cnn")
    model = to_onnx(net)
    assert {t.name for t in model.graph.initializer} == set(parameter_shapes(net))
    out = run(model, np.random.default_rng(2).standard_normal((1, 3, 224, 224), dtype=np.float32))
    assert out.shape == (1, 1000) and np.isfinite(out).all() and out.std() > 0


def test_weights_that_do_not_fit_are_refused():
    net = cnndsl.load(ARCH / "lenet5.cnn")
    weights = initial_weights(net)
    weights["C1.weight"] = weights["C1.weight"][:3]
    weights["extra.weight"] = np.zeros(3)
    weights["9.num_batches_tracked"] = np.int64(0)  # torch's counter of batch norm updates is ignored
    del weights["C3.bias"]
    with pytest.raises(ValueError) as e:
        to_onnx(net, weights=weights)
    message = str(e.value)
    assert "missing: C3.bias" in message and "unexpected: extra.weight;" in message
    assert "C1.weight is (3, 1, 5, 5), expected (6, 1, 5, 5)" in message


def test_names_and_source_spans():
    net = cnndsl.load(ARCH / "resnet18.cnn")
    model = to_onnx(net)
    nodes = {n.name: n for n in model.graph.node}
    conv = nodes["layer2.0.conv1"]
    assert conv.op_type == "Conv" and list(conv.input) == ["layer1.1.7", "layer2.0.conv1.weight"]
    assert conv.output == ["layer2.0.conv1"]
    node = net.node("layer2.0.conv1")
    span, block = node.span, net.scope_path(node)[-1].span
    assert span.path.endswith("blocks/resnet.cnn") and block.path.endswith("resnet18.cnn")
    assert conv.doc_string.splitlines() == [
        f"{span.path}:{span.line}:{span.column}: layer2.0.conv1: conv 3×3, 128, /2",
        "filters = channels",
        "strides = stride",
        f"in layer2.0 = basic(channels=128, stride=2) at {block.path}:{block.line}:{block.column}",
    ]
    assert nodes["layer2.0.downsample.1"].op_type == "BatchNormalization"
    assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["fc"]
    assert model.graph.name == "resnet18" and model.producer_name == "cnndsl"
    props = {p.key: p.value for p in model.metadata_props}
    assert props["cnndsl.network"] == "resnet18" and props["cnndsl.args"] == '{"classes": 1000}'


def test_every_value_has_the_irs_shape_in_value_info():
    net = cnndsl.loads(OPEN, "fully_convolutional")
    model = to_onnx(net)
    declared = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.value_info
    }
    assert declared == {n.name: [BATCH, *n.shape] for n in net.nodes[1:-1]}


def test_opsets():
    net = op_network("activations")
    assert to_onnx(net).opset_import[0].version == DEFAULT_OPSET
    ops_at = {opset: {n.op_type for n in to_onnx(net, opset).graph.node} for opset in (MIN_OPSET, 20)}
    assert "Gelu" in ops_at[20] and "Gelu" not in ops_at[MIN_OPSET] and "Erf" in ops_at[MIN_OPSET]
    for opset in (MIN_OPSET - 1, onnx.defs.onnx_opset_version() + 1):
        with pytest.raises(ValueError, match=f"opset {opset} is not supported"):
            to_onnx(net, opset)


def test_ceil_mode_pool_that_old_opsets_cannot_express():
    """Height keeps ceil mode's extra window, width loses it (it would start past the input): one ONNX
    ceil_mode cannot say both before opset 22, which has torch's rule."""
    net = cnndsl.loads("network n { input(3, 16, 15); avgpool(2, strides=3, ceil_mode=true) }")
    assert net.output_shape == (3, 6, 5)
    with pytest.raises(ValueError, match="use opset 22 or later"):
        to_onnx(net, opset=21)
    # On an open size, a window can start in the right padding where padding + stride > pool size.
    with pytest.raises(ValueError, match="<string>:1:29: 0: before opset 22"):
        to_onnx(cnndsl.loads("network n { input(3, ?, ?); maxpool(2, strides=2, padding=1, ceil_mode=true) }"), 21)
    module = torch_model(net)
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 15), dtype=np.float32)
    assert difference(onnx_from_torch(net, module, opset=22), module, x) < TOLERANCE


# --- command line ---------------------------------------------------------------------------------------


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_cli_writes_a_model(tmp_path):
    out = tmp_path / "x.onnx"
    result = cli("compile", "architectures/lenet5.cnn", "--backend", "onnx", "-o", str(out), "--opset", "17")
    assert result.returncode == 0, result.stderr
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17 and model.graph.name == "lenet5"
    assert run(model, np.zeros((1, 1, 32, 32), np.float32)).shape == (1, 10)


def test_cli_refuses_stdout_and_bad_opsets(tmp_path):
    result = cli("compile", "architectures/lenet5.cnn", "--backend", "onnx")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "cnndsl: ONNX is binary: give an output file with -o model.onnx\n"
    result = cli(
        "compile", "architectures/lenet5.cnn", "--backend", "onnx", "-o", str(tmp_path / "x.onnx"), "--opset", "9"
    )
    assert result.returncode == 2 and "opset 9 is not supported" in result.stderr
    assert not (tmp_path / "x.onnx").exists()
