"""Issue 16's language half: the constructs that let one .cnn file describe a family, proved on whole
torchvision members (parameter counts as torchvision reports them) and on their edge cases."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from conftest import ROOT

import cnndsl
from cnndsl import CnnDslError
from cnndsl.compiler import Compiler

MOBILE = """
# torchvision's _make_divisible, written once
def bump(n, v, divisor) = n + divisor if n < 0.9 * v else n
def make_divisible(v, divisor = 8, min_value = divisor) =
    bump(max(min_value, int(v + divisor / 2) // divisor * divisor), v, divisor)

block conv_bn_act(filters, kernel = 3, stride = 1, groups = 1, act = relu6) {
    conv(filters, kernel, strides=stride, padding=(kernel - 1) // 2, groups=groups, use_bias=false)
    batchnorm()
    if act == relu6 { relu6() } else if act == silu { silu() }
}

block inverted_residual(out, stride, expand, hidden = round(in.channels * expand)) {
    x: identity()
    conv: {
        if expand != 1 { conv_bn_act(hidden, 1) }
        conv_bn_act(hidden, stride=stride, groups=hidden)
        conv(out, 1, use_bias=false)
        batchnorm()
    }
    if stride == 1 and in.channels == out { add(x) }
}

let mobilenet_v2_settings = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)

network mobilenet_v2(width = 1.0, classes = 1000) {
    input(3, 224, 224)
    features: sequence {
        conv_bn_act(make_divisible(32 * width), stride=2)
        for t, c, n, s in mobilenet_v2_settings {
            for i in range(n) { inverted_residual(make_divisible(c * width), s if i == 0 else 1, t) }
        }
        conv_bn_act(make_divisible(1280 * max(1.0, width)), 1)
    }
    global_avgpool(); flatten()
    classifier: { dropout(0.2); dense(classes) }
}

block squeeze_excitation(squeeze) {
    multiply {
        identity()
        inline { avgpool: global_avgpool(); fc1: conv(squeeze, 1); silu(); fc2: conv(in.channels, 1); sigmoid() }
    }
}

block mbconv(out, stride, kernel, expand, p, hidden = make_divisible(in.channels * expand)) {
    x: identity()
    "block": {
        if expand != 1 { conv_bn_act(hidden, 1, act=silu) }
        conv_bn_act(hidden, kernel, stride, groups=hidden, act=silu)
        squeeze_excitation(max(1, in.channels // 4))
        conv_bn_act(out, 1, act=none)
    }
    if stride == 1 and in.channels == out { stochastic_depth(p); add(x) }
}

# (expand, kernel, stride, channels, layers)
let efficientnet_stages = (
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)

network efficientnet(width = 1.0, depth = 1.0, resolution = 224, dropout = 0.2, classes = 1000) {
    input(3, resolution, resolution)
    features: sequence {
        conv_bn_act(make_divisible(32 * width), stride=2, act=silu)
        for e, k, s, c, n in efficientnet_stages {
            { for j in range(ceil(n * depth)) { mbconv(make_divisible(c * width), s if j == 0 else 1, k, e, 0.0) } }
        }
        conv_bn_act(4 * make_divisible(320 * width), 1, act=silu)
    }
    global_avgpool(); flatten()
    classifier: { dropout(dropout); dense(classes) }
}
"""

DENSENET = """
block dense_layer(growth, bn_size = 4) {
    concat {
        identity()
        inline {
            norm1: batchnorm(); relu1: relu(); conv1: conv(bn_size * growth, 1, use_bias=false)
            norm2: batchnorm(); relu2: relu(); conv2: conv(growth, 3, padding=1, use_bias=false)
        }
    }
}

block transition() {
    norm: batchnorm(); relu: relu(); conv: conv(in.channels // 2, 1, use_bias=false); pool: avgpool(2)
}

network densenet(growth = 32, config = (6, 12, 24, 16), stem = 64, classes = 1000) {
    input(3, 224, 224)
    features: sequence {
        conv0: conv(stem, 7, strides=2, padding=3, use_bias=false); norm0: batchnorm(); relu0: relu()
        pool0: maxpool(3, strides=2, padding=1)
        for i, layers in enumerate(config) {
            denseblock{i + 1}: for j in range(layers) { denselayer{j + 1}: dense_layer(growth) }
            if i < len(config) - 1 { transition{i + 1}: transition() }
        }
        norm5: batchnorm()
    }
    relu(); global_avgpool(); flatten()
    classifier: dense(classes)
}
"""


def compile_text(text: str, name: str, **args):
    c = Compiler()
    c.add_text(text)
    return c.compile(name, args)


@pytest.mark.parametrize(
    "name, args, params",
    [
        ("densenet", {}, 7_978_856),  # densenet121
        ("densenet", {"config": (6, 12, 32, 32)}, 14_149_480),  # densenet169
        ("densenet", {"config": (6, 12, 48, 32)}, 20_013_928),  # densenet201
        ("densenet", {"growth": 48, "config": (6, 12, 36, 24), "stem": 96}, 28_681_000),  # densenet161
        ("mobilenet_v2", {}, 3_504_872),
        ("efficientnet", {}, 5_288_548),  # efficientnet_b0
        ("efficientnet", {"width": 1.0, "depth": 1.1, "resolution": 240}, 7_794_184),  # efficientnet_b1
        ("efficientnet", {"width": 1.1, "depth": 1.2, "resolution": 260}, 9_109_994),  # efficientnet_b2
    ],
)
def test_one_description_gives_torchvisions_parameter_counts(name, args, params):
    net = compile_text(DENSENET + MOBILE, name, **args)
    assert net.params == params


def test_densenet_labels_are_computed_as_torchvision_names_them():
    net = compile_text(DENSENET, "densenet")
    names = {n.name for n in net.nodes}
    assert "features.denseblock1.denselayer6.conv2" in names
    assert "features.denseblock3.denselayer24.norm1" in names
    assert "features.denseblock1.denselayer7.conv2" not in names
    assert "features.transition3.conv" in names and "features.transition4.conv" not in names  # the `if`
    assert net.output_shape == (1000,)
    by_name = {n.name: n for n in net.nodes}
    assert by_name["features.transition1.conv"].shape == (128, 56, 56)  # in.channels // 2 of 256
    assert by_name["features.transition1.pool"].shape == (128, 28, 28)


def test_an_untaken_branch_takes_no_index():
    net = compile_text(MOBILE, "mobilenet_v2")
    names = {n.name for n in net.nodes}
    # features.1 does not expand: its depthwise conv is conv.0, as in torchvision; features.2 expands
    assert "features.1.conv.0.0" in names and net.nodes[[n.name for n in net.nodes].index("features.1.conv.0.0")]
    by_name = {n.name: n for n in net.nodes}
    assert by_name["features.1.conv.0.0"].op.groups == 32
    assert by_name["features.2.conv.0.0"].op.groups == 1 and by_name["features.2.conv.1.0"].op.groups == 96
    # the skip exists only where stride is 1 and the width stays: features.3 has an add, features.2 none
    adds = {n.name.rsplit(".", 1)[0] for n in net.nodes if n.op.kind == "add"}
    assert {"features.3", "features.5", "features.6"} <= adds and "features.2" not in adds
    assert "features.4" not in adds and "features.17" not in adds


def test_make_divisible_matches_torchvisions():
    def torchvision_make_divisible(v, divisor=8, min_value=None):  # torchvision/models/_utils.py
        if min_value is None:
            min_value = divisor
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        if new_v < 0.9 * v:
            new_v += divisor
        return new_v

    values = [3, 7.5, 12, 16 * 0.35, 32 * 1.4, 44.8, 96 * 0.75, 1280 * 1.3, 91, 95, 100, 4.4, 1024 * 0.5]
    text = "".join(MOBILE.split("block conv_bn_act")[0]) + "\nlet values = (" + ", ".join(map(str, values)) + ")\n"
    text += "network n(divisor = 8) { input(1) for v in values { dense(make_divisible(v, divisor)) } }"
    for divisor in (8, 4, 16):
        got = [n.shape[0] for n in compile_text(text, "n", divisor=divisor).nodes[1:]]
        assert got == [torchvision_make_divisible(v, divisor) for v in values]


def test_conditions_constants_and_builtins_evaluate_as_python():
    text = """
let t = ((1, 2), (3, 4))
let big = max(t[1]) * 10 if len(t) == 2 and not false else 0
def clamp(x, lo = 1, hi = 100) = min(max(x, lo), hi)
network n(k = 3) {
    input(1)
    dense(big)                               # 40
    dense(clamp(-5))                         # 1
    dense(clamp(500, hi=64))                 # 64
    dense(round(2.5) + round(3.5))           # 2 + 4: halves to even
    dense(floor(-1.5) + ceil(1.2) + int(-1.7) + abs(-3))   # -2 + 2 - 1 + 3
    dense(t[-1][0] if k >= 3 or 1 / 0 == 1 else 99)        # 3; `or` does not evaluate its right side
    dense(pow(2, 5) + (1 if 2 != 3 else 0) + (1 if (1, 2) == (1, 2) else 0) + (1 if true == 1 else 0))
}
"""
    assert [n.shape[0] for n in compile_text(text, "n").nodes[1:]] == [40, 1, 64, 6, 2, 3, 34]


def test_constants_and_functions_are_shared_through_imports(tmp_path):
    (tmp_path / "common.cnn").write_text(
        "let momentum = 0.01\ndef half(c) = c // 2\nblock bn() { batchnorm(momentum=momentum) }\n"
    )
    (tmp_path / "net.cnn").write_text('import "common.cnn"\nnetwork n { input(8, 4, 4); conv(half(8), 1); bn() }\n')
    net = cnndsl.load(tmp_path / "net.cnn")
    assert net.nodes[1].shape == (4, 4, 4) and net.nodes[2].op.momentum == 0.01
    (tmp_path / "clash.cnn").write_text('import "common.cnn"\nlet momentum = 0.1\nnetwork n { input(1) }\n')
    with pytest.raises(CnnDslError, match="constant 'momentum' is defined twice") as e:
        cnndsl.load(tmp_path / "clash.cnn")
    assert (e.value.line, e.value.column) == (2, 5)


def test_branches_of_a_merge_may_come_from_loops_and_conditions():
    text = """
block multi(kernels, pool = true) {
    concat {
        for k in kernels { branch{k}: conv(8, k, padding=k // 2) }
        if pool { maxpool(3, strides=1, padding=1) }
    }
}
network n { input(4, 16, 16); a: multi((1, 3, 5)); b: multi((3,), pool=false) }
"""
    net = compile_text(text, "n")
    by_name = {n.name: n for n in net.nodes}
    assert by_name["a.branch5"].op.kernel_size == (5, 5)
    assert net.nodes[by_name["a.branch1"].id].shape == (8, 16, 16)
    assert [n.shape for n in net.nodes if n.op.kind == "concat"] == [(28, 16, 16), (8, 16, 16)]


def test_loops_are_bounded_before_they_run():
    # the loop is refused at once: not after building a million nodes
    text = "network n { input(1) for i in range(900000) { dense(1); dense(1) } }"
    with pytest.raises(CnnDslError, match="a loop over 900,000 items expands past the budget") as e:
        compile_text(text, "n")
    assert e.value.code == "E403"
    # nested loops that build nothing still end: their iterations count
    text = "network n { input(1) for i in range(999999) { for j in range(999999) { } } }"
    with pytest.raises(CnnDslError, match="E403|loop over") as e:
        compile_text(text, "n")
    assert e.value.code == "E403"
    # a loop inside a block called in a loop: the estimate multiplies through the call
    text = "block b(n) { for i in range(n) { relu() } }\nnetwork n { input(1) for i in range(1000) { b(2000) } }"
    with pytest.raises(CnnDslError, match="past the budget"):
        compile_text(text, "n")
    # functions are computed once per arguments: a doubling chain stays cheap
    defs = "def f0(x) = x + 1\n" + "".join(f"def f{i}(x) = f{i - 1}(x) + f{i - 1}(x)\n" for i in range(1, 31))
    net = compile_text(defs + "network n { input(1) dense(f30(0) % 7 + 1) }", "n")
    assert net.nodes[1].shape == (2**30 % 7 + 1,)


def test_loop_variables_and_labels_in_errors():
    with pytest.raises(CnnDslError, match="'i' is already defined"):
        compile_text("network n { input(1) for i in range(2) { for i in range(2) { relu() } } }", "n")
    with pytest.raises(CnnDslError, match="label 'x0' is used twice"):
        compile_text("network n { input(1) for i in (0, 0) { x{i}: relu() } }", "n")
    with pytest.raises(CnnDslError, match="cannot be used as a label name"):
        compile_text("network n { input(1) for i in range(1) { x{i - 5}: relu() } }", "n")


def test_an_unread_loop_variable_is_an_underscore(tmp_path):
    text = """
let table = ((1, 16, 2), (6, 24, 3))
block b(rows) {
    for _, c, _ in rows {
        for _ in range(2) { conv(c, 1) }
    }
}
network n { input(3, 8, 8); for _ in range(2) { relu() } b(table) }
"""
    net = compile_text(text, "n")
    assert [n.name for n in net.nodes if n.op.kind == "conv"] == ["2.0", "2.1", "2.2", "2.3"]
    assert [n.shape[0] for n in net.nodes if n.op.kind == "conv"] == [16, 16, 24, 24]
    # bound to nothing: read, it is an error, at expansion and in a block checked without an input
    with pytest.raises(CnnDslError, match="'_' is not a value") as e:
        compile_text("network n { input(1) for _ in range(2) { dense(_ + 1) } }", "n")
    assert (e.value.code, e.value.column, e.value.hint) == ("E206", 48, "'_' names a loop variable that is not read")
    (tmp_path / "lib.cnn").write_text("block b() {\n    for _ in range(2) { conv(_, 1) }\n}\n")
    r = cli("check", "lib.cnn", cwd=tmp_path)
    assert r.returncode == 1 and "lib.cnn:2:30: error[E206]: '_' is not a value" in r.stderr
    with pytest.raises(CnnDslError, match="'_' cannot be used as a parameter name"):
        compile_text("block b(_) { relu() }\nnetwork n { input(1) b(1) }", "n")


def test_sums_over_a_table_column_as_python_computes_them(tmp_path):
    text = """
let table = ((1, 16, 2), (6, 24, 3), (6, 40, 4))
def blocks_before(rows, s) = sum(rows[i][-1] for i in range(s))
network n(depth = 1.5) {
    input(3)
    dense(sum(n for _, _, n in table))
    dense(blocks_before(table, 0) + 1)
    dense(blocks_before(table, 2))
    dense(max(c * 2 if t > 0 else 0 for t, (_, c, _) in enumerate(table)))
    dense(sum(ceil(n * depth) for _, _, n in table) + sum(1, 2) + sum((3, 4)))
}
"""
    table = ((1, 16, 2), (6, 24, 3), (6, 40, 4))
    widths = [
        sum(n for _, _, n in table), sum(table[i][-1] for i in range(0)) + 1, sum(table[i][-1] for i in range(2)),
        max(c * 2 if t > 0 else 0 for t, (_, c, _) in enumerate(table)),
        sum(math.ceil(n * 1.5) for _, _, n in table) + 3 + 7,
    ]  # fmt: skip
    assert [n.shape[0] for n in compile_text(text, "n").nodes[1:]] == widths == [9, 1, 5, 80, 24]
    bad = {
        "sum(c for c in 3)": ("E214", "'for' runs over a tuple or range(n), got 3"),
        "sum(depth for depth in (1, 2))": ("E207", "'depth' is already defined here"),
        "sum(c for c, c in ((1, 2),))": ("E207", "'c' is already defined here"),
        "sum(c for c in (1, 2)) + c": ("E206", "unknown name 'c'"),
        "sum(_ for _ in (1, 2))": ("E206", "'_' is not a value"),
        "sum(c for c in ((1, 2), 3))": ("E214", "sum(((1, 2), 3)): needs numbers, got (1, 2)"),
        "sum(a for a, b in (1, 2))": ("E214", "cannot unpack 1 into 2 names"),
        "sum(i for i in range(1000) for j in range(1000))": ("E100", ""),
        "sum(j for i in range(1000) for j in range(i))": ("E100", ""),
    }
    for value, (code, message) in bad.items():
        with pytest.raises(CnnDslError) as e:
            compile_text(f"network n(depth = 1) {{ input(3); dense({value}) }}", "n")
        assert (e.value.code, message in e.value.message) == (code, True), value
    # the iterations count against the node budget, as a loop's do
    nested = "def f(i) = sum(j for j in range(i))\nnetwork n { input(3); dense(sum(f(i) for i in range(3000))) }"
    with pytest.raises(CnnDslError, match="take more than 1,000,000 steps") as e:
        compile_text(nested, "n")
    assert e.value.code == "E403"
    # a block checked without an input knows the names a comprehension binds
    (tmp_path / "lib.cnn").write_text("block b(rows) {\n    dense(sum(n for _, n in rows) + n)\n}\n")
    r = cli("check", "lib.cnn", cwd=tmp_path)
    assert r.returncode == 1 and "lib.cnn:2:37: error[E206]: unknown name 'n'" in r.stderr, r.stderr


def test_a_generator_keeps_the_items_its_if_holds_for_as_python_does(tmp_path):
    text = """
let table = ((1, 16, 2), (6, 24, 3), (6, 40, 4))
network n(deep = true) {
    input(3)
    dense(sum(n for t, _, n in table if t > 1))
    dense(max(c for _, c, _ in (table if deep else ((1, 8, 1),)) if c % 16 == 8 and not c == 0))
    dense(len(c for _, c, _ in table if c > 1000) + 1)
    dense(sum(n * 2 if t > 1 else n for t, _, n in table if n > 2 or t == 1))
}
"""
    table = ((1, 16, 2), (6, 24, 3), (6, 40, 4))
    widths = [
        sum(n for t, _, n in table if t > 1),
        max(c for _, c, _ in table if c % 16 == 8 and not c == 0),
        len([c for _, c, _ in table if c > 1000]) + 1,
        sum(n * 2 if t > 1 else n for t, _, n in table if n > 2 or t == 1),
    ]
    assert [n.shape[0] for n in compile_text(text, "n").nodes[1:]] == widths == [7, 40, 1, 16]
    bad = {  # (code, column, message) of each: the condition's errors point into the condition
        "sum(c for c in (1, 2) if c)": ("E214", 65, "the condition of a generator's 'if' must be true or false, got 1"),
        "sum(c for c in (1, 2) if d > 1)": ("E206", 65, "unknown name 'd'"),
        "sum(c for c in (1, 2) if c // 0 > 1)": ("E205", 70, "division by zero"),
        "sum(c for c in (1, 2) if c > 1) + c": ("E206", 74, "unknown name 'c'"),
        "sum(c for c in (1, 2) if c > 1 if c > 0)": ("E100", 71, "unexpected 'if'"),
    }
    for value, (code, column, message) in bad.items():
        with pytest.raises(CnnDslError) as e:
            compile_text(f"network n(depth = 1) {{ input(3); dense({value}) }}", "n")
        assert (e.value.code, e.value.column, message in e.value.message) == (code, column, True), (value, e.value)
    # as in Python, `a if c else b` after `in` goes in parentheses: the hint says so
    with pytest.raises(CnnDslError, match="unexpected 'else'") as e:
        compile_text("network n(deep = true) { input(3); dense(sum(c for c in (1, 2) if deep else (3,))) }", "n")
    assert e.value.hint == "as in Python, 'a if c else b' after a generator's 'in' goes in parentheses"
    # every iteration counts against the node budget, the ones the condition drops too
    c = Compiler(max_nodes=1000)
    c.add_text("network n { input(3); dense(1 + len(i for i in range(600) if i < 0) + len(i for i in range(600))) }")
    with pytest.raises(CnnDslError, match="take more than 1,000 steps") as e:
        c.compile("n")
    assert e.value.code == "E403"
    # a block checked without an input knows the names the condition reads and binds
    (tmp_path / "lib.cnn").write_text("block b(rows) {\n    dense(sum(n for _, n in rows if n > m))\n}\n")
    r = cli("check", "lib.cnn", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("error[") == 1, r.stderr
    assert "lib.cnn:2:41: error[E206]: unknown name 'm'" in r.stderr, r.stderr


def cli(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cnndsl", *argv], capture_output=True, text=True, cwd=cwd)


def test_set_on_the_command_line():
    r = cli("check", "architectures/resnet34.cnn", "--set", "classes=10")
    assert r.returncode == 0 and "→ 10," in r.stdout
    r = cli("compile", "architectures/resnet34.cnn", "--backend", "ir", "--set", "classes=3 * 4")
    assert r.returncode == 0 and '"units": 12' in r.stdout.replace(" ", "").replace('"units":12', '"units": 12')
    r = cli("check", "architectures/resnet34.cnn", "--set", "clases=10")
    assert r.returncode == 1
    assert r.stderr.splitlines()[:3] == [
        "--set:1:1: error[E201]: network resnet34 has no parameter 'clases' — did you mean 'classes'?",
        "    clases=10",
        "    ^",
    ]
    r = cli("summary", "architectures/resnet34.cnn", "--set", "classes=10", "--set", "classes=(1,")
    assert r.returncode == 1 and r.stderr.startswith("--set:2:")
    r = cli("check", "architectures/resnet34.cnn", "--set", "classes=0")
    assert "dense: units = 0: must be at least 1" in r.stderr
    r = cli("check", "architectures/resnet34.cnn", "--set", "classes")
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr


def test_set_gives_each_checked_network_its_own_parameters(tmp_path):
    (tmp_path / "two.cnn").write_text(
        "network a(classes = 5) { input(4); dense(classes) }\nnetwork b(width = 2) { input(4); dense(width) }\n"
    )
    r = cli("check", "two.cnn", "--set", "classes=7", "--set", "width=3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "a: 4 → 7" in r.stdout and "b: 4 → 3" in r.stdout
    r = cli("check", "two.cnn", "--set", "depth=3", cwd=tmp_path)
    assert r.returncode == 1 and "has no parameter 'depth'" in r.stderr


def test_in_reads_the_input_of_the_block_in_nested_scopes():
    text = """
block widen(ratio) { inner: { conv(in.channels * ratio, 1); conv(in.height, 1) } }
block vec() { dense(in.features * 2) }
network n { input(6, 5, 5); widen(2); flatten(); vec() }
"""
    net = compile_text(text, "n")
    assert [n.shape for n in net.nodes[1:]] == [(12, 5, 5), (5, 5, 5), (125,), (250,)]


def test_generated_code_keeps_working_with_computed_arguments():
    torch = pytest.importorskip("torch")
    from cnndsl.backends.torch import emit

    def build(net):
        namespace: dict = {}
        exec(compile(emit(net), "<generated>", "exec"), namespace)
        return namespace["build"]()

    net = compile_text(DENSENET, "densenet", config=(2, 3), growth=8)
    model = build(net)
    assert sum(p.numel() for p in model.parameters()) == net.params
    assert "features.denseblock2.denselayer3.conv2.weight" in model.state_dict()
    assert tuple(model(torch.zeros(1, 3, 224, 224)).shape) == (1, 1000)
    net = compile_text(MOBILE, "mobilenet_v2", width=0.5, classes=10)
    model = build(net)
    assert sum(p.numel() for p in model.parameters()) == net.params
    assert tuple(model(torch.zeros(1, 3, 224, 224)).shape) == (1, 10)


def test_a_table_passed_to_a_block_survives_the_ir():
    from cnndsl.ir import Network

    text = """
let rows = ((8, 1), (16, 2))
block stage(table) { for c, s in table { conv(c, 3, strides=s, padding=1); relu() } }
network n { input(3, 32, 32); s1: stage(rows); for i in range(2) { blk{i}: stage(((16, 1),)) } }
"""
    net = compile_text(text, "n")
    assert [s.args for s in net.scopes if s.kind == "block"][0] == {"table": ((8, 1), (16, 2))}
    again = Network.from_json(net.to_json())
    assert again.to_json() == net.to_json() and again.output_shape == (16, 16, 16)
    assert [s.name for s in again.scopes if s.kind == "block"] == ["s1", "blk0", "blk1"]


def test_a_table_whose_rows_hold_sizes_survives_the_ir():
    """A row of settings may hold a size (`3x3`, a tuple): values nested three deep (found by make fuzz: the
    IR JSON of such a network did not read back)."""
    from cnndsl.ir import Network

    text = """
block stage(table) { for k, s in table { conv(8, k, strides=s, padding=1) } }
network n { input(3, 32, 32); stage(((3, 1), (3x3, 2), ((1, 3), 1))) }
"""
    net = compile_text(text, "n")
    assert net.scopes[1].args == {"table": ((3, 1), ((3, 3), 2), ((1, 3), 1))}
    assert Network.from_json(net.to_json()) == net


def test_computed_labels_point_at_their_place_and_parse_in_linear_time():
    lines = "".join(f"    a{k}: relu()\n" for k in range(500))
    text = "network n {\n    input(1)\n" + lines + "    for i in range(2) { b{i +* 1}: relu() }\n}\n"
    with pytest.raises(CnnDslError) as e:
        compile_text(text, "n")
    assert (e.value.code, e.value.line, e.value.column) == ("E100", 503, 30)
    assert e.value.source_line == "    for i in range(2) { b{i +* 1}: relu() }"
    text = "network n {\n    input(1)\n" + lines + "    for i in range(2) { b{i + j}: relu() }\n}\n"
    with pytest.raises(CnnDslError, match="unknown name 'j'") as e:
        compile_text(text, "n")
    assert (e.value.line, e.value.column) == (503, 31)


def _expressions():
    from hypothesis import strategies as st

    numbers = st.integers(-20, 20).map(lambda n: (str(n), str(n)) if n >= 0 else (f"({n})", f"({n})"))
    booleans = st.sampled_from([("true", "True"), ("false", "False")])

    def extend(children):
        def binary(ops):
            return st.tuples(children, st.sampled_from(ops), children).map(
                lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})", f"({t[0][1]} {t[1]} {t[2][1]})")
            )

        ternary = st.tuples(children, children, children).map(
            lambda t: (f"({t[0][0]} if {t[1][0]} else {t[2][0]})", f"({t[0][1]} if {t[1][1]} else {t[2][1]})")
        )
        negation = children.map(lambda c: (f"(not {c[0]})", f"(not {c[1]})"))
        calls = st.tuples(st.sampled_from(["min", "max"]), children, children).map(
            lambda t: (f"{t[0]}({t[1][0]}, {t[2][0]})", f"{t[0]}({t[1][1]}, {t[2][1]})")
        )
        return st.one_of(
            binary(["+", "-", "*", "//", "%"]), binary(["==", "!=", "<", "<=", ">", ">="]), binary(["and", "or"]),
            ternary, negation, calls,
        )  # fmt: skip

    return st.recursive(st.one_of(numbers, booleans), extend, max_leaves=12)


def test_expressions_evaluate_as_python_does():
    """Where Python's answer is a number or a boolean computed only from numbers and booleans as the language
    allows (no arithmetic on booleans, conditions that are booleans), the language gives the same answer;
    everything else is an error with a code, never a crash."""
    from hypothesis import given, settings

    @settings(max_examples=300, deadline=None)
    @given(_expressions())
    def check(pair):
        text, python = pair
        try:
            net = compile_text(f"network n(v = {text}) {{ input(1) }}", "n")
        except CnnDslError as e:
            assert e.code in ("E205", "E214", "E405"), e.format()
            if e.code != "E405":  # refused only where the language's rules refuse it
                with pytest.raises((AssertionError, ZeroDivisionError)):
                    _strict_eval(python)
            return
        expected = _strict_eval(python)
        assert net.args["v"] == expected and type(net.args["v"]) is type(expected), (text, net.args["v"], expected)

    check()


def _operators() -> dict:
    import ast
    import operator

    return {
        ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    }  # fmt: skip


_OPERATORS = _operators()


def _strict_eval(python: str):
    """Python's value, evaluated with the language's rules: arithmetic and ordering on numbers only,
    conditions and `and`/`or`/`not` on booleans only (so that a value the language computes is Python's)."""
    import ast

    def value(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            v = value(node.operand)
            if isinstance(node.op, ast.USub):
                return -v
            assert type(v) is bool
            return not v
        if isinstance(node, ast.BinOp):
            a, b = value(node.left), value(node.right)
            assert type(a) is int and type(b) is int
            return _OPERATORS[type(node.op)](a, b)
        if isinstance(node, ast.Compare):
            a, b = value(node.left), value(node.comparators[0])
            if isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                same = type(a) is type(b) and a == b
                return same if isinstance(node.ops[0], ast.Eq) else not same
            assert type(a) is int and type(b) is int
            return _OPERATORS[type(node.ops[0])](a, b)
        if isinstance(node, ast.BoolOp):
            a = value(node.values[0])
            assert type(a) is bool
            if a is isinstance(node.op, ast.Or):
                return a
            b = value(node.values[1])
            assert type(b) is bool
            return b
        if isinstance(node, ast.IfExp):
            c = value(node.test)
            assert type(c) is bool
            return value(node.body if c else node.orelse)
        if isinstance(node, ast.Call):
            a, b = value(node.args[0]), value(node.args[1])
            assert type(a) is int and type(b) is int
            return {"min": min, "max": max}[node.func.id](a, b)
        raise AssertionError(node)

    return value(ast.parse(python, mode="eval").body)


def test_fmt_prints_the_new_syntax_with_the_parentheses_it_needs():
    from cnndsl.fmt import format_text

    text = """let a = (true or false) and not (1 == 2)
let b = ((1 if a else 2) + 3) * -(4 - 1)
def f(x, y = 2) = x if x > y else (y if not a else x)
def g(t) = sum( (x+1)*2 if x>0 else 0 for _ ,x in enumerate( t ) )
network n(k = f(3)) { input(4,8,8); for i, (p, q) in enumerate(((1, 2), (3, 4))) { x{i}: conv(p + q, 1) }
  if a { relu() } else if b > 0 { conv(k, 1) } else { "y{b}": relu() } }
"""
    out = format_text(text)
    assert "let a = (true or false) and not 1 == 2\n" in out and "let b = ((1 if a else 2) + 3) * -(4 - 1)\n" in out
    assert "    } else if b > 0 {\n" in out and "        x{i}: conv(p + q, 1)\n" in out
    assert "def g(t) = sum((x + 1) * 2 if x > 0 else 0 for _, x in enumerate(t))\n" in out
    assert format_text(out) == out
    before, after = compile_text(text, "n"), compile_text(out, "n")
    assert [(n.name, n.op, n.shape) for n in after.nodes] == [(n.name, n.op, n.shape) for n in before.nodes]
    assert [n.name for n in before.nodes] == ["input", "x0", "x1", "2"]
