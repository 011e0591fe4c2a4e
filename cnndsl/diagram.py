"""Architecture diagrams: the IR drawn with Graphviz, for a paper, a lecture slide or a notebook.

    diagram = cnndsl.render(net)              # Jupyter shows it inline
    diagram.save("resnet34.svg")              # .svg, .png, .pdf need Graphviz's `dot`; .dot does not

Three choices shape a drawing:
- which block instances are clusters (opened) and which are one node (collapsed). `depth` counts block
  nesting: blocks called from the network are at depth 1, the blocks they call at depth 2, and so on;
  blocks deeper than `depth` collapse. `expand` names instances to open whatever the depth.
- whether activations are folded into the layer before them ("conv 3×3, 64, relu");
- whether a run of consecutive instances of one call is drawn once, titled "×N" (DenseNet's `dense_layer() ×6`,
  whose channels grow along the run, as its paper's table writes it).
`detail="layers"` draws every IR node and every block instance, nothing folded or merged. `detail="blocks"`
collapses every block, folds and merges. The default folds and merges, opens the first instance of each
block so that a reader sees one residual block and one Inception module, and keeps the drawing within
AUTO_NODES nodes (`_Tree.fit`): LeNet-5, AlexNet, VGG and NiN come out layer by layer, the ResNets, GoogLeNet,
Inception-v3 and DenseNet block by block with one of each kind of block opened. Sequences are not clusters:
they group statements but have no call to title them.

The DOT text is a function of the network alone: node ids are node and scope names, and everything is
emitted in node order, so the same network gives the same bytes in any process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import ops
from .dispatch import Dispatcher
from .ir import Network, Node, Scope
from .summary import describe
from .util import short_call, without_gc

AUTO_NODES = 30  # the most nodes the default detail draws: what fits on a slide
INF = 1 << 30  # a depth deeper than any nesting
FONT = "Helvetica,Arial,sans-serif"
OUTPUT = "_output"  # the id of the output terminal; no node name starts with "_"

# Paul Tol's "light" scheme: told apart under the common colour-vision deficiencies, and light enough for
# black text. (fill, legend text) per kind, in legend order.
KINDS = {
    "conv": ("#77AADD", "convolution"),
    "pool": ("#44BB99", "pooling / resampling"),
    "norm": ("#EEDD88", "normalisation"),
    "act": ("#EE8866", "activation"),
    "dense": ("#FFAABB", "dense"),
    "merge": ("#BBCC33", "merge"),
    "other": ("#DDDDDD", "dropout / reshape / channels"),
    "block": ("#F4F4F4", "block"),
}


def _drawn_as(category: str):
    return lambda self, op: category


class _Category(Dispatcher):
    """The colour (a key of KINDS, or "io") each op kind is drawn in."""

    WHAT = "diagrams"
    TRANSFORMS = {
        **dict.fromkeys(("conv", "conv_transpose"), _drawn_as("conv")),
        **dict.fromkeys(
            ("maxpool", "avgpool", "global_avgpool", "global_maxpool", "adaptive_avgpool", "upsample"),
            _drawn_as("pool"),
        ),
        **dict.fromkeys(("batchnorm", "lrn", "layernorm", "layer_scale"), _drawn_as("norm")),
        "activation": _drawn_as("act"),
        "dense": _drawn_as("dense"),
        **dict.fromkeys(ops.MERGES, _drawn_as("merge")),
        **dict.fromkeys(
            ("dropout", "flatten", "chunk", "channel_shuffle", "stochastic_depth", "channels_last", "channels_first"),
            _drawn_as("other"),
        ),
        "input": _drawn_as("io"),
    }


_CATEGORY = _Category()


def _category(op: ops.Op) -> str:
    return _CATEGORY.handler(op)(op)


BORDER = "#888888"


def _printable(text: str) -> str:
    """Text as a drawing shows it. An IR read from JSON may hold any text: a character that is not printable
    (a NUL ends `dot`'s input, a lone surrogate is no UTF-8) shows as U+FFFD."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "\ufffd" for c in text)


def _html(text: str) -> str:
    """Text for an HTML-like label."""
    return html.escape(_printable(text))


class GraphvizMissing(Exception):
    """The Graphviz `dot` program is not installed (the DOT text can still be written)."""


class GraphvizFailed(Exception):
    """`dot` ran but gave no picture: it took longer than its time bound, crashed, or reported an error."""


DOT_TIMEOUT = 60.0  # seconds `dot` may take for one picture; a 4,000-branch concat can take it minutes
RASTER = ("png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp")  # the formats `dpi` applies to
DPI = 192  # a PNG sharp on a high-density screen and in print: LeNet-5 ~1,500 px wide


class Diagram:
    """A drawn network: its DOT text, and pictures of it made by Graphviz's `dot`.

    The DOT text needs nothing beyond cnndsl (no graphviz package); pictures need Graphviz's `dot` program."""

    def __init__(self, graph: Digraph, dpi: int = DPI, about: str = "", display_format: str = "svg"):
        self.graph, self.dpi, self.about = graph, dpi, about
        self.display_format = display_format  # what Jupyter shows: "svg" or "png"
        # IR node id -> the DOT node (its <title> in SVG) that draws it: `cnndsl serve` links a drawing to the source
        self.drawn_as: list[str] = []

    @property
    def source(self) -> str:
        return self.graph.source

    def pipe(self, format: str = "svg", timeout: float | None = DOT_TIMEOUT) -> bytes:
        """The picture: "svg", "png", "pdf" or any other format `dot -T` knows, bitmaps at `self.dpi`.
        GraphvizFailed if `dot` runs longer than `timeout` seconds (None: no bound), crashes or fails."""
        import signal
        import subprocess

        resolution = [f"-Gdpi={self.dpi}"] if format.lower() in RASTER else []
        try:
            done = subprocess.run(
                ["dot", f"-T{format}", *resolution], input=self.source.encode("utf-8"), capture_output=True,
                timeout=timeout,
            )  # fmt: skip
        except FileNotFoundError as e:
            raise GraphvizMissing(
                "the Graphviz 'dot' program is not installed: apt-get install graphviz (or brew install graphviz)"
            ) from e
        except subprocess.TimeoutExpired:  # run() has killed it
            raise GraphvizFailed(f"Graphviz 'dot' took longer than {timeout:g} s to lay out the diagram") from None
        if done.returncode < 0:
            try:
                name = signal.Signals(-done.returncode).name
            except ValueError:
                name = f"signal {-done.returncode}"
            raise GraphvizFailed(f"Graphviz 'dot' crashed ({name}) laying out the diagram")
        if done.returncode:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GraphvizFailed(f"Graphviz 'dot' failed: {message[0][:300] if message else f'exit {done.returncode}'}")
        return done.stdout

    def save(self, path: str | Path) -> Path:
        """Write the picture in the format the suffix names; .dot and .gv get the DOT text."""
        path = Path(path)
        suffix = path.suffix.lower().lstrip(".")
        if suffix in ("dot", "gv"):
            path.write_text(self.source, encoding="utf-8")
        else:
            path.write_bytes(self.pipe(suffix or "svg"))
        return path

    def __repr__(self) -> str:
        return f"<cnndsl Diagram {self.about}; .save('x.svg'|'x.png'|'x.pdf'|'x.dot'), .source for the DOT text>"

    def _repr_svg_(self) -> str | None:
        return self.pipe("svg").decode("utf-8") if self.display_format == "svg" else None

    def _repr_png_(self) -> bytes | None:
        return self.pipe("png") if self.display_format == "png" else None

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """What Jupyter shows: the picture in `display_format` ("svg", sharp at any zoom, or "png" for front
        ends that want a bitmap), and the repr as text. Only one picture is made: IPython skips a _repr_*_
        that returns None."""
        mime = {"svg": "image/svg+xml", "png": "image/png"}[self.display_format]
        wanted = {mime, "text/plain"} - set(exclude or ())
        if include:
            wanted &= set(include)
        bundle: dict = {"text/plain": repr(self)} if "text/plain" in wanted else {}
        if mime in wanted:
            bundle[mime] = self._repr_svg_() if mime == "image/svg+xml" else self._repr_png_()
        return bundle


# --- DOT text, without the graphviz package: the same bytes graphviz.Digraph writes ----------------------

_ID = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*|-?(\.[0-9]+|[0-9]+(\.[0-9]*)?))$")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}
_QUOTE = re.compile(r"(?P<escaped>(?:\\{2})*)\\?(?P<quote>\")")


