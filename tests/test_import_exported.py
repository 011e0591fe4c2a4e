"""`cnndsl import model.pt2` and `cnndsl.from_exported`: torch.export programs become .cnn text that compiles
back to the same model; TorchScript archives and torch.save pickles are refused with what they are."""

from __future__ import annotations

import pickle
import re
import zipfile

import pytest
from conftest import load_architecture, torch_model

torch = pytest.importorskip("torch")

import cnndsl  # noqa: E402
from cnndsl.cli import main  # noqa: E402
from cnndsl.errors import InputError  # noqa: E402
from cnndsl.fmt import is_formatted  # noqa: E402
from cnndsl.importers import ImportRefused, torch_text  # noqa: E402

# torch.export takes seconds per model: small inputs (the ImageNet networks end in a global pooling)
SHAPE = {"unet": (1, 32, 32)}
NETWORKS = ["resnet18", "mobilenet_v3", "googlenet", "shufflenet_v2", "efficientnet", "convnext", "unet"]


def _export(model, shape, path):
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    torch.export.save(torch.export.export(model, (x,)), path)
    return x


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (network, model with non-trivial weights, .pt2 path, an input), each exported once."""
    cache = {}

    def get(name):
        if name not in cache:
            net = load_architecture(name)
            model = torch_model(net, seed=1)
            path = tmp_path_factory.mktemp("pt2") / f"{name}.pt2"
            x = _export(model, SHAPE.get(name, (3, 64, 64)), path)
            cache[name] = net, model, path, x
        return cache[name]

    return get


def _state(model) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _max_rel(a, b) -> float:
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize("name", NETWORKS)
def test_round_trip(name, exported):
    """compile → PyTorch → torch.export.save → import → .cnn → compile: the text the torch.fx import gives, the
    same state_dict keys and shapes, parameters and MACs, and the same outputs with the program's weights."""
    net, model, path, x = exported(name)
    imported = cnndsl.from_exported(path, name=name)
    text = imported.to_cnn()
    assert is_formatted(text)
    expected = torch_text(model, tuple(x.shape[1:]), name)
    if name in ("efficientnet", "convnext"):  # stochastic depth is the identity in inference: export keeps no node
        assert "stochastic_depth" in expected and "stochastic_depth" not in text
    else:
        assert text == expected
    assert (imported.params, imported.buffers) == (net.params, net.buffers)
    at_size = re.sub(r"input\([^)]*\)", f"input({', '.join(map(str, net.input_shape))})", text, count=1)
    assert cnndsl.loads(at_size).macs == net.macs
    again = cnndsl.to_torch(imported).eval()
    assert _state(again) == _state(model)
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert _max_rel(model(x), again(x)) <= 1e-5


def test_resnet_reads_like_the_library(exported):
    """Module paths from nn_module_stack: one block, labels, repeats, the shortcut named after its module."""
    _, _, path, _ = exported("resnet18")
    text = cnndsl.from_exported(path).to_cnn()
    assert "network resnet18 {" in text  # the exported module's class
    assert text.count("block ") == 1 and "block basic(channels, stride = 1) {" in text
    assert "} shortcut downsample {" in text and "repeat 2 basic(64)" in text
    assert "    conv1: conv(64, 7, strides=2, padding=3, use_bias=false)\n" in text


def test_cli_writes_text_and_weights(exported, tmp_path):
    """`cnndsl import model.pt2 -o OUT.cnn --weights OUT.pt`: the compiled file loads the weights written and
    gives the program's outputs."""
    _, model, path, x = exported("mobilenet_v3")
    out, weights = tmp_path / "m.cnn", tmp_path / "m.pt"
    assert main(["import", str(path), "-o", str(out), "--weights", str(weights)]) == 0
    assert main(["fmt", "--check", str(out)]) == 0
    assert out.read_text().startswith(f"# Imported by `cnndsl import` from {path}.")
    compiled = cnndsl.to_torch(cnndsl.load(out)).eval()
    compiled.load_state_dict(torch.load(weights))
    with torch.no_grad():
        assert _max_rel(model(x), compiled(x)) <= 1e-5


class _Classifier(torch.nn.Module):
    """A flatten of a 3×3 map before a dense layer: Keras flattens H·W·C, so the weights carried to the Keras
    twin have that layer's rows permuted."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


def test_cli_writes_keras_weights(tmp_path):
    """`cnndsl import model.pt2 -o OUT.cnn --weights OUT.weights.h5`: the compiled file's Keras model loads the
    weights written and gives the program's outputs."""
    keras = pytest.importorskip("keras")
    torch.manual_seed(0)
    model = _Classifier().eval()
    with torch.no_grad():  # batch-norm statistics that matter
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 1.5)
    path, out, weights = tmp_path / "classifier.pt2", tmp_path / "c.cnn", tmp_path / "c.weights.h5"
    x = _export(model, (3, 8, 8), path)
    assert main(["import", str(path), "-o", str(out), "--weights", str(weights)]) == 0
    compiled = cnndsl.to_keras(cnndsl.load(out))
    compiled.load_weights(weights)
    assert {layer.name for layer in compiled.layers} >= {"conv", "bn", "fc"}
    with torch.no_grad():
        expected = model(x)
    got = torch.from_numpy(keras.ops.convert_to_numpy(compiled(x.permute(0, 2, 3, 1).numpy())))
    assert _max_rel(expected, got) <= 1e-5


