"""Receptive fields (Araujo, Norris, Sim 2019): the published VGG-16 figures and a hand-computed case per op."""

from __future__ import annotations

import json
from fractions import Fraction as F

import pytest
from conftest import ARCH

import cnndsl
from cnndsl.cli import main
from cnndsl.receptive import receptive_fields


def last(layers: str, inp: str = "1, 32, 32"):
    """(size, jump, padding, aligned) of the height axis of the last node."""
    net = cnndsl.loads(f"network n {{ input({inp}); {layers} }}")
    a = receptive_fields(net)[-1][0]
    return a.size, a.jump, a.padding, a.aligned


def test_vgg16_pool5_matches_the_published_table():
    # google-research/receptive_field: vgg_16 at pool5 has field 212, effective stride 32, padding 90
    net = cnndsl.load(ARCH / "vgg16.cnn")
    h, w = receptive_fields(net)[net.node("features.30").id]
    assert (h.size, h.jump, h.padding) == (212, 32, 90) == (w.size, w.jump, w.padding)


@pytest.mark.parametrize(
    "layers, expected",
    [
        ("conv(1, 3, padding=1)", (3, 1, 1, True)),
        # dilation 2 widens a 3-kernel to 5
        ("conv(1, 3, padding=2, dilation=2)", (5, 1, 2, True)),
        # (3, 2, 1), then r = 3 + 2·2 = 7, j = 2, P = 1 + 1·2 = 3
        ("conv(1, 3, strides=2, padding=1); conv(1, 3, padding=1)", (7, 2, 3, True)),
        ("maxpool(2)", (2, 2, 0, True)),
        ("avgpool(3, strides=2, padding=1, ceil_mode=true)", (3, 2, 1, True)),
        # same on 32, k 7, s 2: total (16-1)·2 + 7 - 32 = 5, 2 before
        ("conv(1, 7, strides=2, padding=same)", (7, 2, 2, True)),
        # pixel-wise layers change nothing
        ("conv(1, 3); batchnorm(); relu(); lrn(3); dropout(0.5)", (3, 1, 0, True)),
        # nearest upsampling: each output sees its source pixel's field, half an input pixel apart
        ("conv(1, 3, padding=1); upsample(2)", (3, F(1, 2), 1, True)),
        ("upsample(2, mode=zeros)", (1, F(1, 2), 0, True)),
        # bilinear, half-pixel: two input pixels, centred on x = (o + 1/2)/2 - 1/2: P = (2s - 1)/(2s) = 3/4
        ("upsample(2, mode=bilinear)", (2, F(1, 2), F(3, 4), True)),
        # align_corners on 32 → 64: x = o·31/63, P = 1/2
        ("upsample(2, mode=bilinear, align_corners=true)", (2, F(31, 63), F(1, 2), True)),
        # transposed 3/2 pad 1: output 1 = input 0 (m = 2) and input 1 (m = 0): two inputs, stride 1/2
        ("conv_transpose(1, 3, strides=2, padding=1)", (2, F(1, 2), 0, True)),
        ("conv_transpose(1, 2, strides=2)", (1, F(1, 2), 0, True)),
        # adaptive pool 32 → 8: windows of 4, stride 4; 32 → 3: up to ceil(32/3) + 1 = 12, stride 32/3
        ("adaptive_avgpool(8)", (4, 4, 0, True)),
        ("adaptive_avgpool(3)", (12, F(32, 3), 0, True)),
        # merges take the widest field; centres agree (3x3 pad 1 and 5x5 pad 2 both centre on the pixel)
        ("concat { conv(1, 3, padding=1); conv(1, 5, padding=2) }", (5, 1, 2, True)),
        # a 2-kernel `same` conv centres half a pixel off a 1x1: misaligned
        ("add { conv(1, 2, padding=same); conv(1, 1) }", (2, 1, 0, False)),
        ("global_avgpool()", (None, None, None, True)),
        ("flatten(); dense(3)", (None, None, None, True)),
    ],
)
def test_rule(layers, expected):
    assert last(layers) == expected


def test_open_size_same_padding_with_stride_is_unknown():
    assert last("conv(1, 3, padding=same)", "1, ?, ?") == (3, 1, 1, True)
    assert last("conv(1, 3, strides=2, padding=same)", "1, ?, ?") == (3, 2, None, True)


def test_axes_are_separate():
    net = cnndsl.loads("network n { input(1, 32, 32); conv(1, (3, 5), strides=(1, 2), padding=(1, 2)) }")
    h, w = receptive_fields(net)[-1]
    assert (h.size, h.jump, h.padding) == (3, 1, 1) and (w.size, w.jump, w.padding) == (5, 2, 2)


def test_summary_shows_and_exports_fields(capsys):
    assert main(["summary", str(ARCH / "vgg16.cnn"), "--receptive-field"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("features.30 "))
    assert row.split()[-3:] == ["212", "32", "90"]
    assert main(["summary", str(ARCH / "resnet18.cnn"), "--format", "json"]) == 0
    layers = {x["name"]: x for x in json.loads(capsys.readouterr().out)["layers"]}
    assert layers["conv1"]["receptive_field"]["height"] == {"size": 7, "jump": 2, "padding": 3, "aligned": True}
    assert layers["fc"]["receptive_field"]["width"]["size"] is None
