"""Diagram options and defaults: --dpi, --no-legend, --no-title, the first instance of each block opened,
runs of identical layers, nested clusters, and what Jupyter shows."""

from __future__ import annotations

import struct
import subprocess
import sys

from conftest import ARCH, ROOT
from test_render import cli, label, parse

import cnndsl
from cnndsl.diagram import DPI, render


def load(name: str) -> cnndsl.Network:
    return cnndsl.load(ARCH / f"{name}.cnn")


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


def test_png_resolution():
    diagram = render(load("lenet5"))
    assert diagram.dpi == DPI == 192
    wide = png_size(diagram.pipe("png"))[0]
    assert wide > 1400  # 753 px at Graphviz's 96 dpi
    narrow = png_size(render(load("lenet5"), dpi=96).pipe("png"))[0]
    assert abs(wide / narrow - 2) < 0.05
    assert "dpi" not in diagram.source  # the DOT text and the SVG are resolution-free


def test_dpi_on_the_command_line(tmp_path):
    out = tmp_path / "lenet5.png"
    assert cli(str(ARCH / "lenet5.cnn"), "--dpi", "48", "-o", str(out)).returncode == 0
    small = png_size(out.read_bytes())[0]
    assert cli(str(ARCH / "lenet5.cnn"), "-o", str(out)).returncode == 0
    assert abs(png_size(out.read_bytes())[0] / small - 4) < 0.2
    run = cli(str(ARCH / "lenet5.cnn"), "--dpi", "0", "-o", str(out))
    assert run.returncode == 2 and "dpi must be more than 0" in run.stderr


def test_no_legend_no_title(tmp_path):
    net = load("resnet34")
    full = render(net).source
    assert "<B>resnet34</B>" in full and "convolution" in full
    no_legend = render(net, legend=False).source
    assert "<B>resnet34</B>" in no_legend and "convolution" not in no_legend
    no_title = render(net, title=False).source
    assert "<B>resnet34</B>" not in no_title and "convolution" in no_title
    neither = render(net, title=False, legend=False).source
    assert "TABLE" not in neither and "labelloc=t" in neither
    out = tmp_path / "r.dot"
    assert cli(str(ARCH / "resnet34.cnn"), "--no-title", "--no-legend", "-o", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8") == neither


def test_default_opens_the_first_instance_of_each_block():
    nodes, edges, clusters = parse(render(load("googlenet")).source)
    assert clusters == ["cluster_conv1", "cluster_inception3a"]  # conv_bn's first instance, inception's
    assert sum(head == "inception3a.4" for _, head in edges) == 4  # the four parallel branches into the concat
    assert "<B>inception(128, 128, 192, 32, 96, 64)</B>" in nodes["inception3b"]  # the others collapsed
    _, edges, clusters = parse(render(load("resnet34")).source)
    assert clusters == ["cluster_layer1.0"] and sum("dashed" in a for a in edges.values()) == 1  # a shortcut


def test_runs_of_identical_layers_collapse():
    net = load("vgg16")
    nodes, edges, _ = parse(render(net).source)
    labels = [label(a) for a in nodes.values()]
    assert labels[1:6] == [
        "<conv 3×3, 64, relu ×2>", "<maxpool 2×2>", "<conv 3×3, 128, relu ×2>", "<maxpool 2×2>",
        "<conv 3×3, 256, relu ×3>",
    ]  # fmt: skip
    assert len(nodes) == 19 and len(edges) == 18  # 34 nodes without the runs
    assert "features.2" in nodes["features.0"]  # the tooltip names every layer of the run
    assert "relu ×" not in render(net, detail="layers").source
    # the edge out of a run carries the run's output shape
    assert edges["features.0", "features.4"].startswith('label=" 64×224×224"')


def test_depth_2_nests_with_titles_in_place():
    source = render(load("googlenet"), depth=2).source
    _, _, clusters = parse(source)
    assert "cluster_inception3a" in clusters and "cluster_inception3a.branch2.1" in clusters
    # the module's title is its cluster's label at the top left, not a node among its branches' titles
    assert '"_title_inception3a"' not in source and "_title_inception3a " not in source
    block = source[source.index("subgraph cluster_inception3a {") :]
    attrs = block.splitlines()[1]
    assert 'fillcolor="#F4F4F4"' in attrs and "label=<<B>inception(64, 96" in attrs and "labeljust=l" in attrs
    nested = block[block.index('subgraph "cluster_inception3a.branch1" {') :].splitlines()[1]
    assert 'fillcolor="#FFFFFF"' in nested  # nested boxes alternate with their parents
    run = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True)
    assert run.returncode == 0 and run.stderr == b""