def test_input_shape_must_be_the_exported_one(exported, tmp_path, capsys):
    _, _, path, _ = exported("resnet18")
    out = tmp_path / "r.cnn"
    assert main(["import", str(path), "--input-shape", "3,224,224", "-o", str(out)]) == 2
    assert "exported for inputs of 3,64,64, not 3,224,224" in capsys.readouterr().err
    assert not out.exists()


class _Ops(torch.nn.Module):
    """Each op the torch.fx import maps, in one chain, through the modules and functions that make them."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.deconv = nn.ConvTranspose2d(8, 8, 2, stride=2, bias=False)
        self.gelu = nn.GELU()
        self.shuffle = nn.ChannelShuffle(2)
        self.dw = nn.Conv2d(8, 8, 3, padding="same", groups=8, dilation=2)
        self.bn = nn.BatchNorm2d(8, eps=1e-3, momentum=0.01)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 8, 1), nn.Hardsigmoid())
        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 6, bias=False),
                                  nn.Softmax(dim=1))  # fmt: skip

    def forward(self, x):
        F = torch.nn.functional
        x = F.elu(self.act(F.relu(self.conv(x))), alpha=0.5)
        x = torch.tanh(self.gelu(self.deconv(self.up(x))))
        x = F.max_pool2d(x, 2)
        x = F.hardswish(self.bn(self.dw(self.shuffle(x))))
        x = x * self.gate(x)
        a, b = x.chunk(2, dim=1)
        x = torch.cat([torch.sigmoid(a), F.silu(b)], 1)
        x = F.relu6(self.pool(x))
        return self.head(x)


def test_every_op_as_the_fx_import():
    """The ATen calls of each op read as the torch.fx import reads the modules and functions that make them
    (the same text), and the import gives the model's outputs."""
    model, x = _Ops().eval(), torch.randn(1, 3, 16, 16)
    program = torch.export.export(model, (x,))
    net = cnndsl.from_exported(program, name="ops")
    assert net.to_cnn() == torch_text(model, (3, 16, 16), "ops")
    again = cnndsl.to_torch(net).eval()
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert _max_rel(model(x), again(x)) <= 1e-6


class _AlexNetStem(torch.nn.Module):
    """AlexNet's stem as the 2012 paper has it (LRN after the ReLU, then max pooling), and a functional LRN."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.lrn1 = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        self.conv2 = torch.nn.Conv2d(8, 6, 3, padding=1)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(self.lrn1(torch.relu(self.conv1(x))), 3, stride=2)
        return torch.nn.functional.local_response_norm(self.conv2(x), 4, alpha=0.5)


def test_local_response_norm():
    """torch.export records LocalResponseNorm as the arithmetic it computes (pow, view, pad, avg_pool3d ...):
    that pattern, exactly, is `lrn`, with the module's size, alpha, beta and k, as the torch.fx import reads it."""
    torch.manual_seed(0)
    model, x = _AlexNetStem().eval(), torch.randn(1, 3, 24, 24)
    net = cnndsl.from_exported(torch.export.export(model, (x,)), name="stem")
    text = net.to_cnn()
    assert text == torch_text(model, (3, 24, 24), "stem")
    assert "    lrn1: lrn(5, k=2.0)\n" in text and "    lrn(4, alpha=0.5)\n" in text
    again = cnndsl.to_torch(net).eval()
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert _max_rel(model(x), again(x)) <= 1e-6
    with pytest.raises(ImportRefused, match="aten.pad"):  # the same arithmetic without its `+ k` is no lrn
        cnndsl.from_exported(torch.export.export(_NotLrn(), (x,)))


class _NotLrn(torch.nn.Module):
    def forward(self, x):
        div = torch.nn.functional.pad((x * x).view(1, 1, 3, 24, -1), (0, 0, 0, 0, 1, 1))
        div = torch.nn.functional.avg_pool3d(div, (3, 1, 1), stride=1).squeeze(1).view(x.shape)
        return x / (div * 1e-4).pow(0.75)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class _Shared(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))


class _Reshape(torch.nn.Module):
    def forward(self, x):  # the first view of a channel shuffle, then something else
        return torch.relu(x.view(1, 3, 1, 8, 8)).view(1, 3, 8, 8)


class _Lrn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lrn = torch.nn.LocalResponseNorm(3)

    def forward(self, x):
        return self.lrn(x)


class _TwoInputs(torch.nn.Module):
    def forward(self, x, y):
        return torch.cat([x, y], 1)


