"""The constructs of today's CNNs (docs/language.md): identity branches, inline groups, merge order, gates
(multiply), channel chunk and shuffle, stochastic depth, several outputs and quoted module names — as the
front end builds them, and as IR JSON and the ONNX backend carry them (the PyTorch backend's are in
tests/test_torch.py)."""

import numpy as np
import pytest

import cnndsl
from cnndsl import ops
from cnndsl.ir import Network


def names(net):
    return [n.name for n in net.nodes]


def test_identity_is_the_input_and_takes_no_position():
    net = cnndsl.loads("network n { input(4, 8, 8); concat { identity(); conv(2, 1) }; relu() }")
    concat = net.nodes[-2]
    assert concat.inputs == (0, 1) and concat.shape == (6, 8, 8)
    assert names(net) == ["input", "0", "1", "2"]  # the conv is 0: identity() took no index


def test_inline_groups_name_their_statements_in_the_enclosing_scope():
    src = """
    block fire(s, e1, e3) {
        squeeze: conv(s, 1); relu()
        concat { inline { expand1x1: conv(e1, 1); relu() }; inline { expand3x3: conv(e3, 3, padding=1); relu() } }
    }
    network n { input(16, 8, 8); features: sequence { conv(16, 1); fire(4, 8, 8) } }
    """
    net = cnndsl.loads(src)
    weights = [n.name for n in net.nodes if n.params]
    assert weights == ["features.0", "features.1.squeeze", "features.1.expand1x1", "features.1.expand3x3"]
    assert net.output_shape == (16, 8, 8)
    # a bare group is a sub-module of its own, numbered
    bare = cnndsl.loads("network n { input(4, 8, 8); concat { { c: conv(2, 1) }; identity() } }")
    assert "0.c" in names(bare)


def test_merge_order_follows_the_labels_when_the_current_tensor_is_one_of_them():
    src = "network n {{ input(4, 8, 8); a: conv(2, 1); b: conv(3, 1); {} }}"
    first = cnndsl.loads(src.format("concat(a)"))
    assert first.nodes[-1].inputs == (2, 1)  # current (b) first
    ordered = cnndsl.loads(src.format("concat(a, b)"))
    assert ordered.nodes[-1].inputs == (1, 2) and ordered.output_shape == (5, 8, 8)


@pytest.mark.parametrize(
    "shapes, out",
    [(((8, 1, 1), (8, 5, 5)), (8, 5, 5)), (((8, 5, 5), (1, 5, 5)), (8, 5, 5)), (((8, 5, 5), (8, 5, 5)), (8, 5, 5))],
)
def test_multiply_broadcasts_sizes_of_one(shapes, out):
    assert ops.Multiply().infer(list(shapes)) == out


def test_multiply_refuses_sizes_that_do_not_broadcast():
    with pytest.raises(ops.ShapeError):
        ops.Multiply().infer([(8, 5, 5), (4, 5, 5)])
    with pytest.raises(ops.ShapeError):
        ops.Multiply().infer([(8,), (8, 5, 5)])


def test_squeeze_excitation_gate():
    src = """
    block se(c, s) { multiply { identity(); inline { avgpool: global_avgpool(); fc1: conv(s, 1); relu()
                                                     fc2: conv(c, 1); hardsigmoid() } } }
    network n { input(32, 7, 7); gate: se(32, 8) }
    """
    net = cnndsl.loads(src)
    assert [n.name for n in net.nodes if n.params] == ["gate.fc1", "gate.fc2"]
    assert net.params == 32 * 8 + 8 + 8 * 32 + 32 and net.output_shape == (32, 7, 7)
    assert net.nodes[-1].op.kind == "multiply" and net.nodes[-1].inputs[0] == 0


def test_chunk_and_shuffle_shapes():
    net = cnndsl.loads("network n { input(12, 5, 5); a: chunk(3, 2); channel_shuffle(2) }")
    assert net.nodes[1].shape == (4, 5, 5) and net.output_shape == (4, 5, 5)