def test_jupyter_display():
    diagram = render(load("lenet5"))
    assert repr(diagram).startswith("<cnndsl Diagram lenet5: 10 nodes, 0 opened blocks;")
    bundle = diagram._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"} and "<svg" in bundle["image/svg+xml"]
    assert diagram._repr_png_() is None  # IPython would otherwise add a PNG beside the SVG
    diagram.display_format = "png"
    assert diagram._repr_png_().startswith(b"\x89PNG") and diagram._repr_svg_() is None
    assert set(diagram._repr_mimebundle_()) == {"image/png", "text/plain"}
    assert set(diagram._repr_mimebundle_(exclude=["text/plain"])) == {"image/png"}


def test_ipython_shows_one_picture():
    formatter = __import__("pytest").importorskip("IPython.core.formatters")
    data, _ = formatter.DisplayFormatter().format(render(load("lenet5")))
    assert set(data) == {"image/svg+xml", "text/plain"}
    diagram = render(load("lenet5"))
    diagram.display_format = "png"
    data, _ = formatter.DisplayFormatter().format(diagram)
    assert set(data) == {"image/png", "text/plain"} and data["image/png"].startswith(b"\x89PNG")


MISSING = """
import sys
sys.modules[{module!r}] = None  # as if the package were not installed
{code}
"""


def without(module: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", MISSING.format(module=module, code=code)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_dot_needs_no_graphviz_package(tmp_path):
    out = tmp_path / "lenet5.dot"
    run = without(
        "graphviz",
        f"from cnndsl.cli import main; sys.exit(main(['render', 'architectures/lenet5.cnn', '-o', {str(out)!r}]))",
    )
    assert run.returncode == 0, run.stderr
    assert out.read_text(encoding="utf-8") == render(load("lenet5")).source
    run = without(
        "graphviz", "import cnndsl; d = cnndsl.render(cnndsl.load('architectures/lenet5.cnn')); print(len(d.source))"
    )
    assert run.returncode == 0 and int(run.stdout) > 1000


def test_pictures_need_no_graphviz_package(tmp_path):
    """cnndsl writes the DOT text itself and runs Graphviz's `dot`: the graphviz package is not needed."""
    svg = str(tmp_path / "x.svg")
    code = "import cnndsl; print(cnndsl.render(cnndsl.load('architectures/lenet5.cnn')).pipe('svg').count(b'<svg'))"
    run = without("graphviz", code)
    assert run.returncode == 0 and run.stdout.strip() == "1", run.stderr
    run = without(
        "graphviz",
        f"from cnndsl.cli import main; sys.exit(main(['render', 'architectures/lenet5.cnn', '-o', {svg!r}]))",
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "x.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))


def test_gallery_commands_run(tmp_path):
    """Every command docs/gallery.md shows runs, and its picture is committed."""
    import re
    import shlex

    text = (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8")
    commands = re.findall(r"^cnndsl render (architectures/.*)$", text, re.M)
    assert len(commands) >= 7
    for command in commands:
        words = shlex.split(command)
        picture = words[words.index("-o") + 1]
        assert (ROOT / picture).exists(), picture
        words[words.index("-o") + 1] = str(tmp_path / "x.dot")
        run = cli(*words)
        assert run.returncode == 0, (command, run.stderr)
