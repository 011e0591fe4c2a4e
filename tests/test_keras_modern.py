"""The Keras backend on today's CNNs (issue 15): EfficientNet-B0, MobileNetV3-Large, ShuffleNetV2 x1.0,
RegNetY-400MF, ConvNeXt-T and GoogLeNet with its auxiliary classifiers, given the weights of
tests/reference/forward/recipe.py for torchvision's state_dict by `transfer_weights`, compute torchvision's
recorded outputs; the new ops (gates, chunk, channel shuffle, stochastic depth, extra outputs, quoted labels)
agree with the ONNX backend, which tests/test_modern.py holds to NumPy (test_keras.py: with PyTorch). The
weights go from the recipe's state_dict straight into Keras."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import ARCH  # noqa: E402
from test_keras import TOLERANCE, difference, keras_model, load, run_keras, sample  # noqa: E402
from test_modern_parity import float_entries, recipe, reference  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.backends.keras import emit, keras_names, to_keras  # noqa: E402
from cnndsl.transfer import transfer_weights  # noqa: E402

# torchvision's model (tests/reference/forward/<name>.json) -> the network in test_keras' library
MODELS = {
    "efficientnet_b0": "efficientnet:efficientnet_b0",
    "mobilenet_v3_large": "mobilenet_v3:mobilenet_v3_large",
    "shufflenet_v2_x1_0": "shufflenet_v2:shufflenet_v2_x1_0",
    "regnet_y_400mf": "regnet:regnet_y_400mf",
    "convnext_tiny": "convnext:convnext_tiny",
}


def recipe_state_dict(ref: dict) -> dict[str, torch.Tensor]:
    """The recipe's weights for torchvision's state_dict (its float entries: cnndsl has no
    num_batches_tracked)."""
    return {key: recipe.recipe_tensor(key, shape) for key, shape in float_entries(ref).items()}


def recorded(ref: dict) -> np.ndarray:
    return np.asarray(ref["output"], dtype=np.float64).reshape(ref["output_shape"])


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_parity(name):
    ref, net = reference(name), load(MODELS[name])
    model = keras_model(MODELS[name])
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == net.params == ref["params"]
    transfer_weights(recipe_state_dict(ref), model, net)
    x = recipe.recipe_input(ref["input_shape"]).numpy()
    assert difference(run_keras(model, x), recorded(ref)) <= TOLERANCE


def onnx_outputs(net, state: dict[str, torch.Tensor], x: np.ndarray) -> list[np.ndarray]:
    """The ONNX backend's outputs for the same weights (main output first, then the extra ones)."""
    ort = pytest.importorskip("onnxruntime")
    model = cnndsl.to_onnx(net, weights={key: t.numpy() for key, t in state.items()})
    return ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})


def test_googlenet_auxiliary_classifiers():
    """googlenet(aux_logits=True): the Keras model returns [logits, aux1, aux2] as the ONNX graph does, the
    logits are torchvision's; the auxiliary heads (which torchvision runs in training only) are ONNX's."""
    ref = reference("googlenet_aux")
    net = cnndsl.load(ARCH / "googlenet.cnn", args={"aux_logits": True})
    model = to_keras(net)
    names, _ = keras_names(net)
    assert model.output_names == [names[i] for i in net.outputs] == ["fc", "aux1_fc2", "aux2_fc2"]
    state = recipe_state_dict(ref)
    transfer_weights(state, model, net)
    x = recipe.recipe_input(ref["input_shape"]).numpy()
    outputs = run_keras(model, x)
    assert [y.shape[1:] for y in outputs] == [net.nodes[i].shape for i in net.outputs]
    assert difference(outputs[0], recorded(ref)) <= TOLERANCE
    for got, want in zip(outputs, onnx_outputs(net, state, x), strict=True):
        assert difference(got, want) <= TOLERANCE


def test_the_new_ops_agree_with_onnx():
    """test_keras' `modern` network: a hardsigmoid gate in a block with a quoted label, chunk, a 3-group
    shuffle, stochastic depth in both modes, a gate written first, two extra outputs."""
    pytest.importorskip("onnx")
    from cnndsl.backends.onnx import parameter_shapes

    net = load("modern")
    model = keras_model("modern")
    state = {key: recipe.recipe_tensor(key, shape) for key, shape in parameter_shapes(net).items()}
    transfer_weights(state, model, net)
    x = sample(net, batch=2)
    got = run_keras(model, x)
    want = onnx_outputs(net, state, x)
    assert [y.shape for y in got] == [y.shape for y in want] == [(2, *net.nodes[i].shape) for i in net.outputs]
    for g, w in zip(got, want, strict=True):
        assert difference(g, w) < 1e-5
    # Keras layer names are the labels, quoted ones included; the outputs are named by their layers.
    assert {"block1-0_fc1", "block1-0_multiply", "half", "head-2_1"} <= {layer.name for layer in model.layers}
    assert model.output_names == ["multiply_2", "aux_2", "head-2_1"]


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_drops_whole_samples_in_training_only(mode):
    """torchvision's StochasticDepth: each sample ("row") or the whole batch kept with probability 1 - p and
    scaled by 1 / (1 - p), or zeroed; the identity in inference."""
    net = cnndsl.loads(f"network n {{ input(4, 3, 3); stochastic_depth(0.5, mode={mode}) }}")
    model = to_keras(net)
    x = np.ones((64, 3, 3, 4), dtype=np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x, training=False)), x)
    runs = [keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(4)]
    for y in runs:
        per_sample = y.reshape(64, -1)
        assert set(np.unique(per_sample)) <= {0.0, 2.0}
        assert (per_sample == per_sample[:, :1]).all()  # a sample is dropped or kept whole
        if mode == "batch":
            assert len(np.unique(per_sample)) == 1
    kept = np.concatenate([y.reshape(64, -1)[:, 0] for y in runs]) > 0
    assert 0 < kept.sum() < kept.size  # some kept, some dropped (4·64 draws at p = 0.5)


