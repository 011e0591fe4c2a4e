"""`cnndsl import` of Keras models: keras.applications (VGG16, ResNet50, MobileNetV2, DenseNet121) import into
.cnn files whose compiled Keras models take the original's weights, layer by layer by name, and give its
outputs; the Keras round trip (a .cnn compiled to Keras, imported, compiled again) keeps the weights' layout,
the parameters and the outputs; `.keras` files through the command line, with --weights."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import ARCHITECTURES, load_architecture, reference_header  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.backends.keras import to_keras  # noqa: E402
from cnndsl.cli import main  # noqa: E402
from cnndsl.fmt import is_formatted  # noqa: E402
from cnndsl.importers import ImportRefused, from_keras  # noqa: E402
from cnndsl.importers.keras import keras_weights  # noqa: E402
from cnndsl.transfer import transfer_weights  # noqa: E402

TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def _free_models():
    """Let each test's models go (two VGG-19s hold over a gigabyte)."""
    yield
    keras.backend.clear_session(free_memory=True)


def _randomise(model, seed: int = 0) -> None:
    """Weights that make every layer matter: random batch-norm statistics too (weights=None leaves them 0 and 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = (w.shape for w in weights)
            layer.set_weights([rng.uniform(0.5, 1.5, gamma), rng.normal(0, 0.1, beta), rng.normal(0, 0.1, mean),
                               rng.uniform(0.5, 1.5, var)])  # fmt: skip


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(a).max())


def _inputs(model, seed: int = 1):
    shape = [d or 64 for d in model.inputs[0].shape[1:]]
    return np.random.default_rng(seed).standard_normal((2, *shape)).astype("float32")


def _last_features(model):
    """The input of the last layer: the logits' features, which a softmax of random weights would flatten."""
    return keras.Model(model.inputs, model.layers[-1].input)


@pytest.mark.parametrize("name", ["VGG16", "ResNet50", "MobileNetV2", "DenseNet121"])
def test_application(name):
    original = getattr(keras.applications, name)(weights=None)
    _randomise(original)
    net = from_keras(original)
    header = reference_header(f"keras_{name}")
    summary = net.summary()
    assert f"Trainable params: {int(header['trainable_params']):,}" in summary
    assert f"Buffers: {int(header['non_trainable_params']):,}" in summary
    assert net.params + net.buffers == int(header["total_params"])
    compiled = to_keras(net)
    keras_weights(original, compiled)
    x = _inputs(original)
    assert _relative(original(x), compiled(x)) <= TOLERANCE
    assert _relative(_last_features(original)(x), _last_features(compiled)(x)) <= TOLERANCE
    if name == "ResNet50":
        # one bottleneck block (its layers `"1_conv"` ... and the projection `shortcut inline { "0_conv" ... }`),
        # and each stage a sequence of its calls: `block1: ...`, then a loop over `block{i + 2}`
        text = net.to_cnn()
        assert text.count("block ") == 1 and "} shortcut inline {\n" in text
        assert '        "0_conv": conv(channels * 4, 1, strides=stride)\n' in text
        stages = text[text.index("network ") :].split("    conv3: sequence {\n")[1].split("\n    }\n")[0]
        assert stages.splitlines() == [
            "        block1: residual_unit(128, stride=2)",
            "        for i in range(3) {",
            "            block{i + 2}: residual_unit(128)",
            "        }",
        ]
        assert len(text.splitlines()) < 60
    if name == "VGG16":
        # Keras flattens H·W·C, PyTorch C·H·W: the PyTorch twin of the import takes the weights with the first
        # dense layer's rows permuted (transfer_weights), and gives the same outputs.
        model = cnndsl.to_torch(net).eval()
        transfer_weights(compiled, model, net)
        with torch.no_grad():
            out = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        assert _relative(original(x), out) <= TOLERANCE


# Networks of 30 M parameters or more (AlexNet, the VGGs, ResNet-101 and -152; as tests/test_import.py's BIG)
# are compared by their weights, parameters and MACs; their outputs only where they take a small input (none
# does: their dense layers or fixed inputs want 224×224), since the smaller ones cover every structure they have.
BIG = 30_000_000


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_keras_round_trip(name):
    """compile → Keras → import → compile: the same layer names and weight shapes, parameters, buffers, MACs,
    and outputs with the original's weights."""
    net = load_architecture(name)
    original = to_keras(net)
    imported = from_keras(original, net.name)
    assert is_formatted(imported.to_cnn())
    assert (imported.params, imported.buffers, imported.macs) == (net.params, net.buffers, net.macs)
    compiled = to_keras(imported)
    assert [(w.path, w.shape) for w in compiled.weights] == [(w.path, w.shape) for w in original.weights]
    assert [w.trainable for w in compiled.weights] == [w.trainable for w in original.weights]
    if net.params >= BIG:
        return
    _randomise(original)
    keras_weights(original, compiled)
    x = _inputs(original)
    a, b = original(x), compiled(x)
    for u, v in zip(a if isinstance(a, (list, tuple)) else [a], b if isinstance(b, (list, tuple)) else [b]):
        assert _relative(u, v) <= TOLERANCE


