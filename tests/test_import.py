"""`cnndsl import` and `cnndsl.from_torch`: models become .cnn text that compiles back to the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import (
    ARCH,
    ARCHITECTURES,
    CHANNELS_LAST_OPS,
    NETWORKS,
    REPRESENTATIVES,
    load_architecture,
    load_network,
    torch_model,
)

torch = pytest.importorskip("torch")

import cnndsl  # noqa: E402
from cnndsl.cli import main  # noqa: E402
from cnndsl.fmt import is_formatted  # noqa: E402
from cnndsl.importers import ImportRefused, torch_text  # noqa: E402

MODELS = Path(__file__).parent / "fixtures" / "import" / "models.py"


def _outputs(model, x):
    with torch.no_grad():
        y = model(x)
    return y if isinstance(y, tuple) else (y,)


# Networks of 30 M parameters or more (AlexNet, the VGGs, ResNet-101 and -152) are imported from a model on
# torch's meta device: their structure, keys, shapes, parameters and MACs are checked, not their outputs
# nor the ONNX path, whose weights alone take most of a minute each to make. The smaller ones cover every
# structure the big ones have (plain chains, the bottleneck block).
BIG = 30_000_000

# The ops that are kept as they are (not traced through), counted in the original and in each import. An ONNX
# file exported for inference holds stochastic depth as an Identity: its import has none (the outputs, weights
# and counts are the same; docs/import.md says so).
KEPT = ("stochastic_depth", "chunk", "channel_shuffle", "multiply", "layernorm", "layer_scale", "channels_last",
        "channels_first")  # fmt: skip


def _with_norms_and_scales_away_from_their_start(model):
    """Layer norms' weights and biases and layer scales away from 1, 0 and 1e-6 (torch_model moves batch
    norm's), so that a mix-up of them shows and ConvNeXt's residual branches count in its outputs."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.uniform_(0.5, 1.5)
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_round_trip(name):
    """compile → PyTorch → import → .cnn → compile, and compile → ONNX → import → .cnn → compile: the same
    state_dict keys and shapes, parameters, MACs, and outputs with the same weights."""
    from cnndsl.backends.onnx import onnx_from_torch

    net = load_architecture(name)
    big = net.params >= BIG
    if big:
        with torch.device("meta"):
            model = cnndsl.to_torch(net).eval()
    else:
        model = _with_norms_and_scales_away_from_their_start(torch_model(net))
    imports = [cnndsl.from_torch(model, net.input_shape, name=name)]
    if not big:
        imports.append(cnndsl.from_onnx(onnx_from_torch(net, model), name=name))
    original = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shape = [d if isinstance(d, int) else 64 for d in net.input_shape]
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    expected = None if big else _outputs(model, x)
    kept = {kind: [n.op.kind for n in net.nodes].count(kind) for kind in KEPT}
    for imported, onnx in zip(imports, (False, True), strict=False):
        assert {kind: [n.op.kind for n in imported.nodes].count(kind) for kind in KEPT} == kept | (
            {"stochastic_depth": 0} if onnx else {})  # fmt: skip
    for imported in imports:
        assert is_formatted(imported.to_cnn())
        assert (imported.params, imported.buffers, imported.macs) == (net.params, net.buffers, net.macs)
        with torch.device("meta" if big else "cpu"):
            again = cnndsl.to_torch(imported).eval()
        assert {k: tuple(v.shape) for k, v in again.state_dict().items()} == original
        if big:
            continue
        again.load_state_dict(model.state_dict())
        for a, b in zip(expected, _outputs(again, x), strict=True):
            assert float((a - b).abs().max() / a.abs().max()) <= 1e-5


# The other members of the family files (test_round_trip takes each file's first representative), through
# PyTorch on the meta device: about a second each.
FIRST = {f"{stem}:{members[0]}" for stem, members in REPRESENTATIVES.items()}
MEMBERS = [n for n in NETWORKS if ":" in n and n not in FIRST]


