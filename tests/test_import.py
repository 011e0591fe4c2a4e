"""`cnndsl import` and `cnndsl.from_torch`: models become .cnn text that compiles back to the same model."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ARCH, ARCHITECTURES, load_architecture, torch_model

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

# What the importer does not read yet, refused with each operation named (test_refused_yet): ConvNeXt's layer
# norm and channels-last layers; from ONNX, EfficientNet's stochastic depth (an Identity in inference) and
# ShuffleNetV2's channel split and shuffle (Split, Reshape, Transpose).
NOT_IMPORTED = ("convnext",)
NOT_FROM_ONNX = ("efficientnet", "shufflenet_v2")


@pytest.mark.parametrize("name", [n for n in ARCHITECTURES if n not in NOT_IMPORTED])
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
        model = torch_model(net)
    imports = [cnndsl.from_torch(model, net.input_shape, name=name)]
    if not big and name not in NOT_FROM_ONNX:
        imports.append(cnndsl.from_onnx(onnx_from_torch(net, model), name=name))
    original = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shape = [d if isinstance(d, int) else 64 for d in net.input_shape]
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    expected = None if big else _outputs(model, x)
    for kind in ("stochastic_depth", "chunk", "channel_shuffle", "multiply"):  # kept, not traced through
        assert [n.op.kind for n in imports[0].nodes].count(kind) == [n.op.kind for n in net.nodes].count(kind)
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


@pytest.mark.parametrize("name", NOT_IMPORTED + NOT_FROM_ONNX)
def test_refused_yet(name):
    from cnndsl.backends.onnx import onnx_from_torch

    net = load_architecture(name)
    model = torch_model(net)
    with pytest.raises(ImportRefused, match="operation"):
        cnndsl.from_onnx(onnx_from_torch(net, model), name=name)
    if name in NOT_IMPORTED:
        with pytest.raises(ImportRefused, match="operation"):
            cnndsl.from_torch(model, net.input_shape, name=name)


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
        ("{models}:Unsupported", 1, "norm: LayerNorm (no .cnn op)"),
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
    assert "head/sin: Sin (no .cnn op)" in err and "swap: Transpose (no .cnn op)" in err
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
