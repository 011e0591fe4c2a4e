"""ONNX files as PyTorch users make them: `torch.onnx.export` (the dynamo exporter, torch's default, and the
TorchScript one, `dynamo=False`) of the library's networks compiled to PyTorch, imported with `from_onnx`.

Each export takes seconds, so each network is exported once, by one exporter, at 64×64 (U-Net 32×32; AlexNet
and VGG-16, whose classifiers fix the size, at 224×224, marked slow). Both exporters fold each batch norm
into the convolution before it by default; exported with the batch norms kept (`do_constant_folding=False`,
`optimize=False`), the import is the original: parameters, buffers, MACs, state_dict and outputs.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings

import numpy as np
import pytest
from conftest import load_architecture, torch_model

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import cnndsl  # noqa: E402
from cnndsl.fmt import is_formatted  # noqa: E402
from cnndsl.importers import ImportRefused, onnx_state_dict  # noqa: E402
from cnndsl.importers.writer import snake_words  # noqa: E402

DYNAMO, TORCHSCRIPT = {"dynamo": True}, {"dynamo": False}
KEEP_BN = {
    "dynamo": {"dynamo": True, "optimize": False},
    "torchscript": {"dynamo": False, "do_constant_folding": False},
}


def _export(model, x, options: dict) -> onnx.ModelProto:
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation, the dynamo exporter's progress
        if options["dynamo"]:
            return torch.onnx.export(model, (x,), **options).model_proto
        buffer = io.BytesIO()
        torch.onnx.export(model, (x,), buffer, **options)
        return onnx.load_from_string(buffer.getvalue())


def _imported(name: str, options: dict):
    net = load_architecture(name)
    model = torch_model(net)
    size = {"unet": 32, "alexnet": 224, "vgg16": 224, "lenet5": net.input_shape[-1]}.get(name, 64)
    x = torch.randn(1, net.input_shape[0], size, size, generator=torch.Generator().manual_seed(0))
    exported = _export(model, x, options)
    imported = cnndsl.from_onnx(exported, name=name)
    assert is_formatted(imported.to_cnn())
    again = cnndsl.to_torch(imported).eval()
    again.load_state_dict(onnx_state_dict(exported, imported))
    with torch.no_grad():
        a, b = model(x), again(x)
    a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
    assert float((a - b).abs().max() / a.abs().max()) <= 1e-5
    return net, model, imported, again, exported


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    ("name", "exporter"),
    [
        ("resnet18", "torchscript"),
        ("googlenet", "dynamo"),
        ("mobilenet_v3", "dynamo"),
        ("shufflenet_v2", "dynamo"),
        ("efficientnet", "torchscript"),
        ("densenet", "torchscript"),
        ("unet", "dynamo"),
        ("lenet5", "dynamo"),
        pytest.param("alexnet", "torchscript", marks=SLOW),
        pytest.param("vgg16", "dynamo", marks=SLOW),
    ],
)
def test_export_with_batch_norms_kept_is_the_original(name, exporter):
    """The original's parameters, buffers, MACs (at its input size), state_dict and outputs (≤ 1e-5)."""
    net, model, imported, again, _ = _imported(name, KEEP_BN[exporter])
    assert (imported.params, imported.buffers) == (net.params, net.buffers)
    text = imported.to_cnn()
    at_size = re.sub(r"input\([^)]*\)", f"input({', '.join(map(str, net.input_shape))})", text, count=1)
    assert cnndsl.loads(at_size).macs == net.macs
    original, ours = model.state_dict(), again.state_dict()
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in original.values()]
    # an inference export leaves dropouts out: the nn.Sequential after one is numbered anew in the import
    if not any(isinstance(m, torch.nn.Dropout) for m in model.modules()):
        assert ours.keys() == original.keys()


