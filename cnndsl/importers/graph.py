"""The neutral graph every importer builds and the writer reads: framework-free, in cnndsl's own terms.

A frontend (torch.fx, ONNX, Keras) turns a model into a `Graph`: nodes in execution order, each one a cnndsl
op (`conv`, `batchnorm`, `add` ...) with its arguments as the .cnn call takes them, the module path it comes
from (`layer1.0.conv1`: the label the writer gives it, so that the compiled import keeps the original's
state_dict keys) and the class of every enclosing module (for `block` detection). What a frontend cannot map
is collected as `Unsupported` entries, all reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError

# torchvision's modules (of its own classes, not torch.nn's) that are one .cnn op each: read as a module of
# torch.nn, labelled with their path.
OWN_LEAVES = {"Permute", "LayerNorm2d"}


@dataclass
class GNode:
    """One op. `path` is the dotted path of the module it calls ("" for a function such as `torch.cat`);
    `scope` the path of the module whose forward runs it; `shape` its output shape (C, H, W) or (N,)."""

    name: str  # unique in the graph: the fx node, ONNX node or Keras layer name
    kind: str  # a cnndsl op: conv, batchnorm, relu, add, concat, identity ...
    inputs: list[str]
    args: dict = field(default_factory=dict)  # the .cnn call's arguments, by name
    path: str = ""
    scope: str = ""
    shape: tuple = ()
    where: str = ""  # for messages: the module path or node name in the source model
    fusable: bool = False  # an activation applied to a conv or dense alone: may be written as its activation=


@dataclass
class Graph:
    name: str
    input: str  # the input node's name
    input_shape: tuple
    nodes: list[GNode]  # in execution order, the input excluded
    outputs: list[str]  # the main output first
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name ("" is the model)
    sequential: set[str] = field(default_factory=set)  # paths of modules whose children are numbered 0, 1 ...


class ImportRefused(InputError):
    """The model uses what the language cannot express: every unsupported operation, with where it is."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "the model"):
        self.problems = problems
        lines = [f"cannot import {source}: {len(problems)} operation(s) the .cnn language cannot express"]
        lines += [f"  {where}: {what}" for what, where in problems[:50]]
        if len(problems) > 50:
            lines.append(f"  ... and {len(problems) - 50} more")
        lines.append("  (docs/import.md lists what each framework's operations become)")
        super().__init__("\n".join(lines))


def infer_shapes(graph: Graph) -> set[str]:
    """Each node's output shape, by cnndsl's own shape rules (no forward pass in any framework); a node the
    rules refuse is reported with where it is. Returns the nodes whose output is held channels-last (between
    `channels_last` and `channels_first`, as `ops.layout` decides), for frontends whose layers act on the last
    axis (PyTorch's nn.LayerNorm and nn.Linear)."""
    from ..ops import ACTIVATIONS, REGISTRY, ArgumentError, ShapeError, layout, make

    shapes = {graph.input: tuple(graph.input_shape)}
    held: set[str] = set()
    problems = []
    for n in graph.nodes:
        inputs = [shapes.get(i) for i in n.inputs]
        if any(s is None for s in inputs):
            n.shape = ()
            continue
        try:
            if n.kind == "identity":
                n.shape, last = inputs[0], n.inputs[0] in held
            else:
                if n.kind in ACTIVATIONS:
                    op = make(REGISTRY["activation"], {"function": n.kind, **n.args})
                else:
                    op = make(REGISTRY[n.kind], dict(n.args))
                n.shape = op.infer(inputs)
                last = layout(op, inputs, [i in held for i in n.inputs])
            if last:
                held.add(n.name)
        except (ShapeError, ArgumentError) as e:
            problems.append((f"{n.kind}: {e.message}", n.where))
            n.shape = ()
        shapes[n.name] = n.shape
    if problems:
        raise ImportRefused(problems, graph.name)
    return held


_MISPLACED_NORM = {
    "last": "layer norm over the last axis of a map held channels-first (its width), not the channels",
    "channels": "layer norm over the channels (NCHW) of a map held channels-last",
}


def check_axes(graph: Graph, held_last: set[str], axis: dict[str, str], scales: dict[str, tuple]) -> None:
    """What only the shapes tell: each layer norm normalises the channels, as the .cnn op does (`axis`: a
    layer norm of the last axis, as PyTorch's nn.LayerNorm, must see a vector or a map held channels-last; one
    of the channels of an N×C×H×W map, as torchvision's LayerNorm2d, a map held channels-first), and each layer
    scale's weights have the shape the compiled network gives them (`scales`)."""
    problems = []
    shapes = {n.name: n.shape for n in graph.nodes} | {graph.input: tuple(graph.input_shape)}
    for g in graph.nodes:
        if not g.shape:
            continue
        x = g.inputs[0] if g.inputs else graph.input
        if g.name in axis and len(shapes[x]) != 1 and (x in held_last) != (axis[g.name] == "last"):
            problems.append((_MISPLACED_NORM[axis[g.name]], g.where))
        want = (g.shape[0], *(1 for _ in g.shape[1:]))
        if g.name in scales and scales[g.name] != want:
            problems.append((f"a layer scale of shape {scales[g.name]} on a value of shape {g.shape}", g.where))
    if problems:
        raise ImportRefused(problems, graph.name)


def pair(v) -> tuple:
    """A size given once or per axis, per axis."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def without_defaults(values: dict, defaults: dict) -> dict:
    """The arguments that differ from the op's defaults (a .cnn call leaves those out)."""
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}
