"""Every shape rule, each with a case computed by hand; parameter and multiply-add counts per op."""

from __future__ import annotations

import math

import pytest

import cnndsl
from cnndsl import ops


def out(layers: str, inp: str = "3, 32, 32") -> tuple:
    return cnndsl.loads(f"network n {{ input({inp}); {layers} }}").output_shape


@pytest.mark.parametrize(
    "layer, expected",
    [
        # floor((32 + 0 - 1*(3-1) - 1) / 1) + 1 = 30
        ("conv(8, 3)", (8, 30, 30)),
        # floor((32 + 2 - 2 - 1) / 2) + 1 = 16
        ("conv(8, 3, strides=2, padding=1)", (8, 16, 16)),
        # 7x7/2 pad 3 on 224 (ResNet stem): floor((224 + 6 - 6 - 1) / 2) + 1 = 112
        ("conv(8, 7, strides=2, padding=3)", (8, 16, 16)),
        # dilation 2, k 3: span 5: floor((32 - 5) / 1) + 1 = 28
        ("conv(8, 3, dilation=2)", (8, 28, 28)),
        # (3, 5) kernel, padding (0, 1): H = 30, W = 32 + 2 - 5 + 1 = 30
        ("conv(8, (3, 5), padding=(0, 1))", (8, 30, 30)),
        # same, stride 3: ceil(32 / 3) = 11
        ("conv(8, 4, strides=3, padding=same)", (8, 11, 11)),
        # AlexNet conv1 on 224: floor((224 + 4 - 11) / 4) + 1 = 55 (here 32: floor(25/4)+1 = 7)
        ("conv(8, 11, strides=4, padding=2)", (8, 7, 7)),
        ("maxpool(2)", (3, 16, 16)),
        # floor((32 - 3) / 2) + 1 = 15; ceil: ceil(29 / 2) + 1 = 16
        ("maxpool(3, strides=2)", (3, 15, 15)),
        ("maxpool(3, strides=2, ceil_mode=true)", (3, 16, 16)),
        ("avgpool(3, strides=1, padding=1)", (3, 32, 32)),
        ("maxpool(3, strides=2, padding=same)", (3, 16, 16)),
        ("global_maxpool()", (3, 1, 1)),
        ("adaptive_avgpool((2, 3))", (3, 2, 3)),
        ("upsample(3)", (3, 96, 96)),
        ("upsample((2, 1), mode=bilinear)", (3, 64, 32)),
        # (32 - 1) * 2 - 2*1 + 1*(3-1) + 1 + 1 = 64
        ("conv_transpose(4, 3, strides=2, padding=1, output_padding=1)", (4, 64, 64)),
        # (32 - 1) * 1 + 2 + 1 = 34
        ("conv_transpose(4, 3)", (4, 34, 34)),
        ("conv_transpose(4, 5, strides=2, padding=same)", (4, 64, 64)),
        ("flatten()", (3072,)),
        ("flatten(); dense(7)", (7,)),
        ("batchnorm(); lrn(3); dropout(0.1); gelu(); hardswish(); relu6()", (3, 32, 32)),
    ],
)
def test_shape_rule(layer, expected):
    assert out(layer) == expected


def test_ceil_mode_last_window_must_start_inside_the_input():
    # 6 wide, k 2, s 2, pad 1: (6 + 2 - 2) / 2 = 3 exactly, +1 = 4; a 5th window would start in the padding
    assert out("maxpool(2, strides=2, padding=1, ceil_mode=true)", "1, 6, 6") == (1, 4, 4)
    # 5 wide, k 2, s 2: ceil(3 / 2) + 1 = 3, and window 3 starts at 4 < 5: kept
    assert out("maxpool(2, strides=2, ceil_mode=true)", "1, 5, 5") == (1, 3, 3)
    assert out("maxpool(2, strides=2)", "1, 5, 5") == (1, 2, 2)


def test_same_padding_is_split_as_tensorflow_does():
    # 224, k 7, s 2: out 112, total (112-1)*2 + 7 - 224 = 5: 2 before, 3 after
    assert ops.same_pads(224, 7, 2) == (2, 3)
    assert ops.same_pads(32, 3, 1) == (1, 1)
    assert ops.same_pads(5, 1, 2) == (0, 0)
    net = cnndsl.loads("network n { input(3, 224, 224); conv(8, 7, strides=2, padding=same) }")
    assert net.nodes[1].op.pads(net.nodes[0].shape) == (2, 3, 2, 3)
    assert net.output_shape == (8, 112, 112)