def test_convnext_from_the_default_exporter_is_the_original():
    """torch.onnx.export as it is (dynamo, optimised): ConvNeXt has no batch norm to fold, so its import is the
    original, though the exporter merges equal weights (fresh layer norms' ones) and writes LayerNorm2d's
    permute of a pooled map as an `as_strided` Gather. Its metadata keeps the module classes: the text reads
    as architectures/convnext.cnn, with torchvision's CNBlock as `cn_block`."""
    net, model, imported, again, _ = _imported("convnext", DYNAMO)
    assert (imported.params, imported.buffers) == (net.params, net.buffers)
    assert again.state_dict().keys() == model.state_dict().keys()
    text = imported.to_cnn()
    assert text.count("block ") == 1 and "block cn_block(channels) {" in text and "repeat 9 cn_block(384)" in text


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("resnet18", DYNAMO),
        ("shufflenet_v2", TORCHSCRIPT),
        ("mobilenet_v3", TORCHSCRIPT),
        ("unet", TORCHSCRIPT),
        ("lenet5", TORCHSCRIPT),
    ],
)
def test_default_export_folds_batch_norms(name, options):
    """As exported by default: each batch norm folded into its convolution (a bias under a generated name). The
    import is that network: the file's parameters, the original's outputs, one block per repeated module."""
    _, _, imported, _, exported = _imported(name, options)
    floats = sum(int(np.prod(i.dims)) for i in exported.graph.initializer if i.data_type == onnx.TensorProto.FLOAT)
    assert imported.params == floats
    assert "batchnorm" not in imported.to_cnn()
    if name != "lenet5":
        assert imported.to_cnn().count("block ") >= 1


def test_weights_held_in_constant_nodes():
    """A file whose weights are Constant nodes, not initializers: the same import, the same outputs."""
    from onnx import helper

    net = load_architecture("resnet18")
    model = torch_model(net)
    x = torch.randn(1, 3, 32, 32)
    exported = _export(model, x, KEEP_BN["torchscript"])
    inlined = [helper.make_node("Constant", [], [i.name], value=i) for i in exported.graph.initializer]
    nodes = [*inlined, *exported.graph.node]
    del exported.graph.initializer[:]
    del exported.graph.node[:]
    exported.graph.node.extend(nodes)
    imported = cnndsl.from_onnx(exported)
    again = cnndsl.to_torch(imported).eval()
    again.load_state_dict(onnx_state_dict(exported, imported))
    with torch.no_grad():
        a, b = model(x), again(x)
    assert (imported.params, imported.buffers) == (net.params, net.buffers)
    assert float((a - b).abs().max() / a.abs().max()) <= 1e-5


def test_refused_exporter_forms_name_their_nodes():
    """A Reshape that is no flatten and a Gather that moves values are refused with the nodes' names."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Reshape", ["x", "rows"], ["r"], name="/head/Reshape"),
        helper.make_node("Reshape", ["r", "flat"], ["f"], name="/head/Reshape_1"),
        helper.make_node("Gather", ["f", "order"], ["y"], name="/head/as_strided", axis=0),
    ]
    consts = [("rows", np.array([1, 2, 16], np.int64)), ("flat", np.array([-1], np.int64)),
              ("order", np.arange(32)[::-1].reshape(1, 8, 2, 2).copy())]  # fmt: skip
    inits = [numpy_helper.from_array(v, k) for k, v in consts]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits))
    with pytest.raises(ImportRefused) as e:
        cnndsl.from_onnx(model)
    assert [where for _, where in e.value.problems] == ["/head/Reshape", "/head/Reshape_1", "/head/as_strided"]


@pytest.mark.parametrize(
    ("name", "snake"),
    [("ConvNeXtBlock", "conv_next_block"), ("ResNeXt50", "res_next50"), ("SEBlock", "se_block"),
     ("LayerNorm2d", "layer_norm2d"), ("BasicBlock", "basic_block"), ("MobileNetV2", "mobile_net_v2"),
     ("resnet34", "resnet34"), ("CNBlock", "cn_block"), ("mobilenet_v3_large", "mobilenet_v3_large")],
)  # fmt: skip
def test_block_names_keep_acronyms_together(name, snake):
    assert snake_words(name) == snake
