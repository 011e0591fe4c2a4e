"""The Keras backend: the emitted source, every architecture built and run in Keras, parity with
keras.applications, and the same numbers as the PyTorch backend once `transfer_weights` has copied the
weights across (both ways)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import (  # noqa: E402
    ACTIVATION_CHOICE,
    ARCH,
    CHANNELS_LAST_OPS,
    REFERENCE,
    REPRESENTATIVES,
    ROOT,
    torch_model,
)

import cnndsl  # noqa: E402
from cnndsl import ops  # noqa: E402
from cnndsl.backends.keras import emit, keras_names, to_keras  # noqa: E402
from cnndsl.cli import UsageError, cmd_convert  # noqa: E402
from cnndsl.errors import CnnDslError  # noqa: E402
from cnndsl.transfer import transfer_weights  # noqa: E402

TOLERANCE = 1e-4  # largest difference between the frameworks, relative to the largest output


def _library() -> list[str]:
    """Every file of architectures/: `resnet34`, `keras/resnet50`, and `file:network` for the members of a family
    file that conftest.REPRESENTATIVES names (`efficientnet:efficientnet_b0`)."""
    out = []
    for path in ARCH.rglob("*.cnn"):
        if path.parent.name != "blocks":
            stem = str(path.relative_to(ARCH))[:-4]
            out += [f"{stem}:{name}" for name in REPRESENTATIVES[stem]] if stem in REPRESENTATIVES else [stem]
    return sorted(out)


LIBRARY = _library()

# Small networks that together use every op, every activation and every argument the Keras backend writes
# differently: strided `same` (TensorFlow's split), dilation, groups, padding for each pool, ceil_mode ...
OPS_SOURCE = """
network convs {
    input(4, 17, 15)
    conv(8, 3, strides=2, padding=same)
    conv(8, (3, 2), padding=(1, 2), dilation=(2, 1))
    conv(8, 3, padding=1, groups=8)
    conv(16, 3, padding=same, groups=8, dilation=2, activation=relu)
    conv(16, 3, padding=same, groups=4, activation=leaky_relu)
    conv(8, 3, strides=2, dilation=2, padding=2)
    conv(8, 2, strides=2, dilation=2, padding=same)
    conv(6, 1, use_bias=false, activation=hardswish)
}
network transposed {
    input(6, 5, 7)
    conv_transpose(6, 3, strides=2)
    conv_transpose(6, 3, strides=2, padding=same, activation=gelu)
    conv_transpose(4, 3, strides=2, padding=1, output_padding=1)
    conv_transpose(4, 1, strides=2, padding=(0, 1), output_padding=(1, 0))
    conv_transpose(4, (2, 4), strides=(1, 3), padding=(1, 0), use_bias=false, activation=tanh)
    conv_transpose(4, 2, strides=3, padding=same, activation=elu)
}
network transposed_groups_dilation {
    input(4, 7, 9)
    conv_transpose(6, (3, 2), strides=(2, 3), padding=1, output_padding=(1, 2), dilation=(1, 2), activation=relu)
    conv_transpose(4, 4, strides=2, padding=same, groups=2, use_bias=false)
    conv_transpose(6, 3, strides=2, padding=(2, 0), dilation=2, groups=2)
    conv_transpose(4, 2, strides=3, padding=same, dilation=3, activation=leaky_relu)
}
network pools {
    input(3, 31, 29)
    maxpool(3, strides=2, padding=1)
    relu()
    maxpool(2, strides=2, ceil_mode=true)
    avgpool(3, strides=1, padding=1)
    avgpool(3, strides=2, padding=1, count_include_pad=false, ceil_mode=true)
    avgpool(2, ceil_mode=true)
    maxpool(2, strides=1, padding=same)
    avgpool(3, strides=2, padding=same)
    avgpool(2, padding=same, count_include_pad=false)
}
network pools_negative {
    input(3, 20, 23)
    maxpool(3, strides=2, padding=1, ceil_mode=true)
    avgpool(3, strides=2, padding=1, ceil_mode=true)
    maxpool((2, 3), strides=(1, 2), padding=(1, 0))
    avgpool(2, strides=1, padding=1, count_include_pad=false)
    maxpool(2, strides=2, padding=1, ceil_mode=true)
}
network resampling {
    input(4, 10, 9)
    adaptive_avgpool((5, 3))
    adaptive_avgpool((3, 2))
    upsample(2)
    upsample((2, 3), mode=bilinear)
    upsample(2, mode=bilinear, align_corners=true)
    upsample((1, 2), mode=zeros)
    concat { global_avgpool(); global_maxpool() }
    flatten()
    dense(5, activation=softmax)
}
network norms {
    input(6, 9, 9)
    batchnorm()
    lrn(5)
    lrn(4, alpha=0.001, beta=0.5, k=2.0)
    batchnorm(eps=0.001, momentum=0.01)
    dropout(0.3)
    flatten()
    batchnorm()
    dropout(0.5)
    dense(10, activation=leaky_relu)
    dense(4, use_bias=false, activation=relu6)
}
network activations {
    input(4, 6, 6)
    concat {
        relu(); leaky_relu(); leaky_relu(0.2); elu(); elu(0.5); gelu(); silu(); sigmoid(); tanh(); softmax()
        relu6(); hardswish(); hardsigmoid()
    }
    conv(4, 3, activation=elu)
    dense_input: flatten()
}
network vector_input {
    input(12); dense(6, activation=sigmoid); dense(3, activation=silu); dense(3, activation=hardsigmoid)
}