def _quote(text: str) -> str:
    """A DOT identifier: HTML-like labels (<...>) as they are, others quoted where they need it."""
    if re.match(r"<.*>$", text, re.DOTALL):
        return text
    if not _ID.match(text) or text.lower() in _KEYWORDS:
        return '"' + _QUOTE.sub(r"\g<escaped>\\\g<quote>", text) + '"'
    return text


def _attrs(label: str | None, attrs: dict) -> str:
    parts = [f"label={_quote(label)}"] if label is not None else []
    parts += [f"{_quote(k)}={_quote(v)}" for k, v in sorted(attrs.items()) if v is not None]
    return " [" + " ".join(parts) + "]" if parts else ""


class Digraph:
    """The part of Digraph that diagrams use, writing the same text."""

    def __init__(self, name: str | None = None):
        self.name, self.body = name, []
        self.graph_attr: dict = {}
        self.node_attr: dict = {}
        self.edge_attr: dict = {}

    def attr(self, kw: str | None = None, **attrs) -> None:
        if kw is None:
            self.body.append(f"\t{_attrs(None, attrs)[2:-1]}\n")
        else:
            self.body.append(f"\t{kw}{_attrs(None, attrs)}\n")

    def node(self, name: str, label: str | None = None, **attrs) -> None:
        self.body.append(f"\t{_quote(name)}{_attrs(label, attrs)}\n")

    def edge(self, tail: str, head: str, **attrs) -> None:
        self.body.append(f"\t{_quote(tail)} -> {_quote(head)}{_attrs(None, attrs)}\n")

    @contextlib.contextmanager
    def subgraph(self, name: str | None = None):
        sub = Digraph(name)
        yield sub
        self.body += [f"\t{line}" for line in sub.lines(subgraph=True)]

    def lines(self, subgraph: bool = False) -> list[str]:
        name = _quote(self.name) + " " if self.name else ""
        head = (
            f"subgraph {name}{{\n" if subgraph and self.name else f"{name}{{\n" if subgraph else f"digraph {name}{{\n"
        )
        return [head, *self.body, "}\n"]

    @property
    def source(self) -> str:
        return "".join(self.lines())