def test_channel_shuffle_and_chunk_follow_pytorch():
    """Channels-last, the custom layers compute torchvision's channel_shuffle and torch.chunk (at any size)."""
    net = cnndsl.loads("network n { input(12, ?, ?); c: chunk(3, 1); channel_shuffle(2) }")
    model = to_keras(net)
    x = sample(net, batch=2, size=(4, 5))
    want = x[:, 4:8].reshape(2, 2, 2, 4, 5).transpose(0, 2, 1, 3, 4).reshape(2, 4, 4, 5)
    np.testing.assert_array_equal(run_keras(model, x), want)


def test_a_model_with_the_new_layers_saves_and_loads(tmp_path):
    """Chunk and ChannelShuffle are registered and configurable: a whole .keras model loads without
    custom_objects."""
    model = keras_model("modern")
    model.save(tmp_path / "modern.keras")
    loaded = keras.models.load_model(tmp_path / "modern.keras")
    assert {"Chunk", "ChannelShuffle"} <= {type(layer).__name__ for layer in loaded.layers}
    x = sample(load("modern"))
    for a, b in zip(run_keras(loaded, x), run_keras(model, x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_block_functions_read_like_the_blocks():
    """One function per block where the instances' code reads the same: RegNet's grouped convolution keeps
    `width // group`, ShuffleNet's `channels / 2` (exact in every instance) becomes `channels // 2`, and instances
    split apart by a difference their code does not show share a function again."""
    regnet = emit(load("regnet:regnet_y_400mf"))
    assert regnet.count("\ndef bottleneck") == 2  # with and without the projection
    assert "groups=width // group" in regnet
    assert 'x = bottleneck(x, 48, 8, 2, 8, name=f"{name}_block1_block1-0")' in regnet
    shufflenet = emit(load("shufflenet_v2:shufflenet_v2_x1_0"))
    assert "\ndef unit(x, channels, stride, name=None):" in shufflenet  # stride 2; unit_2: stride 1 (an `if`)
    assert shufflenet.count("\ndef unit") == 2 and "layers.Conv2D(channels // 2, 1, use_bias=False" in shufflenet
    efficientnet = emit(load("efficientnet:efficientnet_b0"))
    # conv or depthwise; SiLU or none is the `act` parameter (`if act == "silu":`)
    assert efficientnet.count("\ndef conv_bn_act") == 2 and '    if act == "silu":\n' in efficientnet
    # closing residual steps some instances skip, under `if residual:` as keras.applications' `if id_skip ...:`
    assert efficientnet.count("\ndef mbconv") == 2  # with and without the 1x1 expansion
    assert "    if residual:\n        x = layers.Dropout(p, noise_shape=(None, 1, 1, 1)" in efficientnet
    assert 'residual=True, name=f"{name}_sequence_2_1")' in efficientnet
    # what instances pass a nested block where no parameter gives it (make_divisible's result) is lifted to a
    # keyword-only parameter the callers pass, as keras.applications' blocks take `se_ratio`
    mobilenet = emit(load("mobilenet_v3:mobilenet_v3_large"))
    assert mobilenet.count("\ndef bneck") == 3  # without the 1x1 expansion; with it; with it and the gate
    assert "def bneck_3(x, kernel, expanded, out, act, stride, *, squeeze, residual=False, name=None):" in mobilenet
    assert "x = squeeze_excitation(x, expanded, squeeze, " in mobilenet and "squeeze=24, name=" in mobilenet


def test_quoted_labels_that_are_no_python_names():
    """A quoted label keeps its spelling in Keras layer names; the variables named after it are Python names
    (`-` as `_`, a keyword with a trailing `_`, a name the code uses itself numbered)."""
    source = emit(
        cnndsl.loads("""
        network n {
            input(4, 8, 8)
            "x-y": conv(4, 3, weights=((1, 0, 1), (0, 1, 0), (1, 0, 1)))
            concat { "if": conv(2, 1); "layers": conv(2, 1) }
            "lambda": output { flatten(); dense(3) }
            relu()
            add { "3_bn": batchnorm(); identity() }
        }""")
    )
    compile(source, "n.py", "exec")
    assert "kernel_initializer=fixed_kernel(X_Y_KERNEL)" in source and 'name="x-y"' in source
    assert 'if_ = layers.Conv2D(2, 1, name="if")(x)' in source
    assert 'layers_2 = layers.Conv2D(2, 1, name="layers")(x)' in source
    assert 'return keras.Model(inputs, [x, lambda_], name="n")' in source
    assert "x3_bn = layers.BatchNormalization(" in source and 'name="3_bn"' in source