def test_concat_adds_channels_and_add_keeps_shape():
    net = cnndsl.loads(
        "network n { x: input(4, 8, 8); a: conv(2, 1); concat(x); add { conv(6, 1); conv(6, 3, padding=1) } }"
    )
    assert net.node("1").shape == (6, 8, 8)
    assert net.output_shape == (6, 8, 8)


def test_parameters_and_macs_per_op():
    net = cnndsl.loads(
        """network n {
            input(4, 10, 10)
            c: conv(6, 3, groups=2, padding=1)        # 6 * (4/2) * 9 = 108 weights + 6 bias; 108 * 100 MACs
            b: batchnorm()                            # 12 params, 12 buffers
            t: conv_transpose(2, 2, strides=2, use_bias=false)  # 6 * 2 * 4 = 48 weights; 48 * 100 input positions
            p: global_avgpool()
            f: flatten()
            d: dense(5)                               # 2 * 5 + 5
        }"""
    )
    counts = {n.name: (n.params, n.buffers, n.macs) for n in net.nodes}
    assert counts["c"] == (114, 0, 10800)
    assert counts["b"] == (12, 12, 0)
    assert counts["t"] == (48, 0, 4800)
    assert counts["p"] == (0, 0, 0)
    assert counts["d"] == (15, 0, 10)
    assert net.params == 114 + 12 + 48 + 15 and net.buffers == 12 and net.macs == 10800 + 4800 + 10
    assert net.flops == 2 * net.macs


@pytest.mark.parametrize("size", [31, 32, 57])
def test_open_sizes_are_exact_expressions(size):
    """Each symbolic size, evaluated at H = W = size, is the size the same network infers for that input."""
    layers = (
        "conv(8, 3, strides=2, padding=1); conv(8, 1, strides=2); maxpool(3, strides=2, ceil_mode=true); "
        "conv(8, 3, strides=2, padding=same); upsample(2); conv_transpose(4, 3, strides=2); avgpool(2); "
        "maxpool(2, strides=2, padding=1, ceil_mode=true)"
    )
    open_net = cnndsl.loads(f"network n {{ input(3, ?, ?); {layers} }}")
    fixed = cnndsl.loads(f"network n {{ input(3, {size}, {size}); {layers} }}")
    for a, b in zip(open_net.nodes, fixed.nodes):
        for sym, value in zip(a.shape[1:], b.shape[1:]):
            assert isinstance(sym, str)
            assert eval(sym, {"ceil": math.ceil, "H": size, "W": size}) == value, (a.name, sym)


def test_open_sizes_are_symbolic():
    net = cnndsl.loads("network n { input(3, ?, ?); a: conv(8, 3, strides=2, padding=1); conv(8, 3, padding=1) }")
    assert net.node("a").shape == (8, "(H-1)//2+1", "(W-1)//2+1")
    assert net.output_shape == net.node("a").shape  # stride 1, padding 1, kernel 3: the same expression
    same = cnndsl.loads("network n { input(3, ?, ?); conv(8, 3, strides=2, padding=same) }")
    assert same.output_shape == (8, "ceil(H/2)", "ceil(W/2)")


def test_resnet_projection_shortcut_agrees_symbolically():
    # main path 3x3/2 pad 1 and shortcut 1x1/2 pad 0 give the same size expression: the add is accepted
    net = cnndsl.load("architectures/resnet18.cnn", args={"classes": 10})
    assert net.output_shape == (10,)
    text = (
        'import "architectures/blocks/resnet.cnn"\nnetwork n { input(3, ?, ?); basic(8, stride=2); global_avgpool() }'
    )
    from pathlib import Path

    p = Path("architectures") / "_open_test.cnn"
    try:
        p.write_text(text.replace("architectures/", ""))
        net = cnndsl.load(p)
    finally:
        p.unlink()
    add = [n for n in net.nodes if n.op.kind == "add"][0]
    assert add.shape == (8, "(H-1)//2+1", "(W-1)//2+1")
    assert net.output_shape == (8, 1, 1)


def test_symbolic_sizes_stay_bounded():
    # each ceil-mode pool with stride > window repeats its input size twice: without a bound, 40 of them
    # would build expressions of 2**40 characters
    net = cnndsl.loads("network n { input(3, ?, ?); " + "maxpool(1, strides=2, ceil_mode=true); " * 40 + "}")
    assert all(len(d) <= 2 * ops.MAX_SYMBOL for n in net.nodes for d in n.shape[1:])
    assert net.output_shape[0] == 3
