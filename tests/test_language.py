"""Every construct of docs/language.md: each example compiles, with the shapes and names the page quotes."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from conftest import ROOT

import cnndsl
from cnndsl.compiler import Compiler
from cnndsl.ir import Network

DOC = (ROOT / "docs" / "language.md").read_text()
EXAMPLES = re.findall(r"```cnn\n(.*?)```", DOC, re.S)


def compile_all(text: str) -> dict[str, Network]:
    c = Compiler()
    c.add_text(text)
    return {name: c.compile(name) for name in c.network_names()}


def shapes(net: Network) -> dict[str, tuple]:
    return {n.name: n.shape for n in net.nodes}


def test_every_example_compiles():
    assert len(EXAMPLES) >= 11
    networks = {}
    for text in EXAMPLES:
        networks.update(compile_all(text))
    # every layer of the table on the page is used by some example
    used = set()
    for net in networks.values():
        for n in net.nodes:
            used |= {n.op.kind, getattr(n.op, "function", None), getattr(n.op, "activation", None)}
    for layer in (
        "conv",
        "conv_transpose",
        "maxpool",
        "avgpool",
        "global_avgpool",
        "upsample",
        "batchnorm",
        "lrn",
        "dropout",
        "flatten",
        "dense",
        "concat",
        "add",
        "relu",
        "leaky_relu",
        "softmax",
        "sigmoid",
    ):
        assert layer in used, layer


def example(name: str) -> Network:
    for text in EXAMPLES:
        if re.search(rf"network {name}\b", text):
            return compile_all(text)[name]
    raise KeyError(name)


def test_layers_example_shapes():
    s = shapes(example("layers"))
    assert s["0"] == (16, 32, 32)  # 3x3 same
    assert s["1"] == (32, 16, 16)  # (3, 5) kernel, strides 2, padding (1, 2)
    assert s["2"] == (32, 16, 16)  # dilation 2
    assert s["7"] == (64, 8, 8)  # ceil mode
    assert s["8"] == (64, 5, 5)  # avgpool with padding
    assert s["10"] == (64, 1, 1)
    assert s["11"] == (64,)
    net = example("layers")
    assert net.node("3").op.groups == 32 and net.node("3").params == 32 * 1 * 9 + 32


def test_tiny_network():
    net = example("tiny")
    assert net.output_shape == (10,) and net.params == 784 * 10 + 10


def test_upsampling_example():
    s = shapes(example("upsampling"))
    assert [s[str(i)] for i in range(5)] == [(8, 32, 32), (8, 64, 64), (8, 64, 128), (4, 128, 256), (4, 256, 512)]


def test_labels_and_positions():
    net = example("labelled")
    assert [n.name for n in net.nodes] == ["input", "conv1", "1", "2", "3"]


def test_sequences_number_from_zero():
    names = [n.name for n in example("sequences").nodes]
    assert names == ["input", "features.0", "features.1", "features.2", "1", "classifier.0", "classifier.1",
                     "classifier.2"]  # fmt: skip


def test_blocks_defaults_and_arithmetic():
    net = example("blocks")
    s = shapes(net)
    assert s["stem.conv"] == (32, 32, 32)  # kernel 7, padding 7 // 2 = 3, stride 2
    assert net.node("stem.conv").op.padding == (3, 3)
    assert s["stage.2.conv"] == (64, 32, 32)  # expand = width * 4
    assert net.node("head.conv").op.kernel_size == (1, 1)
    stage = net.scopes[net.node("stage.0.conv").scope]
    assert stage.kind == "block" and stage.block == "conv_bn"
    outer = net.scopes[stage.parent]
    assert outer.block == "bottleneck_stack" and outer.args == {"width": 16, "expand": 64}
    exprs = {k: str(v) for k, v in net.node("stem.conv").exprs.items()}  # the IR's expressions, printed
    assert exprs == {"filters": "filters", "kernel_size": "kernel", "strides": "stride", "padding": "kernel // 2"}


def test_repetition_inline_and_scoped():
    names = [n.name for n in example("repetition").nodes]
    assert names[1:6] == ["features.0", "features.1", "features.2", "features.3", "features.4"]
    assert "stage.2.0" in names and "stage.3.0" not in names


def test_residual_identity_and_projection():
    net = example("residuals")
    names = [n.name for n in net.nodes]
    assert "layer1.downsample.0" not in names  # the shape is kept: identity
    assert "layer2.downsample.0" in names  # the shape changes: projection
    add = net.node("layer2.6")
    assert [net.nodes[i].name for i in add.inputs] == ["layer2.bn2", "layer2.downsample.1"]
    add = net.node("layer1.6")
    assert [net.nodes[i].name for i in add.inputs] == ["layer1.bn2", "input"]
    assert net.output_shape == (128, 28, 28)
    # an unlabelled residual without a shortcut: main path 2..4, then the add
    assert [n.name for n in net.nodes][-4:] == ["2", "3", "4", "5"]


def test_inception_concat_and_add_branches():
    net = example("inception_demo")
    concat = net.node("inception3a.4")
    assert concat.op.kind == "concat" and concat.shape == (256, 28, 28)
    assert [net.nodes[i].name for i in concat.inputs] == [
        "inception3a.branch1", "inception3a.branch2.1", "inception3a.branch3.1", "inception3a.branch4.1",
    ]  # fmt: skip
    assert net.nodes[-1].op.kind == "add" and net.output_shape == (256, 28, 28)


def test_skip_connection_concat():
    net = example("tiny_unet")
    cat = [n for n in net.nodes if n.op.kind == "concat"][0]
    assert cat.shape == (96, 64, 64)
    assert [net.nodes[i].name for i in cat.inputs] == ["3", "enc1"]  # current tensor first


def test_open_sizes_are_symbolic_until_a_global_pool():
    net = example("fully_convolutional")
    assert net.input_shape == (3, "H", "W")
    assert net.node("0").shape == (16, "(H-1)//2+1", "(W-1)//2+1")
    assert net.node("1").shape == net.node("0").shape
    assert net.output_shape == (10,)
    assert net.macs is None and net.node("4").macs == 160


def test_comments_semicolons_and_free_layout():
    a = cnndsl.loads("network n { input(1, 8, 8); conv(2, 3) ; relu() }  # trailing comment")
    b = cnndsl.loads("network n {\n  input(1, 8, 8)\n  # a comment line\n  conv(2, 3)\n  relu()\n}\n")
    c = cnndsl.loads("network n{input(1,8,8)conv(2,3)relu()}")
    assert replace(a, nodes=(), scopes=()) == replace(b, nodes=(), scopes=())
    assert [n.shape for n in a.nodes] == [n.shape for n in b.nodes] == [n.shape for n in c.nodes]


def test_several_networks_and_network_parameters():
    text = "network a(classes = 10) { input(4); dense(classes) }\nnetwork b { input(4); dense(2) }"
    assert cnndsl.loads(text, network="a").output_shape == (10,)
    assert cnndsl.loads(text, network="b").output_shape == (2,)
    assert cnndsl.loads(text, network="a", args={"classes": 3}).output_shape == (3,)


def test_imports_are_relative_to_the_importing_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.cnn").write_text('import "more.cnn"\nblock two(c) { one(c); one(c) }\n')
    (tmp_path / "lib" / "more.cnn").write_text("block one(c) { conv(c, 3, padding=1) }\n")
    (tmp_path / "net.cnn").write_text('import "lib/blocks.cnn"\nnetwork n { input(3, 8, 8); two(5) }\n')
    net = cnndsl.load(tmp_path / "net.cnn")
    assert net.output_shape == (5, 8, 8)
    assert net.node("0.0.0").span.path == str(tmp_path / "lib" / "more.cnn")


def test_expressions():
    net = cnndsl.loads(
        "block b(c, r = 0.25) { conv(c * 2 + 1, (c // 3, c % 3 + 1)); dropout(r / 2); dense(-(-c)) }\n"
        "network n { input(1, 9, 9); b(4); }".replace("dense(-(-c))", "flatten(); dense(-(-c))")
    )
    conv = net.node("0.0")
    assert conv.op.filters == 9 and conv.op.kernel_size == (1, 2)
    assert net.node("0.1").op.rate == 0.125
    assert net.output_shape == (4,)


def test_keyword_and_positional_arguments_are_equivalent():
    a = cnndsl.loads("network n { input(3, 9, 9); conv(8, 3, 2, 1) }")
    b = cnndsl.loads("network n { input(3, 9, 9); conv(kernel_size=3, filters=8, strides=2, padding=1) }")
    assert a.nodes[1].op == b.nodes[1].op
    with pytest.raises(cnndsl.CnnDslError):
        cnndsl.loads("network n { input(3, 9, 9); conv(8, 3, 2, 1, 1, 1, true, relu, 9) }")


def test_fixed_filters():
    net = example("fixed_filters")
    blur, box, edges, custom = (net.node(n) for n in ("blur", "box", "edges", "custom"))
    assert (blur.params, blur.buffers) == (0, 3 * 1 * 25)  # a buffer, not a parameter
    assert (edges.params, edges.buffers) == (0, 1 * 3 * 9)
    assert blur.op.sigma == 1.5 and not blur.op.use_bias
    k = blur.op.fixed_kernel()
    assert abs(sum(map(sum, k)) - 1) < 1e-12 and k[2][2] == max(map(max, k))  # normalised, peaked at the centre
    assert box.op.fixed_kernel() == ((1 / 9,) * 3,) * 3
    assert edges.op.fixed_kernel() == ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))
    assert custom.op.fixed_kernel()[1] == (-1, 5, -1) and custom.op.weights == custom.op.fixed_kernel()
    assert net.params == 0 and net.buffers == 75 + 27 + 27 + 9  # custom reads the one channel of edges


def test_families_examples():
    s = shapes(example("constants"))
    assert [s[k][0] for k in ("0", "2", "3")] == [48, 24, 152]  # make_divisible(44.8), (24), regnet_width
    net = example("conditions")
    s = shapes(net)
    assert s["a.conv.0.0"] == (32, 56, 56) and "a.conv.3" not in s  # no expansion: the depthwise conv is conv.0
    assert s["b.conv.1.0"] == (96, 28, 28) and "b.1" not in s  # strided: no skip
    assert s["c.1"] == (24, 28, 28) and [n.op.kind for n in net.nodes if n.name == "c.1"] == ["add"]
    s = shapes(example("column_sums"))
    assert [s[k][0] for k in ("0", "1", "2", "3")] == [13, 20, 128, 10]  # the last: only the rows with c > 64
    s = shapes(example("dense_loops"))
    assert s["features.denseblock1.denselayer2.conv2"] == (8, 32, 32)
    assert s["features.transition1.pool"] == (16, 16, 16) and "features.transition2.pool" not in s
    assert s["features.denseblock2.denselayer3.6"] == (40, 16, 16)
    net = example("table_loop")
    s = shapes(net)
    top = [sc.name for sc in net.scopes if sc.name and "." not in sc.name]
    assert top == ["stage1-0", "stage2-0", "stage2-1", "stage3-0", "stage3-1"]
    assert s["stage3-1.1"] == (40, 16, 16)
    deeper = Compiler()
    deeper.add_text(next(t for t in EXAMPLES if "network table_loop" in t))
    assert "stage2-2.1" in shapes(deeper.compile("table_loop", {"depth": 1.2}))  # ceil(2 × 1.2) = 3 blocks