@without_gc
def render(
    net: Network,
    detail: str | None = None,
    direction: str = "TB",
    depth: int | None = None,
    show_shapes: bool = True,
    show_rf: bool = False,
    expand: Iterable[str] = (),
    title: bool = True,
    legend: bool = True,
    dpi: int = DPI,
) -> Diagram:
    """Draw `net`.

    detail: "layers", "blocks", or None to fit the drawing to a slide.
    direction: Graphviz's rankdir, "TB", "LR", "BT" or "RL".
    depth: open blocks nested this deep (0 collapses them all), overriding what detail implies.
    show_shapes: tensor shapes on the edges.
    show_rf: each node's receptive field and jump (effective stride), in input pixels.
    expand: block instances to open whatever the depth ("inception3a"); the blocks they call follow the depth.
    title: the network's name, shapes and parameters over the drawing; legend: the colours' meanings under it.
    dpi: the resolution of bitmaps (.png); SVG and PDF scale freely.
    """
    if detail not in (None, "blocks", "layers"):
        raise ValueError(f"detail must be 'blocks' or 'layers', not {detail!r}")
    if direction not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"direction must be TB, LR, BT or RL, not {direction!r}")
    if depth is not None and depth < 0:
        raise ValueError("depth must be 0 or more")
    if dpi <= 0:
        raise ValueError("dpi must be more than 0")
    tree = _Tree(net)
    named = tree.block_names(expand)
    compact = detail != "layers"
    if depth is None and detail is None:  # the first instance of each block opened, to show what it is
        plan = tree.fit(named)
    else:
        plan = _Plan(tree, depth if depth is not None else INF if detail == "layers" else 0, named, compact)
    if show_rf:
        _annotate_receptive_fields(plan)
    about = f"{net.name}: {len(plan.items)} nodes, {len(plan.clusters)} opened blocks"
    diagram = Diagram(_draw(plan, direction, show_shapes, title, legend), dpi, about)
    diagram.drawn_as = [plan.owner[plan.final[n.id]] for n in net.nodes]
    return diagram


def _annotate_receptive_fields(plan: _Plan) -> None:
    from .receptive import describe as describe_field
    from .receptive import receptive_fields

    fields = receptive_fields(plan.tree.net)
    for item in plan.items.values():
        if item.kind != "io":
            size, jump, _ = describe_field(fields[item.out])
            text = f"RF {size}, jump {jump}" if jump else f"RF {size}"
            item.label += f'<BR/><FONT POINT-SIZE="8" COLOR="#444444">{_html(text)}</FONT>'


# --- what to draw -----------------------------------------------------------------------------------