# What the library's networks do not have and cnndsl's Keras code writes with its own layers or several Keras
# layers: LRN, a convolution with strides and dilation (SamePadding2D, or ZeroPadding2D, then every strides-th
# output), transposed convolutions with PyTorch's padding (a Cropping2D after) and with groups, upsampling of
# each kind, adaptive pooling with uneven windows, layer scale.
OPS = """
network keras_ops {
    input(4, 13, 13)
    lrn(3, alpha=0.001)
    conv(8, 3, strides=2, dilation=2, padding=same)
    relu()
    conv(8, 3, strides=2, dilation=2, padding=1)
    conv_transpose(8, 3, strides=2, padding=1, output_padding=1)
    conv_transpose(8, 3, strides=2, groups=2)
    upsample(2, mode=bilinear, align_corners=true)
    adaptive_avgpool(5)
    upsample(2, mode=zeros)
    upsample(2, mode=bilinear)
    layer_scale(0.5)
}
"""


def test_keras_ops_round_trip():
    net = cnndsl.loads(OPS)
    original = to_keras(net)
    imported = from_keras(original, net.name)
    assert (imported.params, imported.buffers, imported.macs) == (net.params, net.buffers, net.macs)
    assert [n.op.kind for n in imported.nodes] == [n.op.kind for n in net.nodes]
    compiled = to_keras(imported)
    keras_weights(original, compiled)
    x = _inputs(original)
    assert _relative(original(x), compiled(x)) <= TOLERANCE


def test_resnet34_reads_like_the_library():
    """cnndsl's own Keras names (`layer2_0_conv1`, `layer2_0_downsample_0`) give the hierarchy back: one block
    definition and repeats, as the PyTorch import gives."""
    net = load_architecture("resnet34")
    text = from_keras(to_keras(net), "resnet34").to_cnn()
    assert text.count("block ") == 1
    assert "block residual_unit(channels, stride = 1) {" in text
    assert "} shortcut downsample {" in text
    for line in ("repeat 3 residual_unit(64)", "residual_unit(128, stride=2)", "repeat 5 residual_unit(256)"):
        assert f"        {line}\n" in text
    assert len(text.splitlines()) < 50


def test_nested_model():
    """A keras.applications model used as a layer of a Sequential with a head imports as one network, the
    nested model's layers keeping their names, and takes the weights of both."""
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3))
    head = [keras.layers.GlobalAveragePooling2D(name="pool"), keras.layers.Dense(3, name="logits")]
    original = keras.Sequential([keras.Input((32, 32, 3)), base, *head])
    _randomise(base)
    net = from_keras(original, "tuned")
    assert "logits: dense(3)" in net.to_cnn()
    compiled = to_keras(net)
    keras_weights(original, compiled)
    x = _inputs(original)
    assert _relative(original(x), compiled(x)) <= TOLERANCE


def test_separable_convolution():
    """SeparableConv2D imports as a depthwise and a pointwise convolution, which take the layer's weights."""
    x = inputs = keras.Input((16, 16, 3))
    x = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep1")(x)
    x = keras.layers.SeparableConv2D(4, 3, strides=2, depth_multiplier=2, use_bias=False, name="sep2")(x)
    original = keras.Model(inputs, x)
    net = from_keras(original)
    assert "sep1_depthwise: conv(3, 3, padding=1, groups=3, use_bias=false)\n    sep1: conv(8, 1, activation=relu)" in (
        net.to_cnn()
    )
    compiled = to_keras(net)
    keras_weights(original, compiled)
    x = _inputs(original)
    assert _relative(original(x), compiled(x)) <= TOLERANCE
    assert _relative(original(x), to_keras(net)(x)) > 0.01  # the weights went across


def _small_model():
    """A Sequential-free functional model with what needs translating: an asymmetric ZeroPadding2D (TensorFlow's
    `same`), a symmetric one before a max pooling, a depthwise convolution, an add, and a channels-last flatten
    before a dense layer."""
    x = inputs = keras.Input((12, 12, 3))
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name="stem_pad")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, name="stem")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(5, name="fc")(x)
    return keras.Model(inputs, x, name="small")


