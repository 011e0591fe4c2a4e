"""Diagrams: the DOT text (nodes, clusters, edges and their shape labels at each detail level), pictures made
by the real Graphviz `dot`, determinism, and what happens where `dot` is missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ARCH, ARCHITECTURES, ROOT, load_architecture

import cnndsl
from cnndsl.diagram import AUTO_NODES, GraphvizMissing, render

EDGE = re.compile(r'("[^"]+"|[\w.]+) -> ("[^"]+"|[\w.]+)(?: \[(.*)\])?$')
NODE = re.compile(r'("[^"]+"|[\w.]+) \[(.*)\]$')


def load(name: str) -> cnndsl.Network:
    return load_architecture(name)


def parse(source: str) -> tuple[dict[str, str], dict[tuple[str, str], str], list[str]]:
    """The drawn nodes (id -> attributes; block titles left out), edges ((tail, head) -> attributes; invisible
    ones left out) and cluster names of DOT text as cnndsl writes it: one statement per line."""
    nodes, edges, clusters = {}, {}, []
    for line in source.splitlines():
        line = line.strip()
        if line.startswith(("subgraph cluster_", 'subgraph "cluster_')):
            clusters.append(line.split()[1].strip('"'))
        elif m := EDGE.match(line):
            if "style=invis" not in (m[3] or ""):
                edges[m[1].strip('"'), m[2].strip('"')] = m[3] or ""
        elif (m := NODE.match(line)) and m[1] not in ("graph", "node", "edge"):
            if not m[1].strip('"').startswith("_title_"):
                nodes[m[1].strip('"')] = m[2]
    return nodes, edges, clusters


def label(attrs: str) -> str:
    return re.search(r"label=(<.*?>|\"[^\"]*\")(?: \w+=|$)", attrs)[1]


# --- pictures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_renders_to_svg_and_png(name):
    diagram = render(load(name))
    svg = diagram.pipe("svg")
    assert b"<svg" in svg[:500] and svg.rstrip().endswith(b"</svg>")
    assert diagram.pipe("png").startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_dot_accepts_every_detail_without_a_warning(name):
    net = load(name)
    for options in ({}, {"detail": "blocks"}, {"detail": "layers"}, {"depth": 1, "direction": "LR"}):
        run = subprocess.run(["dot", "-Tsvg"], input=render(net, **options).source.encode(), capture_output=True)
        assert run.returncode == 0 and run.stderr == b"", (options, run.stderr)


def test_notebook_display_and_save(tmp_path):
    assert cnndsl.render is render
    diagram = cnndsl.render(load("lenet5"))
    assert "<svg" in diagram._repr_svg_()
    assert diagram.save(tmp_path / "lenet5.dot").read_text() == diagram.source
    assert diagram.save(tmp_path / "lenet5.pdf").read_bytes().startswith(b"%PDF")


# --- what is drawn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_layer_detail_draws_every_node_edge_and_block_instance(name):
    net = load(name)
    nodes, edges, clusters = parse(render(net, detail="layers").source)
    assert len(nodes) == len(net.nodes) + 1  # and the output terminal
    assert len(edges) == sum(len(n.inputs) for n in net.nodes) + 1
    assert sorted(clusters) == sorted(f"cluster_{s.name}" for s in net.scopes if s.kind == "block")


def test_lenet5_node_counts():
    net = load("lenet5")
    # input, conv, tanh, avgpool, conv, tanh, avgpool, flatten, dense, tanh, dense, tanh, dense, output
    nodes, edges, clusters = parse(render(net, detail="layers").source)
    assert (len(nodes), len(edges), clusters) == (14, 13, [])
    # the four tanh fold into the conv and dense layers before them
    nodes, edges, clusters = parse(render(net).source)
    assert (len(nodes), len(edges), clusters) == (10, 9, [])
    assert [label(a) for a in nodes.values()] == [
        "<input>", "<conv 5×5, 6, tanh>", "<avgpool 2×2>", "<conv 5×5, 16, tanh>", "<avgpool 2×2>", "<flatten>",
        "<dense 120, tanh>", "<dense 84, tanh>", "<dense 10>", "<output>",
    ]  # fmt: skip
    assert render(net, detail="blocks").source == render(net).source  # no blocks to collapse


def test_resnet34_node_counts():
    net = load("resnet34")
    # stem: input, conv1, bn1, relu, maxpool; 16 basic blocks of conv1, bn1, relu, conv2, bn2, add, relu, and
    # a conv and a batch norm in the 3 projection shortcuts; avgpool, flatten, fc; output
    nodes, edges, clusters = parse(render(net, detail="layers").source)
    assert len(nodes) == 5 + 16 * 7 + 3 * 2 + 3 + 1 == 127
    assert len(edges) == 126 + 16  # one edge into each node, a second into each add, and the output
    assert len(clusters) == 16
    # input, conv1, bn1 + relu, maxpool, 7 block nodes (4 of them runs), avgpool, flatten, fc, output
    nodes, edges, clusters = parse(render(net, detail="blocks").source)
    assert (len(nodes), len(edges), clusters) == (15, 14, [])
    blocks = [label(a) for a in nodes.values() if "<B>" in a]
    assert [re.search(r"<B>(.*?)</B>", b)[1] for b in blocks] == [
        "basic(64) ×3", "basic(128, stride=2)", "basic(128) ×3", "basic(256, stride=2)", "basic(256) ×5",
        "basic(512, stride=2)", "basic(512) ×2",
    ]  # fmt: skip
    # the default opens the first instance of each block (here the run layer1.0–2) so that one residual block
    # shows its shortcut; the rest collapse (depth 1 would draw 49 nodes: too many for a slide)
    nodes, edges, clusters = parse(render(net).source)
    assert clusters == ["cluster_layer1.0"] and len(nodes) == 15 - 1 + 5
    assert any("dashed" in a for a in edges.values())
    # depth 1 opens the 7 drawn instances: 5 items in an identity block (conv, bn + relu, conv, bn, add + relu),
    # 7 with a projection shortcut; the stem and the head as above
    nodes, edges, clusters = parse(render(net, depth=1).source)
    assert len(nodes) == 4 + 4 * 5 + 3 * 7 + 3 + 1 == 49
    assert len(clusters) == 7


def test_repeated_blocks_are_drawn_once():
    nodes, _, _ = parse(render(load("resnet34"), detail="blocks").source)
    assert "basic(64) ×3" in nodes["layer1.0"] and "layer1.0–2" in nodes["layer1.0"]
    assert "layer1.1" not in nodes and "layer1.2" not in nodes
    source = render(load("resnet34"), depth=1).source
    assert parse(source)[2][:3] == ["cluster_layer1.0", "cluster_layer2.0", "cluster_layer2.1"]
    assert '"_title_layer1.0" [label=<<B>basic(64) ×3</B><BR ALIGN="LEFT"/>layer1.0–2' in source
    assert not re.search(r"\) ×\d", render(load("resnet34"), detail="layers").source)
    # ResNet-50's layer1.0 projects 64 to 256 channels, its followers do not: not the same structure
    nodes, _, _ = parse(render(load("resnet50"), detail="blocks").source)
    assert "<B>bottleneck(64)</B>" in nodes["layer1.0"] and "bottleneck(64) ×2" in nodes["layer1.1"]


def test_shapes_label_the_edges():
    net = load("resnet34")
    _, edges, _ = parse(render(net, detail="blocks").source)
    assert label(edges["input", "conv1"]) == '" 3×224×224"'
    assert label(edges["maxpool", "layer1.0"]) == '" 64×56×56"'
    assert label(edges["layer2.0", "layer2.1"]) == '" 128×28×28"'
    assert label(edges["fc", "_output"]) == '" 1000"'
    _, edges, _ = parse(render(net, detail="blocks", show_shapes=False).source)
    assert not any("label=" in a for a in edges.values())
    # a tensor read by several layers is labelled on one edge only
    _, edges, _ = parse(render(load("googlenet"), expand=["inception3a"]).source)
    branches = [a for (tail, _), a in edges.items() if tail == "maxpool2"]
    assert len(branches) == 4 and sum("label=" in a for a in branches) == 1


def test_shortcuts_are_dashed():
    net = load("resnet34")
    _, edges, _ = parse(render(net, depth=1).source)
    dashed = [head for (_, head), a in edges.items() if "dashed" in a]
    # the identity shortcuts of the 4 runs, into their adds; a projection shortcut is a branch of its own
    runs = ("layer1.0", "layer2.1", "layer3.1", "layer4.1")
    adds = [n for n in net.nodes if n.op.kind == "add" and net.scopes[n.scope].name in runs]
    assert dashed == [n.name for n in adds] and len(dashed) == 4
    _, edges, _ = parse(render(load("unet"), detail="blocks").source)
    assert sorted(tail for (tail, _), a in edges.items() if "dashed" in a) == ["enc1", "enc2", "enc3"]
    _, edges, _ = parse(render(load("unet")).source)  # enc1 opened: the skip leaves its last layer
    assert sorted(tail for (tail, _), a in edges.items() if "dashed" in a) == ["enc1.4", "enc2", "enc3"]


def test_activations_fold_unless_layer_detail():
    nodes, _, _ = parse(render(load("nin")).source)
    assert "<conv 5×5, 192, relu>" in [label(a) for a in nodes.values()]
    assert "<softmax>" in [label(a) for a in nodes.values()]  # not "flatten, softmax"
    nodes, _, _ = parse(render(load("nin"), detail="layers").source)
    assert [label(a) for a in nodes.values()].count("<relu>") == 9


def test_depth_and_expand_open_blocks():
    net = load("googlenet")
    # depth 1: conv1-3 and the 9 inceptions open, the conv_bn blocks they call stay single nodes
    nodes, _, clusters = parse(render(net, depth=1).source)
    assert len(clusters) == 12 and len(nodes) == 88
    assert "<B>conv_bn(64, 1)</B>" in nodes["inception3a.branch1"]
    assert "<B>conv_bn(64, 7, strides=2, padding=3)</B>" in render(net).source
    _, _, clusters = parse(render(net, detail="blocks", expand=["inception3a"]).source)
    assert clusters == ["cluster_inception3a"]
    # by default, the named instance and the first of each block, as many of those as the slide holds
    nodes, _, clusters = parse(render(net, expand=["inception4a"]).source)
    assert clusters == ["cluster_inception4a"] and len(nodes) <= AUTO_NODES
    named = ["inception3a", "inception4a", "inception5a"]  # what is named is opened, whatever the size
    nodes, _, clusters = parse(render(net, expand=named).source)
    assert clusters == [f"cluster_{n}" for n in named] and len(nodes) > AUTO_NODES
    _, _, clusters = parse(render(net, detail="blocks", expand=["inception3a.branch2.1"]).source)
    assert clusters == ["cluster_inception3a", "cluster_inception3a.branch2.1"]
    # naming any instance of a run opens the run
    _, _, clusters = parse(render(load("resnet34"), detail="blocks", expand=["layer3.4"]).source)
    assert clusters == ["cluster_layer3.1"]
    with pytest.raises(ValueError, match="did you mean 'inception3a'"):
        render(net, expand=["incepton3a"])


def test_default_detail_fits_a_slide():
    # every network of every file, the members of a family included (`--network NAME`)
    for path in sorted(ARCH.glob("*.cnn")):
        for net in cnndsl.load_all(path):
            assert len(parse(render(net).source)[0]) <= AUTO_NODES, (path.name, net.name)
    assert len(parse(render(load("nin")).source)[2]) == 3  # small enough to open its 3 blocks
    assert parse(render(load("unet")).source)[2] == ["cluster_enc1"]  # 40 nodes opened: only the first block


def test_default_detail_collapses_further_where_it_must():
    # DenseNet: a run of dense layers is one call repeated, though each widens what it reads; the first opened
    nodes, edges, clusters = parse(render(load("densenet")).source)
    assert "cluster_features.denseblock1.denselayer1" in clusters
    assert (
        '"_title_features.denseblock1.denselayer1" [label=<<B>dense_layer(32) ×6</B>' in render(load("densenet")).source
    )
    assert "<B>dense_layer(32) ×12</B>" in nodes["features.denseblock2.denselayer1"]
    assert "512×28×28" in nodes["features.denseblock2.denselayer1"]  # the run's last shape
    assert label(edges["features.denseblock2.denselayer1", "features.transition2"]) == '" 512×28×28"'
    # VGG-16 with batch norm: conv, batchnorm and relu in one node, runs of them collapsed as in VGG-16
    nodes, _, _ = parse(render(load("vgg16_bn")).source)
    assert len(nodes) == len(parse(render(load("vgg16")).source)[0]) == 19
    assert "<conv 3×3, 64, batchnorm, relu ×2>" in [label(a) for a in nodes.values()]
    # Inception-v3: too many kinds of module to open each; the blocks that merge come first, so the first
    # Inception module (Mixed_5b) is open, with its parallel branches into one concat
    nodes, edges, clusters = parse(render(load("inception_v3")).source)
    assert "cluster_Mixed_5b" in clusters and len(nodes) <= AUTO_NODES
    assert sum(head == "Mixed_5b.8" for _, head in edges) == 4
    # runs of one block whose arguments differ are drawn once, "…" where they differ (last resort)
    efficientnet_v2_s = cnndsl.load(ARCH / "efficientnet.cnn", network="efficientnet_v2_s")
    assert "…" not in render(efficientnet_v2_s, depth=0).source  # an explicit depth: exact runs only
    nodes, _, _ = parse(render(efficientnet_v2_s).source)
    assert any("…" in a and ") ×" in a for a in nodes.values())


def test_a_residual_around_one_block_folds_into_it_last():
    # 16 residuals, each around one block with its own arguments (no run): 34 nodes until each add is
    # drawn as a line of the block it goes around
    body = "; ".join(f"residual {{ b(8, {k}) }}" for k in range(1, 33, 2))
    net = cnndsl.loads(
        f"block b(c, k) {{ conv(c, k, padding=same); batchnorm() }} network n {{ input(8, 32, 32); {body} }}"
    )
    nodes, edges, clusters = parse(render(net).source)
    assert len(nodes) <= AUTO_NODES and clusters == ["cluster_0"]  # the first instance still opened
    assert sum("+ shortcut (add)" in a for a in nodes.values()) == 15
    assert ("1", "2") in edges and "shortcut" not in render(net, depth=0).source


def test_title_and_legend():
    source = render(load("resnet34")).source
    title = re.search(r"graph \[.*?label=(<.*>) labelloc", source)[1]
    assert "<B>resnet34</B>" in title and "3×224×224 → 1000 · 21,797,672 params" in title
    assert "convolution" in title and "block" in title and "activation" not in title  # folded
    assert "activation" in render(load("resnet34"), detail="layers").source


def test_receptive_fields_annotate_the_nodes(tmp_path):
    # VGG-16's pool5: 212 pixels, jump 32 (google-research/receptive_field)
    nodes, _, _ = parse(render(load("vgg16"), show_rf=True).source)
    assert "RF 212, jump 32" in nodes["features.30"]
    assert "RF" not in render(load("vgg16")).source
    out = tmp_path / "vgg16.dot"
    assert cli(str(ARCH / "vgg16.cnn"), "--show", "rf", "-o", str(out)).returncode == 0
    assert "RF 212, jump 32" in out.read_text(encoding="utf-8")


def test_open_sizes_reach_dot_escaped():
    # a ceil-mode pool on an open size spells out its last-window rule with ">=", which HTML labels escape
    net = cnndsl.loads("block down() { maxpool(2, strides=3, ceil_mode=true) }  network n { input(3, ?, ?); down() }")
    source = render(net, detail="blocks").source
    assert "&gt;=" in source
    run = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True)
    assert run.returncode == 0 and run.stderr == b""


def test_bad_options():
    net = load("lenet5")
    for options in ({"detail": "modules"}, {"direction": "up"}, {"depth": -1}):
        with pytest.raises(ValueError):
            render(net, **options)


# --- determinism and the command line ------------------------------------------------------------------


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", "render", *args], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=120,
    )  # fmt: skip


def test_dot_text_is_deterministic(tmp_path):
    net = load("googlenet")
    source = render(net, expand=["inception4a"]).source
    assert render(load("googlenet"), expand=["inception4a"]).source == source
    for seed in ("1", "2"):
        out = tmp_path / f"{seed}.dot"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        assert cli(str(ARCH / "googlenet.cnn"), "--expand", "inception4a", "-o", str(out), env=env).returncode == 0
        assert out.read_text(encoding="utf-8") == source


def test_missing_graphviz_still_writes_the_dot(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path / "empty")}  # no `dot` anywhere
    run = cli(str(ARCH / "resnet34.cnn"), "-o", str(tmp_path / "resnet34.png"), env=env)
    assert run.returncode == 2
    assert not (tmp_path / "resnet34.png").exists()
    assert (tmp_path / "resnet34.dot").read_text(encoding="utf-8") == render(load("resnet34")).source
    assert len(run.stderr.splitlines()) == 1 and "apt-get install graphviz" in run.stderr
    # .dot output needs no Graphviz program at all
    run = cli(str(ARCH / "lenet5.cnn"), "-o", str(tmp_path / "lenet5.dot"), env=env)
    assert run.returncode == 0 and run.stderr == ""
    assert (tmp_path / "lenet5.dot").read_text(encoding="utf-8") == render(load("lenet5")).source


def test_missing_graphviz_in_python(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizMissing):
        render(load("lenet5")).pipe("svg")


def test_cli_renders_by_suffix(tmp_path):
    out = tmp_path / "unet.svg"
    run = cli(str(ARCH / "unet.cnn"), "--detail", "layers", "--direction", "LR", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert b"<svg" in out.read_bytes()[:500]
    run = cli(str(ARCH / "unet.cnn"), "--expand", "enc9", "-o", str(out))
    assert run.returncode == 2 and "no block instance is named 'enc9'" in run.stderr