@pytest.mark.slow
@pytest.mark.parametrize("name", MEMBERS)
def test_every_family_member_round_trips_through_pytorch(name):
    """The same state_dict keys and shapes, parameters, buffers and MACs, for every width and depth."""
    net = load_network(name)
    with torch.device("meta"):
        model = cnndsl.to_torch(net).eval()
    imported = cnndsl.from_torch(model, net.input_shape, name=name.partition(":")[2])
    assert is_formatted(imported.to_cnn())
    assert (imported.params, imported.buffers, imported.macs) == (net.params, net.buffers, net.macs)
    with torch.device("meta"):
        again = cnndsl.to_torch(imported)
    assert {k: tuple(v.shape) for k, v in again.state_dict().items()} == {
        k: tuple(v.shape) for k, v in model.state_dict().items()
    }


def test_resnet34_reads_like_the_library():
    """One block definition and repeats, not 116 flat layers."""
    net = cnndsl.load(ARCH / "resnet34.cnn")
    text = torch_text(cnndsl.to_torch(net), net.input_shape, "resnet34")
    assert text.count("block ") == 1
    assert "block basic(channels, stride = 1) {" in text
    assert "} shortcut downsample {" in text
    for line in ("repeat 3 basic(64)", "basic(128, stride=2)", "repeat 5 basic(256)", "repeat 2 basic(512)"):
        assert f"        {line}\n" in text
    assert len(text.splitlines()) < 50


def test_numbered_labels_become_loops():
    """DenseNet's `denselayer1` … `denselayer24` and RegNet's `"block2-1"` … become one loop each, with a
    computed label (the round trip of both checks the compiled keys)."""
    for name, loop in (
        ("densenet", "for i in range(24) {\n                denselayer{i + 1}: dense_layer()\n            }"),
        ("regnet", 'for i in range(5) {\n                "block3-{i + 1}": bottleneck(208, 26, 52)\n            }'),
    ):
        net = load_architecture(name)
        with torch.device("meta"):
            model = cnndsl.to_torch(net)
        text = torch_text(model, net.input_shape, name)
        assert loop in text
        assert "denselayer2:" not in text and '"block3-2"' not in text
        assert is_formatted(text)


def _load_models():
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_models", MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_handwritten_torchvision_style_model():
    """A model written by hand (torchvision's BasicBlock, `out += identity`): one block, its stride a
    parameter with the common value as default, the projection's arguments in terms of the parameters."""
    models = _load_models()
    model = models.tiny()
    net = cnndsl.from_torch(model, (3, 32, 32))
    assert model.training  # traced in inference mode, given back in the caller's
    model.eval()
    text = net.to_cnn()
    assert "block basic_block(channels, stride = 1) {" in text
    assert "conv(channels, 1, strides=stride, use_bias=false)" in text
    assert "repeat 2 basic_block(16)" in text
    again = cnndsl.to_torch(net).eval()
    again.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(again(x), model(x), rtol=1e-5, atol=1e-6)