def test_keras_file_with_weights(tmp_path):
    original = _small_model()
    _randomise(original)
    path = tmp_path / "small.keras"
    original.save(path)
    out, h5, pt = tmp_path / "small.cnn", tmp_path / "small.weights.h5", tmp_path / "small.pt"
    assert main(["import", str(path), "-o", str(out), "--weights", str(h5)]) == 0
    assert main(["import", str(path), "--weights", str(pt), "-o", str(out)]) == 0
    text = out.read_text()
    assert "stem: conv(8, 3, strides=2, padding=same)" in text
    assert "pool: maxpool(3, strides=2, padding=1)" in text
    net = cnndsl.load(out)
    x = _inputs(original)
    expected = original(x)
    compiled = to_keras(net)
    compiled.load_weights(h5)
    assert _relative(expected, compiled(x)) <= TOLERANCE
    model = cnndsl.to_torch(net).eval()
    model.load_state_dict(torch.load(pt))  # the flatten's order carried to PyTorch's
    with torch.no_grad():
        out = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    assert _relative(expected, out) <= TOLERANCE


def test_refused_layers_are_all_named(tmp_path, capsys):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.GroupNormalization(2, name="norm")(x)
    model = keras.Model(inputs, x)
    with pytest.raises(ImportRefused) as e:
        from_keras(model)
    assert [where for _, where in e.value.problems] == ["rescale", "norm"]
    path, out = tmp_path / "bad.keras", tmp_path / "bad.cnn"
    model.save(path)
    assert main(["import", str(path), "-o", str(out)]) == 1
    assert "rescale: Rescaling (preprocessing: apply it to the inputs)" in capsys.readouterr().err
    assert not out.exists()


def test_flatten_in_pytorch_order():
    """cnndsl's Keras code writes `Permute((3, 1, 2))` before a Flatten that other layers than dense ones read
    (PyTorch's C·H·W order): the two import back as `flatten`, whose Keras and PyTorch twins compute what the
    model computes. Before a Flatten that only dense layers read (a model of one's own), the compiled import
    flattens H·W·C, and `keras_weights` gives the dense layer its rows in that order."""
    net = cnndsl.loads("network chw {\n    input(3, 6, 6)\n    conv(4, 3)\n    flatten()\n    softmax()\n}\n")
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Flatten(name="chw")(keras.layers.Permute((3, 1, 2), name="to_chw")(x))
    dense = keras.Model(inputs, keras.layers.Dense(5, name="fc")(keras.layers.Dropout(0.5, name="drop")(x)))
    for original in (to_keras(net), dense):
        assert "Permute" in [type(layer).__name__ for layer in original.layers]
        imported = from_keras(original, "chw")
        assert [n.op.kind for n in imported.nodes][:3] == ["input", "conv", "flatten"]
        compiled = to_keras(imported)
        keras_weights(original, compiled)
        x = _inputs(original)
        expected = original(x)
        assert _relative(expected, compiled(x)) <= TOLERANCE
        model = cnndsl.to_torch(imported).eval()
        transfer_weights(compiled, model, imported)
        with torch.no_grad():
            out = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        assert _relative(expected, out) <= TOLERANCE
    assert "Permute" not in [type(layer).__name__ for layer in compiled.layers]  # only dense layers read it


def test_flatten_in_keras_order_read_by_other_layers_is_refused():
    """Keras' H·W·C flatten read by other layers than dense ones has no .cnn form (cnndsl's flatten is C·H·W;
    it was imported wrongly before), nor has any other permutation than (3, 1, 2): each is named."""
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    hwc = keras.layers.Flatten(name="hwc")(x)
    fc = keras.layers.Dense(2, name="fc")(keras.layers.Flatten(name="to_fc")(x))
    with pytest.raises(ImportRefused) as e:
        from_keras(keras.Model(inputs, keras.layers.Concatenate()([hwc, fc])))
    assert [where for _, where in e.value.problems] == ["hwc"]
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)  # 1×1: either order is the same
    fine = keras.layers.Flatten(name="fine")(pooled)
    assert "fine: flatten()" in from_keras(keras.Model(inputs, keras.layers.Softmax()(fine))).to_cnn()
    swapped = keras.layers.Flatten()(keras.layers.Permute((2, 1, 3), name="swap")(x))
    with pytest.raises(ImportRefused) as e:
        from_keras(keras.Model(inputs, swapped))
    assert [where for _, where in e.value.problems] == ["swap"]