class _Tree:
    """What does not depend on the options: consumers, block nesting, and runs of identical blocks."""

    def __init__(self, net: Network):
        self.net = net
        nodes, scopes = net.nodes, net.scopes
        self.consumers: list[list[int]] = [[] for _ in nodes]
        for n in nodes:
            for i in n.inputs:
                self.consumers[i].append(n.id)
        # Parents come before children in net.scopes, and a scope's nodes (nested ones included) are
        # consecutive ids, from first to last; an empty block has none (last < first).
        self.level = [0] * len(scopes)  # block nesting: 1 for blocks called from the network
        self.children: list[list[int]] = [[] for _ in scopes]
        for s in scopes[1:]:
            self.level[s.id] = self.level[s.parent] + (s.kind == "block")
            self.children[s.parent].append(s.id)
        self.first = [len(nodes)] * len(scopes)
        self.last = [-1] * len(scopes)
        for n in nodes:
            sid = n.scope
            while sid is not None and n.id < self.first[sid]:
                self.first[sid] = n.id
                sid = scopes[sid].parent
            sid = n.scope
            while sid is not None and n.id > self.last[sid]:
                self.last[sid] = n.id
                sid = scopes[sid].parent
        # Runs of consecutive instances drawn as one: of the same call (exact), or of the same block with
        # arguments that differ (loose: EfficientNet's stages, whose stochastic depth grows block by block).
        self.exact = self._runs(loose=False)
        self.loose = self._runs(loose=True)

    def _runs(self, loose: bool) -> _Runs:
        runs = _Runs(list(range(len(self.net.nodes))), {})
        for kids in self.children:
            run: list[int] = []
            for sid in (k for k in kids if self.net.scopes[k].kind == "block"):
                if run and self._repeats(run[-1], sid, loose):
                    run.append(sid)
                else:
                    self._add_run(runs, run)
                    run = [sid]
            self._add_run(runs, run)
        final = runs.final
        for n in range(len(final)):  # a run nested in a repeated instance: follow the chain to the first
            final[n] = final[final[n]]
        return runs

    def _add_run(self, runs: _Runs, run: list[int]) -> None:
        if len(run) > 1:
            runs.runs[run[0]] = run
            for sid in run[1:]:
                for offset in range(self.last[sid] - self.first[sid] + 1):
                    runs.final[self.first[sid] + offset] = self.first[run[0]] + offset

    def _repeats(self, a: int, b: int, loose: bool) -> bool:
        """Instance b repeats instance a: the same call, fed by a alone, the same ops wired alike. The shapes
        may differ (a dense layer widens what it reads): the edges out of a run carry its last shape. Loose:
        the same block, its ops the same or of the same kinds with the same shapes and parameters
        (EfficientNet's blocks, which differ only in their stochastic depth), wired alike."""
        nodes, sa, sb = self.net.nodes, self.net.scopes[a], self.net.scopes[b]
        size = self.last[a] - self.first[a]
        if (
            sa.block != sb.block
            or (sa.args != sb.args and not loose)
            or sb.input != sa.output
            or self.last[b] - self.first[b] != size
            or size < 0
        ):
            return False
        for offset in range(size + 1):
            x, y = nodes[self.first[a] + offset], nodes[self.first[b] + offset]
            alike = loose and (x.op.kind, x.shape, x.params) == (y.op.kind, y.shape, y.params)
            if (x.op != y.op and not alike) or self._wiring(x, a) != self._wiring(y, b):
                return False
            if any(not self.first[a] <= c <= self.last[b] for c in self.consumers[x.id]):
                return False  # something else reads a's values
        return True

    def _wiring(self, node: Node, sid: int) -> list[int]:
        """What node reads, as offsets in instance sid (-1: from before it)."""
        return [i - self.first[sid] if i >= self.first[sid] else -1 for i in node.inputs]

    def block_names(self, names: Iterable[str]) -> frozenset[str]:
        known = sorted(s.name for s in self.net.scopes if s.kind == "block")
        names = frozenset(names)
        for name in sorted(names.difference(known)):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"no block instance is named '{name}'{hint}")
        return names

    def first_instances(self) -> list[str]:
        """The first instance of each block: what the default drawing opens, so that a reader sees one
        residual block and one Inception module (the rest collapse). Those that merge tensors (a shortcut,
        branches, a gate) come first, in network order, then the plain ones (conv + batchnorm + relu): where
        not all fit, the first of the list stay open."""
        nodes, firsts = self.net.nodes, {}
        for s in self.net.scopes:
            if s.kind == "block" and self.first[s.id] <= self.last[s.id] and s.block not in firsts:
                merges = any(nodes[n].op.merge for n in range(self.first[s.id], self.last[s.id] + 1))
                firsts[s.block] = (not merges, s.id, s.name)
        return [name for *_, name in sorted(firsts.values())]

    def fit(self, named: frozenset[str]) -> _Plan:
        """The default drawing: the fullest with at most AUTO_NODES nodes. Every first instance is opened, the
        blocks inside it as deep as they go, then less deep, at each of the STEPS, which collapse more and
        more: activations folded into the layer before them; normalisations folded too ("conv 3×3, 64,
        batchnorm, relu"); runs of one block with differing arguments drawn once ("mbconv(80, 3, …) ×3"),
        with no other block opened; a residual around one collapsed block drawn as that block ("+ shortcut").
        If none fits, fewer first instances are opened at the last step: the most that fit, from the start of
        first_instances (none: every block collapsed)."""
        firsts = self.first_instances()
        for step in STEPS:
            for depth in range(0 if step[1] else max(self.level), -1, -1):
                plan = _Plan(self, depth, named | frozenset(firsts), True, *step)
                if len(plan.items) <= AUTO_NODES:
                    return plan

        def opening(k: int) -> _Plan:  # the first k first instances opened, at the last step
            return _Plan(self, 0, named | frozenset(firsts[:k]), True, *STEPS[-1])

        fits, too_many = 0, len(firsts)  # a drawing grows with what it opens: bisect for the most that fit
        while too_many - fits > 1:
            k = (fits + too_many) // 2
            fits, too_many = (k, too_many) if len(opening(k).items) <= AUTO_NODES else (fits, k)
        return opening(fits)


