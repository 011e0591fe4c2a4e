"""The summary table: depth, fitting the terminal's width, "connected to", and the short block form it shares
with the diagrams."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ARCH, ROOT

import cnndsl
from cnndsl.diagram import block_title
from cnndsl.summary import rows
from cnndsl.util import short_call


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _layers(table: str) -> list[str]:
    lines = table.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("---"))
    last = max(i for i, line in enumerate(lines) if line.startswith("==="))
    return lines[first + 1 : last]


def test_depth_folds_rows_into_their_block():
    net = cnndsl.load(ARCH / "resnet50.cnn")
    full, top, one = (_layers(net.summary(depth=d)) for d in (None, 0, 1))
    assert len(full) == 200  # every node and scope (212 lines with the header and totals)
    names = [line.split()[0] for line in top]
    assert names == ["input", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                     "avgpool", "9", "fc"]  # fmt: skip
    assert not any(line.startswith(" ") for line in top)
    one_names = [line.split()[0] for line in one]
    assert "layer1.0" in one_names and "layer1.0.conv1" not in one_names and "layer4.2" in one_names
    # the totals are those of the whole network, whatever the depth
    assert net.summary(depth=0).split("===\n")[-1] == net.summary().split("===\n")[-1]
    # a block's row carries its contents' parameters
    layer4 = next(r for r in rows(net, depth=0) if r[1] == "layer4")
    assert layer4[4] == f"{sum(n.params for n in net.nodes if n.name.startswith('layer4.')):,}"


def test_depth_on_the_command_line():
    r = run("summary", "architectures/googlenet.cnn", "--depth", "0", env=_env())
    assert r.returncode == 0, r.stderr
    body = _layers(r.stdout)
    assert len(body) < 30 and any(line.startswith("inception4e ") for line in body)
    assert run("summary", "architectures/googlenet.cnn", "--depth", "-1", env=_env()).returncode == 2


@pytest.mark.parametrize("columns", [80, 100])
def test_fits_the_terminal_width(columns):
    r = run("summary", "architectures/googlenet.cnn", env=_env(COLUMNS=str(columns)))
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= columns
    assert "Params" in r.stdout.splitlines()[2]
    if columns == 80:
        assert (
            "Left out to fit 80 columns: MACs." in " ".join(r.stdout.splitlines())
            and "MACs" not in r.stdout.splitlines()[2]
        )
        assert "…" in r.stdout  # the op column narrowed before anything else was dropped


def test_a_pipe_gets_every_column():
    r = run("summary", "architectures/googlenet.cnn", env=_env())
    assert "MACs" in r.stdout.splitlines()[2] and "Left out" not in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) > 100


def test_narrow_drops_columns_in_order_with_a_note():
    net = cnndsl.load(ARCH / "resnet18.cnn")
    text = net.summary(width=50)
    assert max(len(line) for line in text.splitlines()[1:]) <= 50  # the title line holds the path
    assert "Left out to fit 50 columns: MACs, Connected to, Op." in " ".join(text.splitlines())
    assert "Layer" in text.splitlines()[2] and "Params" in text.splitlines()[2]


def test_connected_to_names_a_merges_inputs():
    net = cnndsl.load(ARCH / "unet.cnn")
    by_name = {r[1]: r for r in rows(net, depth=0)}
    assert by_name["8"][2] == "concat" and by_name["8"][6] == "up3, enc3"
    full = {r[1]: r for r in rows(net)}
    assert full["8"][6] == "up3, enc3.5"  # at full depth, the layer inside the block
    assert all(r[6] == "" for r in full.values() if r[2] != "concat")
    resnet = {r[1]: r for r in rows(cnndsl.load(ARCH / "resnet18.cnn"))}
    assert resnet["layer2.0.6"][6] == "bn2, downsample.1"  # inside its block, names without the block's prefix
    assert "Connected to" in net.summary()


def test_one_short_form_for_summary_and_diagram():
    net = cnndsl.load(ARCH / "googlenet.cnn")
    ops_by_name = {r[1]: r[2] for r in rows(net)}
    assert ops_by_name["conv2"] == "conv_bn(64, 1)"
    assert ops_by_name["conv1"] == "conv_bn(64, 7, strides=2, padding=3)"
    assert ops_by_name["inception3a.branch2.1"] == "conv_bn(128, 3, padding=1)"
    for s in net.scopes:
        if s.kind == "block":
            assert ops_by_name[s.name] == block_title(net, s) == short_call(s, net.blocks[s.block])
    resnet = cnndsl.load(ARCH / "resnet34.cnn")
    assert {r[2] for r in rows(resnet) if r[1] in ("layer1.0", "layer2.0")} == {"basic(64)", "basic(128, stride=2)"}
    assert "channels=" not in resnet.summary()


def test_a_default_the_value_equals_is_left_out_whatever_the_number_type():
    """`h = c / 2` is 4 to the compiler for c = 8 and 4.0 to Python: equal numbers, so `half(8)`, in the summary
    and in the diagram. A truth value is not a number, nor a number a truth value."""
    net = cnndsl.loads("""
block half(c, h = c / 2, third = c / 3, pair = (c / 2, 1), flag = true, one = 1) {
    conv(c, 1)
}
network n {
    input(8, 16, 16)
    a: half(8)
    b: half(8, h=4.0, pair=(4.0, 1.0), third=8 / 3)
    c: half(8, h=5, pair=(4, 2))
    d: half(8, flag=1, one=true)
}
""")
    ops_by_name = {r[1]: r[2] for r in rows(net)}
    scopes = {s.name: s for s in net.scopes if s.kind == "block"}
    assert {name: ops_by_name[name] for name in "abcd"} == {
        "a": "half(8)", "b": "half(8)", "c": "half(8, h=5, pair=(4, 2))", "d": "half(8, flag=1, one=true)",
    }  # fmt: skip
    assert all(block_title(net, scopes[name]) == ops_by_name[name] for name in "abcd")


def test_lenet5_layers_carry_the_lectures_names():
    net = cnndsl.load(ARCH / "lenet5.cnn")
    named = [(r[1], r[2]) for r in rows(net) if not r[1].isdigit() and r[1] != "input"]
    assert named == [
        ("C1", "conv 5×5, 6"), ("S2", "avgpool 2×2"), ("C3", "conv 5×5, 16"), ("S4", "avgpool 2×2"),
        ("C5", "dense 120"), ("F6", "dense 84"),
    ]  # fmt: skip
    assert net.params == 61_706
