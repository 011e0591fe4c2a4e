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


def infer_shapes(graph: Graph) -> None:
    """Each node's output shape, by cnndsl's own shape rules (no forward pass in any framework); a node the
    rules refuse is reported with where it is."""
    from ..ops import ACTIVATIONS, REGISTRY, ArgumentError, ShapeError, make

    shapes = {graph.input: tuple(graph.input_shape)}
    problems = []
    for n in graph.nodes:
        inputs = [shapes.get(i) for i in n.inputs]
        if any(s is None for s in inputs):
            n.shape = ()
            continue
        try:
            if n.kind in ACTIVATIONS or n.kind == "identity":
                n.shape = inputs[0]
            else:
                n.shape = make(REGISTRY[n.kind], dict(n.args)).infer(inputs)
        except (ShapeError, ArgumentError) as e:
            problems.append((f"{n.kind}: {e.message}", n.where))
            n.shape = ()
        shapes[n.name] = n.shape
    if problems:
        raise ImportRefused(problems, graph.name)