# What the default drawing folds and merges, step by step until it fits (_Tree.fit): (fold_norms, loose,
# fold_shortcuts) of _Plan; activations are always folded.
STEPS = ((False, False, False), (True, False, False), (True, True, False), (True, True, True))


@dataclass
class _Runs:
    """final[n]: the node of its run's first instance that stands for node n; runs[first instance]: the
    instances of its run."""

    final: list[int]
    runs: dict[int, list[int]]


@dataclass
class _Item:
    """A node of the drawing: a layer (with the activation folded into it), a collapsed block instance or
    run, or an input/output terminal."""

    key: str  # the DOT node id
    order: int  # its first IR node: items and clusters are emitted in this order
    kind: str  # a key of KINDS, or "io"
    label: str  # HTML
    names: list[str]  # what it stands for, for the tooltip
    params: int
    cluster: int  # the opened block instance that holds it (0: none)
    out: int | None  # the IR node whose value leaves it (None for the output terminal)


@dataclass
class _Edge:
    tail: str
    head: str
    shape: tuple
    # "shortcut" into an add, "skip" into a concat: an input of a merge that bypasses the layers on its
    # first input (a residual's identity, a U-Net skip). "gated": the first input of a multiply whose other
    # input is computed from it (a squeeze-excitation gate). "merge" for the other inputs of a merge, "" else.
    role: str
    labelled: bool = True