class _Unit(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class _Pair(torch.nn.Module):
    def __init__(self, unit):
        super().__init__()
        self.a, self.b = unit(), unit()

    def forward(self, x):
        return self.b(self.a(x))


def test_names_of_classes_that_are_no_words():
    """A class's snake_case name that starts with a digit takes the word of what it names (`block_1x_1`), as a
    model's does (`model_3d`); one without a word is that word alone (`model`, not `model_`)."""
    unit = type("1x1", (_Unit,), {})
    for cls, network in (("_", "model"), ("3d", "model_3d"), ("Pair", "pair")):
        text = cnndsl.from_torch(type(cls, (_Pair,), {})(unit), (4, 8, 8)).to_cnn()
        assert text.startswith("block block_1x_1() {\n") and f"\nnetwork {network} {{\n" in text
        assert "    a: block_1x_1()\n" in text


def test_refusal_names_every_operation_and_where():
    models = _load_models()
    with pytest.raises(ImportRefused) as e:
        cnndsl.from_torch(models.Unsupported(), (3, 32, 32))
    assert [where for _, where in e.value.problems] == ["norm", "gelu", "sin"]
    assert "LayerNorm" in str(e.value) and "tanh approximation" in str(e.value)
    with pytest.raises(ImportRefused, match="data-dependent control flow") as e:
        cnndsl.from_torch(models.Branchy(), (3, 32, 32))
    line = MODELS.read_text().splitlines().index("        if x.sum() > 0:") + 1
    assert e.value.problems[0][1] == f"{MODELS}:{line}"  # the `if` on a traced value


def test_cli_writes_text_and_weights(tmp_path, capsys):
    out, weights = tmp_path / "tiny.cnn", tmp_path / "tiny.pt"
    code = main(["import", f"{MODELS}:tiny", "--input-shape", "3,32,32", "-o", str(out), "--weights", str(weights)])
    assert code == 0
    assert main(["fmt", "--check", str(out)]) == 0
    model = _load_models().tiny().eval()
    compiled = cnndsl.to_torch(cnndsl.load(out)).eval()
    compiled.load_state_dict(torch.load(weights))  # the weights written follow the compiled layout
    assert compiled.state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize(
    ("source", "code", "message"),
    [
        ("{models}:Unsupported", 1, "norm: LayerNorm over the last 3 axes (8, 30, 30)"),
        ("{models}:nothing", 2, "has no callable 'nothing'"),
        ("no/such/file.py:f", 2, "no such file"),
        ("model.pt2", 2, "no such file"),
        ("model.keras", 2, "no such file"),
        ("missing.onnx", 2, "no such file"),
        ("{bad}", 1, "is not an ONNX model"),
    ],
)
def test_cli_refuses_without_writing(tmp_path, capsys, source, code, message):
    out, bad = tmp_path / "out.cnn", tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    source = source.format(models=MODELS, bad=bad)
    assert main(["import", source, "--input-shape", "3,32,32", "-o", str(out)]) == code
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_to_cnn_of_a_loaded_file():
    assert cnndsl.load(ARCH / "lenet5.cnn").to_cnn() == (ARCH / "lenet5.cnn").read_text()


def test_cli_onnx_with_weights(tmp_path):
    """An ONNX file with trained weights: the .cnn and the weights written load into the compiled network,
    which gives the original's outputs."""
    from cnndsl.backends.onnx import onnx_from_torch

    net = cnndsl.load(ARCH / "resnet18.cnn")
    model = torch_model(net, seed=1)
    path, out, weights = tmp_path / "r18.onnx", tmp_path / "r18.cnn", tmp_path / "r18.pt"
    path.write_bytes(onnx_from_torch(net, model).SerializeToString())
    assert main(["import", str(path), "-o", str(out), "--weights", str(weights)]) == 0
    assert "block basic(channels, stride = 1) {" not in out.read_text()  # ONNX keeps no class names ...
    assert out.read_text().count("block ") == 1  # ... but the 8 instances are still one block
    compiled = cnndsl.to_torch(cnndsl.load(out)).eval()
    compiled.load_state_dict(torch.load(weights))
    x = torch.randn(1, 3, 224, 224)
    (a,), (b,) = _outputs(model, x), _outputs(compiled, x)
    assert float((a - b).abs().max() / a.abs().max()) <= 1e-5


def test_onnx_refusal_names_the_nodes(tmp_path, capsys):
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="act"),
        helper.make_node("Sin", ["a"], ["b"], name="head/sin"),
        helper.make_node("Transpose", ["b"], ["y"], name="swap", perm=[0, 1, 3, 2]),
    ]
    save(helper.make_model(helper.make_graph(nodes, "g", [x], [y])), tmp_path / "odd.onnx")
    out = tmp_path / "odd.cnn"
    assert main(["import", str(tmp_path / "odd.onnx"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "head/sin: Sin (no .cnn op)" in err and "swap: Transpose(0, 1, 3, 2) (only channels-last" in err
    assert not out.exists()


def test_shortcut_with_named_layers():
    """A projection that is a module of its own class (not an nn.Sequential) keeps its layers' names."""
    model = _load_models().down().eval()
    net = cnndsl.from_torch(model, (3, 32, 32))
    assert "} shortcut proj {" in net.to_cnn()
    again = cnndsl.to_torch(net).eval()
    again.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(again(x), model(x), rtol=1e-5, atol=1e-6)


def test_convnext_written_by_hand():
    """torchvision's ConvNeXt style written by hand: LayerNorm2d, `x.permute(...)` in forward, nn.LayerNorm and
    nn.Linear on the map held channels-last, a bare parameter as layer scale (its value the init)."""
    model = _load_models().convnext_like().eval()
    net = cnndsl.from_torch(model, (3, 32, 32))
    text = net.to_cnn()
    for line in ("channels_last()", "norm: layernorm(eps=1e-06)", "pwconv1: dense(64)", "channels_first()",
                 "gamma: layer_scale(0.5)", "repeat 2 conv_next_block()"):  # fmt: skip
        assert line in text
    again = cnndsl.to_torch(net).eval()
    again.load_state_dict(_with_norms_and_scales_away_from_their_start(model).state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(again(x), model(x), rtol=1e-5, atol=1e-6)


def test_layer_norm_over_the_width_is_refused():
    with pytest.raises(ImportRefused, match="norm: layer norm over the last axis of a map held channels-first"):
        cnndsl.from_torch(_load_models().NormOverWidth(), (3, 8, 8))


@pytest.mark.parametrize("opset", [15, 22])
@pytest.mark.parametrize("name", ["convnext_ops", "flat_layernorm"])
def test_channels_last_ops_from_onnx(name, opset):
    """Layer norm over channels (of a map held channels-first or channels-last, of a vector), dense layers on a
    map held channels-last, layer scale on a map and a vector: from ONNX's LayerNormalization and Gelu, and
    from their formulas before opsets 17 and 20."""
    from cnndsl.backends.onnx import onnx_from_torch

    net = cnndsl.loads(CHANNELS_LAST_OPS, name)
    model = _with_norms_and_scales_away_from_their_start(torch_model(net))
    imported = cnndsl.from_onnx(onnx_from_torch(net, model, opset=opset))
    assert [n.op.kind for n in imported.nodes] == [n.op.kind for n in net.nodes]
    assert [getattr(n.op, "activation", None) for n in imported.nodes] == [
        getattr(n.op, "activation", None) for n in net.nodes
    ]
    again = cnndsl.to_torch(imported).eval()
    again.load_state_dict(model.state_dict())
    x = torch.randn(2, *net.input_shape)
    (a,), (b,) = _outputs(model, x), _outputs(again, x)
    assert float((a - b).abs().max() / a.abs().max()) <= 1e-5


def _onnx_graph(nodes, initializers=(), channels=8):
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 6, 6])
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers]
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits))