class _Touch:
    """A pickle that creates a file when it is unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _files(tmp_path):
    """Files of every kind `cnndsl import` is given: name -> (file, exit code, message)."""
    model, x = _Net().eval(), torch.randn(1, 3, 8, 8)
    p = {name: tmp_path / name for name in ("traced.pt", "scripted.pt", "state.pt", "whole.pt", "legacy.pth",
                                           "decomposed.pt2", "dynamic.pt2", "training.pt2", "text.pt2", "shared.pt2",
                                           "two.pt2", "reshape.pt2", "lrn.pt2")}  # fmt: skip
    torch.jit.save(torch.jit.trace(model, x), p["traced.pt"])
    torch.jit.save(torch.jit.script(model), p["scripted.pt"])
    torch.save(model.state_dict(), p["state.pt"])
    torch.save(model, p["whole.pt"])
    torch.save(model.state_dict(), p["legacy.pth"], _use_new_zipfile_serialization=False)
    torch.export.save(torch.export.export(model, (x,)).run_decompositions(), p["decomposed.pt2"])
    h = torch.export.Dim("h", min=4, max=64)
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes={"x": {2: h}}), p["dynamic.pt2"])
    _export(_Net().train(), (3, 8, 8), p["training.pt2"])
    p["text.pt2"].write_text("no archive")
    _export(_Shared().eval(), (3, 8, 8), p["shared.pt2"])
    torch.export.save(torch.export.export(_TwoInputs(), (x, x)), p["two.pt2"])
    _export(_Reshape(), (3, 8, 8), p["reshape.pt2"])
    _export(_Lrn(), (3, 8), p["lrn.pt2"])  # of a sequence: not a map's arithmetic
    return {
        "traced.pt": (1, "is a TorchScript archive: loading one runs the code it holds"),
        "scripted.pt": (1, "export the model with torch.export instead"),
        "state.pt": (1, "is a state_dict (7 tensors: weights without the architecture); cnndsl imports torch.export"),
        "whole.pt": (1, f"is a pickled {__name__}._Net (a whole model saved with torch.save(model))"),
        "legacy.pth": (1, "is a state_dict"),
        "decomposed.pt2": (1, "a decomposed program: save the one torch.export.export returns"),
        "dynamic.pt2": (1, "exported with dynamic shapes (export it for one input shape)"),
        "training.pt2": (1, "bn: batch norm in training mode (export model.eval())"),
        "text.pt2": (1, "is no PyTorch file"),
        "shared.pt2": (1, "conv: conv2d called twice (shared weights)"),
        "two.pt2": (1, "forward: 2 inputs (cnndsl imports models of one tensor)"),
        "reshape.pt2": (1, "relu: a reshape or transpose other than a channel shuffle"),
        # of a sequence (unsqueeze, pad, avg_pool2d ...), not of a map: named once, by its class
        "lrn.pt2": (1, "1 operation(s) the .cnn language cannot express\n  lrn: LocalResponseNorm (aten.unsqueeze)\n"),
        "missing.pt2": (2, "no such file"),
    }


def test_cli_refuses_without_writing(tmp_path, capsys):
    for name, (code, message) in _files(tmp_path).items():
        out = tmp_path / "out.cnn"
        assert main(["import", str(tmp_path / name), "-o", str(out)]) == code, name
        assert message in capsys.readouterr().err, name
        assert not out.exists()


def _rewrite(path, member_suffix: str, data: bytes) -> None:
    """Replace the member of a .pt2 archive whose name ends with `member_suffix`."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(path, "w") as z:
        for n, content in members.items():
            z.writestr(n, data if n.endswith(member_suffix) else content)


def test_loading_runs_nothing_from_the_file(tmp_path):
    """torch.export.load unpickles sample inputs (falling back to weights_only=False) and payloads marked
    use_pickle, and loads compiled AOTInductor models: an archive holding any of them is refused before torch
    reads it (the pickle below would create a file)."""
    path, touched = tmp_path / "evil.pt2", tmp_path / "touched"
    _export(_Net().eval(), (3, 8, 8), path)
    _rewrite(path, "sample_inputs/model.pt", pickle.dumps(_Touch(touched)))
    with pytest.raises(InputError, match="sample inputs are pickled objects"):
        cnndsl.from_exported(path)
    assert not touched.exists()

    _export(_Net().eval(), (3, 8, 8), path)
    with zipfile.ZipFile(path) as z:
        config = next(n for n in z.namelist() if n.endswith("model_weights_config.json"))
        text = z.read(config).decode().replace('"use_pickle": false', '"use_pickle": true', 1)
    _rewrite(path, "model_weights_config.json", text.encode())
    with pytest.raises(InputError, match="conv.weight is a pickled object, not a tensor"):
        cnndsl.from_exported(path)

    _export(_Net().eval(), (3, 8, 8), path)  # torch.export.load would load AOTInductor's library (native code)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(f"{path.stem}/data/aotinductor/model/model.so", b"\x7fELF")
    with pytest.raises(InputError, match="holds data/aotinductor/model/model.so, which torch.export.save does not"):
        cnndsl.from_exported(path)