def test_extra_outputs_branch_from_the_current_tensor():
    src = """
    network n(classes = 10) {
        input(3, 16, 16)
        stem: conv(8, 3, padding=1)
        aux: output { global_avgpool(); flatten(); dense(classes) }
        head: output dense(4)
        conv(8, 3)
    }
    """
    with pytest.raises(cnndsl.CnnDslError) as e:
        cnndsl.loads(src)
    assert e.value.code == "E304"  # dense on a feature map: the output statement reads stem, not aux
    net = cnndsl.loads(src.replace("head: output dense(4)", "head: output { flatten(); dense(4) }"))
    stem = net.node("stem").id
    assert net.nodes[net.output].name == "3" and net.nodes[net.output].inputs == (stem,)
    assert [net.output_name(i) for i in net.extra_outputs] == ["aux", "head"]
    assert [net.nodes[i].shape for i in net.outputs] == [(8, 14, 14), (10,), (4,)]
    assert str(net) == "n: 3×16×16 → 8×14×14 (+ aux 10, head 4), 9,094 params"
    assert "Output aux: 10" in net.summary()
    again = Network.from_json(net.to_json())
    assert again.extra_outputs == net.extra_outputs
    dot = cnndsl.render(net).source
    assert "output aux" in dot and "output head" in dot


def test_doctored_outputs_are_refused():
    net = cnndsl.loads("network n { input(3, 8, 8); conv(4, 1); a: output relu() }")
    for bad in ([99], [net.output]):
        doctored = net.to_json().replace('"extra_outputs": [\n    2\n  ]', f'"extra_outputs": {bad}')
        with pytest.raises(ValueError):
            Network.from_json(doctored)


def test_quoted_labels_name_modules_that_are_not_identifiers():
    net = cnndsl.loads('network n { input(3, 8, 8); "block1-0": { conv(4, 1); relu() }; "stage_2": conv(4, 1) }')
    assert [n.name for n in net.nodes if n.params] == ["block1-0.0", "stage_2"]
    assert Network.from_json(net.to_json()).nodes[1].name == "block1-0.0"


# keras.applications' ResNet block: layers named by a number first, the projection's among the block's own.
KERAS_RESNET_BLOCK = """
block unit(c, stride = 1) {
    residual {
        "1_conv": conv(c, 1, strides=stride)
        "1_bn": batchnorm()
    } shortcut inline {
        "0_conv": conv(c, 1, strides=stride)
        "0_bn": batchnorm()
    }
    relu()
}
network n { input(4, 8, 8); block1: unit(4); block2: unit(8, stride=2); "3x": relu() }
"""


def test_quoted_labels_starting_with_a_digit_and_an_inline_shortcut():
    """`"1_conv"` names a module as it is, in the IR, Keras and ONNX; `shortcut inline` puts the projection's
    layers in the enclosing scope and takes no position where the shortcut is the identity."""
    from cnndsl.backends.keras import keras_names

    net = cnndsl.loads(KERAS_RESNET_BLOCK)
    assert [n.name for n in net.nodes] == [
        "input", "block1.1_conv", "block1.1_bn", "block1.2", "block1.3",
        "block2.1_conv", "block2.1_bn", "block2.0_conv", "block2.0_bn", "block2.4", "block2.5", "3x",
    ]  # fmt: skip
    assert keras_names(net)[0][5:] == [
        "block2_1_conv", "block2_1_bn", "block2_0_conv", "block2_0_bn", "block2_add", "block2_out", "3x"
    ]  # fmt: skip
    onnx = pytest.importorskip("onnx")
    model = cnndsl.to_onnx(net)
    onnx.checker.check_model(model)
    assert [n.name for n in model.graph.node][4:8] == ["block2.1_conv", "block2.1_bn", "block2.0_conv", "block2.0_bn"]


# The new ops and an extra output in one network (tests/test_torch.py checks PyTorch's model of it too).
NEW_OPS = """
network n {
    input(8, 6, 5)
    a: relu()
    aux: output { global_avgpool(); flatten(); dense(3) }
    multiply { identity(); inline { global_avgpool(); g: conv(8, 1); hardsigmoid() } }
    chunk(2, 1); channel_shuffle(2); stochastic_depth(0.3)
}
"""


def test_the_onnx_graph_computes_the_new_ops():
    """Gate, chunk, shuffle, stochastic depth (identity in inference) and an extra output, against NumPy."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net = cnndsl.loads(NEW_OPS)
    model = cnndsl.to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True, check_type=True)
    w = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    x = np.random.default_rng(0).random((2, 8, 6, 5), dtype=np.float32) - 0.5
    main, aux = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})
    a = np.maximum(x, 0)
    pooled = a.mean((2, 3))
    z = pooled @ w["g.weight"][:, :, 0, 0].T + w["g.bias"]
    y = a * np.clip(z / 6 + 0.5, 0, 1)[:, :, None, None]
    y = y[:, 4:]
    y = y.reshape(2, 2, 2, 6, 5).transpose(0, 2, 1, 3, 4).reshape(2, 4, 6, 5)
    assert np.abs(main - y).max() < 1e-6
    assert np.abs(aux - (pooled @ w["aux.2.weight"].T + w["aux.2.bias"])).max() < 1e-6