def test_onnx_channel_shuffle_and_split_only_as_exported():
    """Reshape → Transpose → Reshape is a channel shuffle only when it swaps the two channel axes back into
    the input's shape; a Slice or Split is a chunk only of equal parts of the channels. The rest is refused
    with the node's name."""
    from onnx import helper

    i64 = np.int64
    shuffle = [
        helper.make_node("Reshape", ["x", "groups"], ["g"], name="s/grouped"),
        helper.make_node("Transpose", ["g"], ["t"], name="s/transposed", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["t", "back"], ["y"], name="s"),
    ]
    shape = [("groups", np.array([0, 4, 2, -1], i64)), ("back", np.array([0, 8, 6, 6], i64))]
    net = cnndsl.from_onnx(_onnx_graph(shuffle, shape))
    assert [(n.op.kind, n.op.groups) for n in net.nodes[1:]] == [("channel_shuffle", 4)]

    shuffle[1] = helper.make_node("Transpose", ["g"], ["t"], name="s/transposed", perm=[0, 1, 3, 2])
    with pytest.raises(ImportRefused) as e:
        cnndsl.from_onnx(_onnx_graph(shuffle, shape))
    assert [where for _, where in e.value.problems] == ["s/grouped", "s/transposed", "s"]

    parts = [("starts", np.array([0], i64)), ("ends", np.array([8], i64)), ("axes", np.array([1], i64))]
    swap = [  # the halves of the channels swapped
        helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=1, num_outputs=2),
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["c"], name="left"),
        helper.make_node("Concat", ["b", "c"], ["y"], name="cat", axis=1),
    ]
    net = cnndsl.from_onnx(_onnx_graph(swap, parts, channels=16))
    assert [(n.op.kind, getattr(n.op, "index", None)) for n in net.nodes[1:]] == [
        ("chunk", 1), ("chunk", 0), ("concat", None)
    ]  # fmt: skip

    parts[1] = ("ends", np.array([7], i64))
    with pytest.raises(ImportRefused, match="left: Slice other than one of equal parts of the channels"):
        cnndsl.from_onnx(_onnx_graph(swap, parts, channels=16))