class _Plan:
    """The drawing for given options: its items, edges, and the opened block instances (clusters)."""

    def __init__(
        self, tree: _Tree, depth: int, named: frozenset[str], compact: bool, fold_norms: bool = False,
        loose: bool = False, fold_shortcuts: bool = False,
    ):  # fmt: skip
        self.tree, self.depth, self.compact = tree, depth, compact  # compact: fold activations, merge runs
        self.fold_norms = compact and fold_norms  # fold normalisations too
        self.fold_shortcuts = compact and fold_shortcuts  # a residual around one collapsed block: that block
        net = tree.net
        runs = _Runs(list(range(len(net.nodes))), {}) if not compact else tree.loose if loose else tree.exact
        self.final, self.runs = runs.final, runs.runs
        self._open(named)
        self.items: dict[str, _Item] = {}
        self.owner = owner = [""] * len(net.nodes)  # IR node -> the item drawing it
        for n in net.nodes:
            if self.final[n.id] != n.id:
                continue
            if self.collapsed[n.scope] is not None:
                owner[n.id] = self._block_item(net.scopes[self.collapsed[n.scope]])
            elif (p := self._folds_into(n)) is not None:
                owner[n.id] = owner[p.id]
                item = self.items[owner[p.id]]
                if item.kind == "block":  # a line under the block's call: "+ shortcut (add)"
                    what = "shortcut (add)" if n.op.kind == "add" else describe(n.op)
                    item.label += f'<BR/><FONT POINT-SIZE="9">{_html("+ " + what)}</FONT>'
                else:
                    item.label += _html(", " + describe(n.op))
                item.names.append(n.name)
                item.out = n.id
            else:
                owner[n.id] = self._layer_item(n)
        self.items[OUTPUT] = _Item(OUTPUT, len(net.nodes), "io", "output", [], 0, 0, None)
        for k, i in enumerate(net.extra_outputs, 1):  # each extra output gets a terminal of its own
            self.items[f"{OUTPUT}{k}"] = _Item(
                f"{OUTPUT}{k}", len(net.nodes) + k, "io", _html(f"output {net.output_name(i)}"), [], 0, 0, None
            )

        self.edges: list[_Edge] = []
        seen = set()
        for n in net.nodes:
            head = self.final[n.id]
            for i in n.inputs:
                tail = self.final[i]
                if tail >= head:  # from one repeated instance to the next
                    continue
                key = (owner[tail], owner[head])
                if key[0] != key[1] and key not in seen:
                    seen.add(key)
                    # the tensor itself (i, not tail): a run's last instance may be wider than its first
                    self.edges.append(_Edge(*key, net.nodes[i].shape, self._role(net.nodes[head], tail, key[1])))
        self.edges.append(_Edge(owner[self.final[net.output]], OUTPUT, net.output_shape, ""))
        for k, i in enumerate(net.extra_outputs, 1):
            self.edges.append(_Edge(owner[self.final[i]], f"{OUTPUT}{k}", net.nodes[i].shape, ""))
        if compact:
            self._merge_layer_runs()
        tails = set()
        for e in self.edges:  # a tensor read by several items is labelled once
            e.labelled = e.tail not in tails
            tails.add(e.tail)

    def _merge_layer_runs(self) -> None:
        """Draw a run of identical layers once, "conv 3×3, 64, relu ×2": consecutive items of a cluster with the
        same label and output shape, each the only reader of the one before."""
        nodes = self.tree.net.nodes
        outs: dict[str, list[_Edge]] = {}
        ins: dict[str, list[_Edge]] = {}
        for e in self.edges:
            outs.setdefault(e.tail, []).append(e)
            ins.setdefault(e.head, []).append(e)
        repeats: dict[str, int] = {}
        into: dict[str, str] = {}  # a merged item -> the run's first
        for key, item in list(self.items.items()):
            if key not in self.items or item.kind in ("io", "block"):
                continue
            while len(outs.get(key, ())) == 1:
                e = outs[key][0]
                nxt = self.items[e.head]
                if (
                    ins[e.head] != [e] or nxt.kind != item.kind or nxt.cluster != item.cluster
                    or nxt.label != item.label or nodes[nxt.out].shape != nodes[item.out].shape
                ):  # fmt: skip
                    break
                repeats[key] = repeats.get(key, 1) + 1
                item.names += nxt.names
                item.params += nxt.params
                item.out = nxt.out
                del self.items[e.head]
                self.edges.remove(e)
                into[e.head] = key
                outs[key] = outs.pop(e.head, [])
                for later in outs[key]:
                    later.tail = key
        for key, count in repeats.items():
            self.items[key].label += _html(f" ×{count}")
        if into:
            self.owner[:] = [into.get(o, o) for o in self.owner]

    def _open(self, named: frozenset[str]) -> None:
        """collapsed[sid]: the block instance drawn as one node that holds scope sid, or None;
        cluster[sid]: the innermost opened block instance around scope sid (0 for none);
        clusters: the opened block instances that are drawn."""
        net, tree = self.tree.net, self.tree
        named = set(named)
        if self.compact:  # naming any instance of a run opens the run
            for first, run in self.runs.items():
                if named.intersection(net.scopes[sid].name for sid in run):
                    named.add(net.scopes[first].name)
        opened = [False] * len(net.scopes)  # named, or around a named instance
        for s in reversed(net.scopes[1:]):
            if opened[s.id] or s.name in named:
                opened[s.id] = opened[s.parent] = True
        self.collapsed: list[int | None] = [None] * len(net.scopes)
        self.cluster = [0] * len(net.scopes)
        for s in net.scopes[1:]:
            is_open = tree.level[s.id] <= self.depth or opened[s.id]
            self.collapsed[s.id] = self.collapsed[s.parent]
            if self.collapsed[s.id] is None and s.kind == "block" and not is_open:
                self.collapsed[s.id] = s.id
            self.cluster[s.id] = s.id if s.kind == "block" and is_open else self.cluster[s.parent]
        self.clusters = [  # not inside a collapsed instance, not a repetition, not empty
            sid for sid, c in enumerate(self.cluster)
            if c == sid and sid and self.collapsed[sid] is None and tree.first[sid] <= tree.last[sid]
            and self.final[tree.first[sid]] == tree.first[sid]
        ]  # fmt: skip

    def run(self, s: Scope) -> list[int]:
        """The instances that block instance s stands for: itself, or its run."""
        return self.runs.get(s.id, [s.id])

    def name(self, run: list[int]) -> str:
        """A run's name, short inside the cluster that holds it: "branch2.0" in inception3a."""
        net = self.tree.net
        outer = net.scopes[self.cluster[net.scopes[run[0]].parent]].name
        return run_name(net, run).removeprefix(outer + "." if outer else "")

    def part(self, sid: int, key: str) -> int | None:
        """Where opened block instance sid holds item `key`: sid itself, or the opened instance directly in sid
        that holds it (None: sid does not hold it)."""
        c = self.items[key].cluster
        while c:
            outer = self.cluster[self.tree.net.scopes[c].parent]
            if c == sid or outer == sid:
                return c
            c = outer
        return None

    def _block_item(self, s: Scope) -> str:
        if s.name not in self.items:
            net, tree, run = self.tree.net, self.tree, self.run(s)
            params = sum(net.nodes[n].params for sid in run for n in range(tree.first[sid], tree.last[sid] + 1))
            out = net.scopes[run[-1]].output
            label = (
                f"<B>{_html(block_title(net, s, run))}</B>"
                f'<BR/><FONT POINT-SIZE="9">{_html(self.name(run))}</FONT>'
                f'<BR/><FONT POINT-SIZE="9">{_html(ops.shape_str(net.nodes[out].shape))}'
                f" · {_count(params)} params</FONT>"
            )
            names = [run_name(net, run)]
            self.items[s.name] = _Item(
                s.name, tree.first[s.id], "block", label, names, params, self.cluster[s.parent], out
            )
        return s.name

    def _layer_item(self, n: Node) -> str:
        label = _html(describe(n.op))
        self.items[n.name] = _Item(
            n.name, n.id, _category(n.op), label, [n.name], n.params, self.cluster[n.scope], n.id
        )
        return n.name

    def _folds_into(self, n: Node) -> Node | None:
        """The layer that n folds into: the one it alone reads, drawn in the same cluster, for an activation
        and (with fold_norms) a normalisation after a convolution or dense layer; with fold_shortcuts, the
        collapsed block instance an add's shortcut goes around (`residual { bneck(...) }`)."""
        if self.fold_shortcuts and n.op.kind == "add" and len(n.inputs) == 2:
            return self._shortcut_around(n)
        if self.compact and isinstance(n.op, ops.Act):
            into = ("conv", "pool", "norm", "dense", "merge")  # not "flatten, softmax"
        elif self.fold_norms and _category(n.op) == "norm":
            into = ("conv", "dense")
        else:
            return None
        p = self.tree.net.nodes[n.inputs[0]]
        if (
            _category(p.op) not in into
            or getattr(p.op, "activation", None)
            or self.tree.consumers[p.id] != [n.id]
            or self.collapsed[p.scope] is not None
            or self.cluster[p.scope] != self.cluster[n.scope]
        ):
            return None
        return p

    def _shortcut_around(self, n: Node) -> Node | None:
        """The output of the collapsed block instance that add n adds to its input, read by n alone."""
        net = self.tree.net
        p = net.nodes[n.inputs[0]]
        sid = self.collapsed[p.scope]
        if sid is None or self.final[p.id] != p.id or self.tree.consumers[p.id] != [n.id]:
            return None
        s = net.scopes[sid]
        if (s.output, s.input) != (p.id, n.inputs[1]) or self.cluster[s.parent] != self.cluster[n.scope]:
            return None
        return p

    def _role(self, head: Node, i: int, drawn: str) -> str:
        """The role of the edge from node i into node head (drawn as item `drawn`)."""
        if head.op.kind not in ops.MERGES or drawn != head.name:
            return ""
        if i == head.inputs[0]:  # a gate (squeeze-excitation) multiplies what it was computed from
            gated = head.op.kind == "multiply" and any(self._leads_to(i, j) for j in head.inputs[1:])
            return "gated" if gated else "merge"
        if self._leads_to(i, head.inputs[0]):
            return "shortcut" if head.op.kind == "add" else "skip"
        return "merge"

    def _leads_to(self, i: int, n: int) -> bool:
        """Whether node i is node n or one of its ancestors."""
        nodes, stack, seen = self.tree.net.nodes, [n], set()
        while stack:  # ancestors older than i cannot lead to it
            n = stack.pop()
            if n == i:
                return True
            for j in nodes[n].inputs:
                if j >= i and j not in seen:
                    seen.add(j)
                    stack.append(j)
        return False