block mix(c) { add { conv(c, 1); { conv(c, 3, padding=1); relu() } } }
block stack(c, n = 1) { repeat n { conv(c, 3, padding=1); relu() } }
block widen(width, expand = width * 2, stride = 1) { conv(expand, 3, strides=stride, padding=1, activation=tanh) }
block act(f) { conv(4, 1, activation=f) }

network merges {
    input(4, 8, 8)
    stem: conv(8, 3, padding=1)
    residual { conv(8, 3, padding=1); relu(); conv(8, 3, padding=1) }
    mix(8)
    concat { {}; conv(4, 1) }
    conv(8, 1)
    add(stem)
    stack(8)
    stack(8, 2)
    stack(6)
    widen(3)
    widen(4, expand=4, stride=2)
    act(relu)
    act(tanh)
    act(relu)
    flatten()
    dense(7)
}
# Graphs that need more than one variable: residuals and branches inside branches, a label read from inside
# a sequence, an identity branch, a projection only some instances of a nested block have.
block res(c, s = 1) {
    residual {
        a: conv(c, 3, strides=s, padding=1)
        residual { conv(c, 3, padding=1); relu() }
        concat { b1: conv(c / 2, 1); b2: { conv(c / 2, 1); residual { conv(c / 2, 3, padding=1) } } }
    } shortcut proj { conv(c, 1, strides=s) }
    relu()
}
block outer(c, s = 1) {
    first: res(c, s)
    inner: { res(c); mid: conv(c, 1); concat(first); conv(c, 1); add(mid) }
    add { res(c); {}; { conv(c, 1) } }
}
network graphs {
    input(4, 12, 12)
    stem: conv(8, 3, padding=1)
    outer(8)
    outer(16, s=2)
    concat { {}; relu(); { conv(4, 1); concat { conv(2, 1); conv(2, 3, padding=1) } } }
}
network open_sizes {
    input(3, ?, ?)
    conv(8, 3, strides=2, padding=1)
    conv(8, 3, strides=2, dilation=2, padding=same)
    conv_transpose(8, 3, strides=2, padding=1, output_padding=1, dilation=2, groups=2)
    maxpool(3, strides=2, padding=1, ceil_mode=true)
    avgpool(3, strides=2, padding=1, count_include_pad=false, ceil_mode=true)
    avgpool(3, strides=1, padding=same)
    upsample(2, mode=bilinear, align_corners=true)
    upsample(2, mode=zeros)
    lrn(3)
    adaptive_avgpool((3, 5))
    flatten()
    dense(4)
}
# Today's CNNs (issue 15): a gate, channel chunk and shuffle, stochastic depth, extra outputs, quoted labels.
block se(c, s) {
    multiply { identity(); inline { global_avgpool(); fc1: conv(s, 1); relu(); fc2: conv(c, 1); hardsigmoid() } }
}
network modern {
    input(12, 6, 5)
    a: relu()
    aux: output { global_avgpool(); flatten(); dense(3) }
    "block1-0": se(12, 4)
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
CROSS = ["lenet5", "alexnet", "vgg16", "googlenet", "resnet34", "unet"]
# torchvision's networks written with those constructs, built once here and once more in tests/test_keras_modern.py
MODERN = [
    "efficientnet:efficientnet_b0", "mobilenet_v3:mobilenet_v3_large", "regnet:regnet_y_400mf",
    "shufflenet_v2:shufflenet_v2_x1_0",
]  # fmt: skip


def load(name: str) -> cnndsl.Network:
    if name not in LIBRARY:
        return cnndsl.loads(OPS_SOURCE, name)
    stem, _, network = name.partition(":")
    return cnndsl.load(ARCH / f"{stem}.cnn", network or None)


_MODELS: dict[str, keras.Model] = {}


def keras_model(name: str) -> keras.Model:
    """`to_keras`, built once for the architectures several tests use."""
    if name not in _MODELS:
        _MODELS[name] = to_keras(load(name))
    return _MODELS[name]


def channels_last(shape) -> tuple:
    return (*shape[1:], shape[0]) if len(shape) == 3 else tuple(shape)


def sample(net, batch: int = 1, size=None, seed: int = 0) -> np.ndarray:
    """A random input, in PyTorch's layout (N, C, H, W)."""
    shape = net.input_shape if size is None else (net.input_shape[0], *size)
    return np.random.default_rng(seed).standard_normal((batch, *shape), dtype=np.float32)


def _torch_layout(y) -> np.ndarray:
    y = keras.ops.convert_to_numpy(y)
    return y.transpose(0, 3, 1, 2) if y.ndim == 4 else y


def run_keras(model, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """The output in PyTorch's layout, for an input in PyTorch's layout; a list of them, main output first,
    for a network with extra outputs."""
    y = model(x.transpose(0, 2, 3, 1) if x.ndim == 4 else x, training=False)
    return [_torch_layout(o) for o in y] if isinstance(y, (list, tuple)) else _torch_layout(y)


def run_torch(model, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """The output; a list of them, main output first, for a network with extra outputs (a tuple in PyTorch)."""
    with torch.no_grad():
        y = model(torch.from_numpy(x))
    return [o.numpy() for o in y] if isinstance(y, tuple) else y.numpy()


def difference(got, want) -> float:
    """The largest difference relative to the largest of `want`; the largest over the outputs, each relative
    to its own, where there are several."""
    if isinstance(got, list) or isinstance(want, list):
        assert isinstance(got, list) and isinstance(want, list) and len(got) == len(want)
        return max(difference(g, w) for g, w in zip(got, want, strict=True))
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / np.abs(want).max())


def import_emitted(source: str, path: Path):
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"emitted_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the emitted source -------------------------------------------------------------------------------------


def test_the_op_networks_use_every_op():
    nodes = [node for name in OPS for node in load(name).nodes]
    used = {n.op.kind for n in nodes} | {n.op.function for n in nodes if n.op.kind == "activation"}
    used |= {n.op.activation for n in nodes if getattr(n.op, "activation", None)}
    kinds = {cls.__dataclass_fields__["kind"].default for cls, _ in ops.LAYERS.values()}
    assert kinds | set(ops.ACTIVATIONS) <= used


def test_emitted_source_passes_ruff(tmp_path):
    for name in LIBRARY + OPS:
        (tmp_path / f"{re.sub('[/:]', '_', name)}.py").write_text(emit(load(name)))
    ruff = Path(sys.executable).with_name("ruff")
    config = ["--config", str(ROOT / "pyproject.toml")]
    check = subprocess.run([ruff, "check", *config, tmp_path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    formatted = subprocess.run([ruff, "format", "--check", "--diff", *config, tmp_path], capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout


def test_emit_is_deterministic():
    here = {name: emit(load(name)) for name in LIBRARY + OPS}
    assert here == {name: emit(load(name)) for name in LIBRARY + OPS}
    script = """if True:
        import json, sys
        import cnndsl
        from cnndsl.backends.keras import emit
        library, ops_source, names = json.load(sys.stdin)
        nets = [cnndsl.load(path, network) for path, network in library] + [cnndsl.loads(ops_source, n) for n in names]
        print(json.dumps([emit(net) for net in nets]))
    """
    library = [(str(ARCH / f"{stem}.cnn"), network or None) for stem, _, network in (n.partition(":") for n in LIBRARY)]
    given = json.dumps([library, OPS_SOURCE, OPS])
    for seed in ("1", "4242"):  # set and dict order must not leak into the source
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], input=given, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == list(here.values())


def test_emit_does_not_import_tensorflow():
    script = "import sys, cnndsl; from cnndsl.backends.keras import emit; emit(cnndsl.load(sys.argv[1])); "
    script += "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", script, ARCH / "resnet34.cnn"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_blocks_become_functions():
    source = emit(load("resnet34"))
    assert "def basic(x, channels, stride=1, downsample=False, name=None):" in source
    assert 'x = basic(x, 128, stride=2, downsample=True, name="layer2_0")' in source
    assert 'x = basic(x, 128, name="layer2_1")' in source
    assert 'layers.Conv2D(channels, 3, strides=stride, use_bias=False, name=f"{name}_conv1")(x)' in source
    googlenet = emit(load("googlenet"))
    assert "def inception(x, c1, c3r, c3, c5r, c5, pool_proj, name=None):" in googlenet
    assert 'branch2 = conv_bn(branch2, c3, 3, padding=1, name=f"{name}_branch2_1")' in googlenet


def test_block_instances_that_differ_get_functions_of_their_own():
    source = emit(load("merges"))
    assert "def stack(x, c, name=None):" in source and "def stack_2(x, c, name=None):" in source
    assert 'x = stack_2(x, 8, name="stack_2")' in source
    # A default written with another parameter is computed in the body.
    assert "def widen(x, width, expand=None, stride=1, name=None):" in source
    assert "    if expand is None:\n        expand = width * 2\n" in source
    assert 'x = widen(x, 4, expand=4, stride=2, name="widen_2")' in source
    # Instances whose arguments cannot be written as parameters (an activation here) are split too.
    assert 'x = act(x, name="act_1")\n    x = act_2(x, name="act_2")\n    x = act(x, name="act_3")' in source


def test_a_closing_activation_a_word_parameter_chooses_is_written_under_an_if():
    net = cnndsl.loads(ACTIVATION_CHOICE)
    source = emit(net)
    assert 'def conv_bn_act(x, filters, act="relu", name=None):' in source and "conv_bn_act_2" not in source
    assert '    if act == "relu":\n        x = layers.Activation("relu", name=f"{name}_out")(x)\n' in source
    assert '    elif act == "hardswish":\n' in source
    assert 'x = conv_bn_act(inputs, 4, name="a")' in source and 'x = conv_bn_act(x, 4, act="none", name="b")' in source
    source_model, target = torch_model(net), to_keras(net)
    transfer_weights(source_model, target, net)
    x = sample(net, batch=2)
    assert difference(run_keras(target, x), run_torch(source_model, x)) < TOLERANCE


def test_keras_layer_names_are_the_labels():
    model = keras_model("resnet34")
    names = {layer.name for layer in model.layers}
    net = load("resnet34")
    assert set(keras_names(net)[0]) <= names
    assert {"layer2_0_conv1", "layer2_0_downsample_0", "layer4_2_bn2", "fc"} <= names
    # Unlabelled layers are named for what they are, as keras.applications names them.
    assert {"layer1_0_add", "layer1_0_out", "flatten"} <= names
    assert not [n for n in names if n.isdigit() or re.fullmatch(r"layer\d_\d+_\d+", n)]  # not `9`, `layer1_0_6`


def test_no_layer_does_nothing():
    for name in LIBRARY + OPS:
        source = emit(load(name))
        assert "ZeroPadding2D(0" not in source and "((0, 0), (0, 0))" not in source, name


SHARED_KERNELS = """
block conv_bn(filters, kernel = 1, stride = 1, p = 0) {
    conv(filters, kernel, strides=stride, padding=(kernel - 1) // 2, use_bias=false)
    batchnorm()
    relu()
    dropout(p)
}
block narrow(filters, kernel) {  # a padding no parameter tells apart from 0: computed once, then tested
    conv(filters, kernel, padding=kernel // 2 - 1)
}
network shared_kernels {
    input(3, 16, 16)
    a: conv_bn(8, 3, 2)
    b: conv_bn(8)
    c: conv_bn(12, 3, p=0.2)
    d: conv_bn(12, 5)
    e: conv_bn(6, p=0.1)
    f: narrow(6, 3)
    g: narrow(6, 5)
    dropout(0)
}
"""


def test_a_shared_function_builds_no_padding_or_dropout_where_an_instance_has_none():
    net = cnndsl.loads(SHARED_KERNELS)
    source = emit(net)
    assert source.count("def conv_bn") == 1, source  # one function for kernels 1, 3 and 5
    assert "    if kernel > 1:\n        x = layers.ZeroPadding2D((kernel - 1) // 2" in source
    assert '    if p > 0:\n        x = layers.Dropout(p, name=f"{name}_dropout")(x)\n' in source
    assert "    pad = kernel // 2 - 1\n    if pad:\n        x = layers.ZeroPadding2D(pad, " in source
    model, reference = to_keras(net), torch_model(net)
    pads = {layer.name: layer.padding for layer in model.layers if isinstance(layer, keras.layers.ZeroPadding2D)}
    assert pads == {
        "a_conv_pad": ((1, 1), (1, 1)),
        "c_conv_pad": ((1, 1), (1, 1)),
        "d_conv_pad": ((2, 2), (2, 2)),
        "g_conv_pad": ((1, 1), (1, 1)),
    }
    dropouts = {layer.name: layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    assert dropouts == {"c_dropout": 0.2, "e_dropout": 0.1}
    transfer_weights(reference, model, net)
    x = sample(net, batch=2)
    assert difference(run_keras(model, x), run_torch(reference, x)) < TOLERANCE


def test_network_parameters_are_build_arguments(tmp_path):
    source = emit(load("resnet18"))
    assert "def build(classes=1000) -> keras.Model:" in source
    assert 'layers.Dense(classes, name="fc")' in source
    module = import_emitted(source, tmp_path / "resnet18_keras.py")
    assert module.build(classes=10).output_shape == (None, 10)
    assert module.build().output_shape == (None, 1000)


def test_layer_names_that_collide_are_refused():
    net = cnndsl.loads("network n { input(3, 8, 8); a: { b_c: conv(4, 1) }; a_b: { c: conv(4, 1) } }")
    with pytest.raises(CnnDslError, match="'a.b_c'.*'a_b_c'|'a_b.c'.*'a_b_c'"):
        emit(net)


# --- every architecture --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LIBRARY)
def test_architecture(name, tmp_path):
    """The model in memory and the one built from the emitted file: same layers, weights, outputs; the
    IR's output shape and parameter count (Keras counts batch norm's moving statistics as parameters)."""
    net = load(name)
    model = keras_model(name) if name in CROSS + MODERN + ["vgg19", "keras/resnet50"] else to_keras(net)
    emitted = import_emitted(emit(net), tmp_path / "model.py").build()
    assert [layer.name for layer in emitted.layers] == [layer.name for layer in model.layers]
    assert [w.shape for w in emitted.weights] == [w.shape for w in model.weights]
    open_sizes = not all(isinstance(d, int) for d in net.input_shape)  # architectures/filters.cnn: any picture
    keras_shape = tuple(d if isinstance(d, int) else None for d in channels_last(net.output_shape))
    assert model.output_shape == (None, *keras_shape)
    assert model.count_params() == net.params + net.buffers
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == net.params
    emitted.set_weights(model.get_weights())
    x = sample(net, size=(24, 31) if open_sizes else None)
    y = run_keras(model, x)
    assert y.shape == (1, *(net.output_shape if not open_sizes else (net.output_shape[0], 24, 31)))
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(run_keras(emitted, x), y)


@pytest.mark.parametrize("size", [(33, 47), (64, 21)])
def test_open_sizes_follow_the_input(size):
    net = load("open_sizes")
    model = keras_model("open_sizes")
    assert model.input_shape == (None, None, None, 3)
    torch_model = cnndsl.to_torch(net).eval()
    transfer_weights(torch_model, model, net)
    x = sample(net, batch=2, size=size)
    assert difference(run_keras(model, x), run_torch(torch_model, x)) < TOLERANCE


# --- parity with keras.applications ------------------------------------------------------------------------------


def reference_layers(name: str) -> list[tuple[str, list[tuple[int, ...]]]]:
    """tests/reference/keras_<name>.txt: the layers with weights, and their weights' shapes."""
    out, inside = [], False
    for line in (REFERENCE / f"keras_{name}.txt").read_text().splitlines():
        if line.startswith("## layers"):
            inside = True
        elif inside and line.strip():
            layer, weights = line.split("\t")[0], line.split("\t")[5]
            if weights:
                out.append((layer, [tuple(map(int, w.split("=")[1].split("x"))) for w in weights.split(";")]))
    return out


def resnet50_name(keras_layer: str) -> str:
    """keras.applications' `conv3_block1_2_conv` is `conv3_block1_conv2` here; its `_0_` is the projection."""
    match = re.fullmatch(r"(conv\d_block\d+)_(\d)_(conv|bn)", keras_layer)
    if match is None:
        return keras_layer
    block, index, kind = match.groups()
    return f"{block}_projection_{kind}" if index == "0" else f"{block}_{kind}{index}"


APPLICATIONS = {  # ours, keras.applications' model, its parameter count, its layer names -> ours
    "VGG16": ("vgg16", 138_357_544, None),
    "VGG19": ("vgg19", 143_667_240, None),
    "ResNet50": ("keras/resnet50", 25_636_712, resnet50_name),
}


@pytest.mark.parametrize("application", APPLICATIONS)
def test_keras_applications_parity(application):
    name, params, rename = APPLICATIONS[application]
    kwargs = {"classifier_activation": None} if rename is None else {}  # the torchvision VGGs end in logits
    reference = getattr(keras.applications, application)(weights=None, **kwargs)
    model = keras_model(name)
    assert model.count_params() == reference.count_params() == params
    listing = reference_layers(application)
    ours = [layer for layer in model.layers if layer.weights]
    if rename is None:  # VGG is a chain: layer for layer, in order
        layers = ours
    else:
        layers = [model.get_layer(rename(ref)) for ref, _ in listing]
        assert len(set(layers)) == len(ours)
    assert len(layers) == len(listing)
    for (ref, shapes), layer in zip(listing, layers):
        assert [tuple(w.shape) for w in layer.weights] == shapes, ref
        layer.set_weights(reference.get_layer(ref).get_weights())
    x = sample(load(name)).transpose(0, 2, 3, 1)
    want = keras.ops.convert_to_numpy(reference(x, training=False))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x, training=False)), want)


# --- one network, two frameworks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CROSS + OPS)
def test_torch_and_keras_agree(name):
    net = load(name)
    size = (29, 35) if name == "open_sizes" else None
    x = sample(net, batch=2, size=size)
    source, target = torch_model(net), keras_model(name)
    transfer_weights(source, target, net)
    got = run_keras(target, x)
    assert difference(got, run_torch(source, x)) < TOLERANCE
    for tensor in source.state_dict().values():  # and back, into a PyTorch model that has forgotten them
        tensor.zero_()
    transfer_weights(target, source, net)
    assert difference(run_torch(source, x), got) < TOLERANCE


def test_a_model_of_another_network_is_refused():
    with pytest.raises(KeyError, match="no 'conv1.weight'"):
        transfer_weights(torch_model(load("lenet5")), keras_model("resnet34"), load("resnet34"))
    with pytest.raises(TypeError):
        transfer_weights(object(), keras_model("lenet5"), load("lenet5"))


def test_a_whole_model_with_custom_layers_saves_and_loads(tmp_path):
    """The layers cnndsl writes for what Keras lacks (PyTorch's pooling and padding, aligned bilinear and
    zero-insertion upsampling, LRN, adaptive pooling, transposed convolution) are registered for Keras'
    whole-model format: model.save and keras.models.load_model need no custom_objects."""
    net = load("open_sizes")
    model = to_keras(net)
    names = {type(layer).__name__ for layer in model.layers}
    assert {"PaddedMaxPooling2D", "LocalResponseNormalization", "ZeroInsertionUpSampling2D"} <= names, names
    model.save(tmp_path / "open_sizes.keras")
    loaded = keras.models.load_model(tmp_path / "open_sizes.keras")
    x = sample(net, size=(29, 35))
    assert np.array_equal(run_keras(loaded, x), run_keras(model, x))


def test_convert_carries_checkpoints_both_ways(tmp_path):
    net = load("lenet5")
    source = torch_model(net, seed=3)
    torch.save(source.state_dict(), tmp_path / "lenet5.pt")
    args = argparse.Namespace(
        file=str(ARCH / "lenet5.cnn"), network=None, max_nodes=1_000_000, import_path=[],
        checkpoint=str(tmp_path / "lenet5.pt"), output=str(tmp_path / "lenet5.weights.h5"),
    )  # fmt: skip
    assert cmd_convert(args) == 0
    model = to_keras(net)
    model.load_weights(tmp_path / "lenet5.weights.h5")
    x = sample(net, batch=2)
    assert difference(run_keras(model, x), run_torch(source, x)) < TOLERANCE
    args.checkpoint, args.output = args.output, str(tmp_path / "back.pt")
    assert cmd_convert(args) == 0
    back = cnndsl.to_torch(net).eval()
    back.load_state_dict(torch.load(tmp_path / "back.pt", weights_only=True))
    assert difference(run_torch(back, x), run_torch(source, x)) < TOLERANCE
    args.file = str(ARCH / "nin.cnn")  # a checkpoint of another network
    with pytest.raises(UsageError, match="does not hold the weights of network nin"):
        cmd_convert(args)