def block_title(net: Network, s: Scope, run: list[int] | None = None) -> str:
    """A block instance's call as one would write it (util.short_call): "basic(128, stride=2)", "basic(64) ×3"
    for a run, with "…" for an argument that differs along it: "mbconv(112, 5, …) ×3"."""
    run = run or [s.id]
    if len(run) > 1:
        scopes = [net.scopes[sid] for sid in run]
        s = dataclasses.replace(
            s, args={k: v if all(t.args[k] == v for t in scopes) else "…" for k, v in s.args.items()}
        )
    return short_call(s, net.blocks.get(s.block), len(run))


def run_name(net: Network, run: list[int]) -> str:
    """ "layer1.0", or "layer1.0–2" for the run layer1.0, layer1.1, layer1.2."""
    first, last = net.scopes[run[0]].name, net.scopes[run[-1]].name
    if first == last:
        return first
    prefix, _, tail = last.rpartition(".")
    return f"{first}–{tail}" if prefix and first.startswith(prefix + ".") else f"{first}–{last}"


def _count(n: int) -> str:
    """Parameters, short enough for a node: 950, 9.5k, 222k, 21.8M."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(n)


# --- DOT ----------------------------------------------------------------------------------------------


def _draw(plan: _Plan, direction: str, show_shapes: bool, title: bool = True, legend: bool = True) -> Digraph:
    net = plan.tree.net
    g = Digraph(net.name)
    g.attr(
        "graph", rankdir=direction, label=_title(net, plan, title, legend), labelloc="t", fontname=FONT, fontsize="12",
        newrank="true", nodesep="0.25", ranksep="0.3", margin="0.2",
    )  # fmt: skip
    g.attr("node", shape="box", style="rounded,filled", color=BORDER, fontname=FONT, fontsize="11", height="0.3")
    g.attr("edge", fontname=FONT, fontsize="9", fontcolor="#333333", color="#555555", arrowsize="0.6", weight="2")

    members: dict[int, list] = {}  # opened instance (0: the network) -> its items and opened instances
    for item in plan.items.values():
        members.setdefault(item.cluster, []).append((item.order, item))
    for sid in plan.clusters:
        members.setdefault(plan.cluster[net.scopes[sid].parent], []).append((plan.tree.first[sid], sid))
    _fill(g, plan, members, 0)

    for e in plan.edges:
        attrs = {"label": " " + _printable(ops.shape_str(e.shape))} if show_shapes and e.labelled else {}
        # Layers sit close to what they read; a merge waits for its inputs. A residual shortcut goes around
        # the main path, which stays straight. A U-Net skip pulls its concat under the encoder layer it
        # copies, which draws the U as a V with straight skips that cannot cross. A gated tensor goes straight
        # into its multiply, the gate computed from it beside: a side branch multiplied back in.
        if e.role == "shortcut":
            attrs.update(style="dashed", weight="0")
        elif e.role == "skip":
            attrs["style"] = "dashed"
        elif e.role == "merge":
            attrs["weight"] = "1"
        elif e.role == "gated":
            attrs["weight"] = "8"
        g.edge(e.tail, e.head, **attrs)
    return g


def _fill(g: Digraph, plan: _Plan, members: dict, sid: int, level: int = 0) -> None:
    """Emit the items and clusters of opened block instance sid, in node order."""
    for _, m in sorted(members.get(sid, []), key=lambda member: member[0]):
        if isinstance(m, int):
            _cluster(g, plan, members, m, level + 1)
            continue
        tooltip = " + ".join(m.names) + (f" · {m.params:,} params" if m.params else "")
        if m.kind == "io":
            g.node(m.key, f"<{m.label}>", shape="oval", style="solid", tooltip=tooltip or m.label)
        elif m.kind == "block":
            g.node(m.key, f"<{m.label}>", fillcolor=KINDS["block"][0], penwidth="1.5", tooltip=tooltip)
        else:
            g.node(m.key, f"<{m.label}>", fillcolor=KINDS[m.kind][0], tooltip=tooltip)


def _cluster(g: Digraph, plan: _Plan, members: dict, sid: int, level: int = 1) -> None:
    """An opened block instance. Its title is a node left of (in LR: above) the layers that read the block's
    input, rather than the cluster's label, which the edges entering the cluster would cross. When opened
    blocks inside it read its input (an Inception module's branches), their titles hold that row, and the
    title is the cluster's label, top left; nested clusters alternate grey and white."""
    net = plan.tree.net
    s, run = net.scopes[sid], plan.run(net.scopes[sid])
    title = f"_title_{s.name}"
    label = f'<B>{_html(block_title(net, s, run))}</B><BR ALIGN="LEFT"/>{_html(plan.name(run))}'
    source = plan.owner[plan.final[s.input]]
    row = []  # what reads the block's input: layers, or the titles of the opened blocks that hold them
    for e in plan.edges:
        part = plan.part(sid, e.head) if e.tail == source and not e.role else None
        key = e.head if part == sid else f"_title_{net.scopes[part].name}" if part else None
        if key and key not in row:
            row.append(key)
    row = row or [plan.owner[plan.tree.first[sid]]]  # a block whose input only feeds merges
    nested = any(key.startswith("_title_") for key in row)
    fill = KINDS["block"][0] if level % 2 else "#FFFFFF"
    with g.subgraph(name=f"cluster_{s.name}") as c:
        if nested:
            c.attr(
                label=f'<{label}<BR ALIGN="LEFT"/>>', labeljust="l", labelloc="t", fontsize="10",
                style="rounded,filled", color=BORDER, fillcolor=fill, margin="10",
            )  # fmt: skip
        else:
            c.attr(label="", style="rounded,filled", color=BORDER, fillcolor=fill, margin="10")
            c.node(title, f'<{label}<BR ALIGN="LEFT"/>>', shape="plaintext", style="solid", fontsize="10")
        _fill(c, plan, members, sid, level)
        if nested:
            return
        with c.subgraph() as same:
            same.attr(rank="same")
            for key in [title, *row]:
                same.node(key)
        for key in row:
            c.edge(title, key, style="invis")  # flat edges: the title goes first in the row


def _title(net: Network, plan: _Plan, title: bool = True, legend: bool = True) -> str | None:
    """The network's name, input → output shape and parameters, over a legend of the colours drawn."""
    drawn = {item.kind for item in plan.items.values()} | ({"block"} if plan.clusters else set())
    keys = "".join(
        f'<TD BGCOLOR="{fill}" BORDER="1" COLOR="{BORDER}" WIDTH="12" HEIGHT="10"></TD>'
        f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{text}  </FONT></TD>'
        for kind, (fill, text) in KINDS.items()
        if kind in drawn
    )
    shapes = _html(f"{ops.shape_str(net.input_shape)} → {ops.shape_str(net.output_shape)}")
    head = f"<B>{_html(net.name)}</B>   {shapes} · {net.params:,} params"
    rows = (f'<TR><TD COLSPAN="99">{head}</TD></TR>' if title else "") + (f"<TR>{keys}</TR>" if legend else "")
    if not rows:
        return None
    return f'<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="1">{rows}</TABLE>>'
