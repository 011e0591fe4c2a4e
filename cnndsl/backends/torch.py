"""PyTorch backend: Python source for a `torch.nn.Module`, written as torchvision writes its models.

`emit(net)` returns the source of a module: one `nn.Module` class per block definition (`Basic`,
`Inception`), one for the network, and `build()`. `to_torch(net)` executes that same source, so the model
in memory and the file on disk are one model by construction.

How the IR becomes classes:

- Module names are the IR's node names, so state_dict keys are the IR's (`layer2.0.downsample.0.weight`).
  Layers with weights are always registered modules; a labelled layer without weights becomes a module
  too (`self.relu`), an unlabelled one a functional call (`F.relu(out, inplace=True)`, `torch.flatten`).
- A scope whose statements form a chain of plain modules numbered 0, 1, 2 ... is an `nn.Sequential`
  (torchvision's `features`, `layer1`, `downsample`); a block whose body is such a chain is an
  `nn.Sequential` subclass. Other scopes get a `forward` with explicit merges (`out += identity`,
  `torch.cat([...], 1)`); a sequence that is not a chain holds its modules in an `nn.ModuleDict`.
- Which instances of a block share a class is decided as for Keras' functions (blocks.py): instances alike
  in their steps (op kinds, nested blocks, sequences) form a group, whose class is written once for them
  all. Each argument is the expression it was written with, in the constructor's parameters (`in.channels`
  is `in_channels`), where that gives every instance's value, else their one value; where they have
  several that no parameter gives (a padding that depends on the input's size), the group is split by
  that value: `Unit`, `Unit2`. A projection shortcut that only some instances build becomes a flag
  (`downsample=True`); closing steps that only some run (a residual `add`) become `residual=True`, without
  which forward returns early; a last module that a word parameter chooses (`act`) is appended as
  torchvision's Conv2dNormActivation appends its activation. Instances that differ in structure (a
  `repeat` count, an `if` in the middle of a block) get a class each.
- A child whose name is no attribute name (a position, a quoted label such as RegNet's `block1-0`) is
  registered by `add_module` and reached by `getattr(self, "block1-0")`, so that state_dict keys are the IR's.
- A network with extra outputs (`aux1: output ...`) returns a tuple: the main output, then the others in order.
- Every identifier in the source comes from IR names checked here against the compiler's pattern, and
  every expression from the IR is built as a Python tree (expr.python) and printed, so a doctored IR cannot
  smuggle code into a file that `to_torch` executes. An expression is written only where evaluating it
  (backends/arith.py, no eval) gives every instance's value.
"""

from __future__ import annotations

import ast
import builtins
import copy
import hashlib
import keyword
import linecache
import math
import re
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .. import expr, ops
from ..dispatch import Dispatcher
from ..ir import MODULE_NAME, Network, Node, Scope
from ..util import without_gc
from . import arith
from .base import block_definitions, literal, matrix, needed, pair, runtime, same_pads
from .blocks import (
    Arguments,
    Differs,
    Signature,
    Step,
    alike,
    closing,
    flag_name,
    last_reads,
    share,
    switch,
    template,
)
from .writer import Call, Entry, Writer, flat

if TYPE_CHECKING:
    from torch import nn

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_INDEX = re.compile(r"[0-9]+")

# Public attributes of nn.Module, nn.Sequential and nn.ModuleDict (torch 2.13). A child with one of these
# names cannot be set as an attribute (`self.eval = ...` would leave `self.eval` the method) nor through
# add_module (which refuses it): such children go straight into `_modules`, which keeps their keys.
_MODULE_ATTRIBUTES = frozenset(
    "T_destination add_module append apply bfloat16 buffers call_super_init children clear compile cpu cuda double "
    "dump_patches eval extend extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half "
    "insert ipu items keys load_state_dict modules mtia named_buffers named_children named_modules named_parameters "
    "parameters pop register_backward_hook register_buffer register_forward_hook register_forward_pre_hook "
    "register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook "
    "register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook "
    "register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty "
    "train training type update values xpu zero_grad".split()
)
_HELPERS = runtime("kernels", "torch_layers")  # what emitted modules carry: cnndsl/runtime/torch_layers.py
# Names the generated code uses itself; a parameter or a variable taken from the .cnn gets a `_` appended.
_RESERVED = frozenset(
    {"self", "x", "out", "identity", "torch", "nn", "F", "Tensor", "OrderedDict", "math", *_HELPERS, "l", "O", "I"}
    | set(dir(builtins))
    | set(keyword.kwlist)
    | set(keyword.softkwlist)
)

# Ops whose output is a new tensor that their backward pass does not read: an in-place update of it (a ReLU,
# `out += identity`) is safe once nothing else reads it.
_FRESH = frozenset({"conv", "conv_transpose", "dense", "batchnorm", "add", "multiply", "concat"})

# activation function -> (its module, its call on {x}); leaky_relu and elu take {alpha}
_ACTIVATIONS = {
    "relu": ("nn.ReLU()", "F.relu({x})"),
    "relu6": ("nn.ReLU6()", "F.relu6({x})"),
    "gelu": ("nn.GELU()", "F.gelu({x})"),
    "silu": ("nn.SiLU()", "F.silu({x})"),
    "sigmoid": ("nn.Sigmoid()", "torch.sigmoid({x})"),
    "tanh": ("nn.Tanh()", "torch.tanh({x})"),
    "softmax": ("nn.Softmax(dim=1)", "F.softmax({x}, dim=1)"),
    "hardswish": ("nn.Hardswish()", "F.hardswish({x})"),
    "hardsigmoid": ("nn.Hardsigmoid()", "F.hardsigmoid({x})"),  # relu6(x + 3) / 6
    "leaky_relu": ("nn.LeakyReLU(negative_slope={alpha})", "F.leaky_relu({x}, negative_slope={alpha})"),
    "elu": ("nn.ELU(alpha={alpha})", "F.elu({x}, alpha={alpha})"),
}


@without_gc
def emit(net: Network) -> str:
    """The network as the source of a Python module that defines `build() -> nn.Module`."""
    return _Emitter(net).source()


def to_torch(net: Network) -> nn.Module:
    """The network as a `torch.nn.Module`, built by running the source `emit` writes.

    The classes live in no importable module: save the model's `state_dict()`, not the model itself.
    """
    source = emit(net)
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<cnndsl {net.name} {digest}>"
    # Tracebacks and debuggers show the generated lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"__name__": f"cnndsl_{net.name}"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["build"]()


# --- expressions ------------------------------------------------------------------------------------


def _names(tree: ast.expr) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


class _Substitute(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, ast.expr]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.mapping.get(node.id, node)


def _substitute(tree: ast.expr, mapping: dict[str, ast.expr]) -> ast.expr:
    return _Substitute(mapping).visit(copy.deepcopy(tree))


def _doc(text: str) -> str:
    """Text made safe inside a triple-quoted docstring (escapes, no quote characters)."""
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Block"


def _shape(shape) -> str:
    return _doc(" x ".join(str(d) for d in ("N", *shape)))


# --- what a class is made of ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One step of a forward pass: a layer, a block instance, or a sequence run as one module."""

    path: tuple[str, ...]  # its module's name; inside a container for a sequence that is not a chain
    inputs: tuple[tuple[str, ...], ...]  # the paths of the items it reads; () is the class's input
    call: str  # the expression computing it: {m} is its module, {0} {1} ... its inputs
    module: Call | None = None  # its constructor, if it is a registered module
    opaque: bool = False  # a block or a sequence, run as one call; may be optional in a block class
    merge: str | None = None  # "add" or "concat"
    fresh: bool = False  # see _FRESH
    hint: str | None = None  # the label naming its value, if any
    comment: str | None = None


@dataclass(frozen=True)
class Piece:
    """A child of a scope, before it is known whether the scope runs as an nn.Sequential."""

    name: str
    output: tuple[str, ...]  # the value it computes, by the path of its step (as `_Structure` names values)
    inputs: tuple[tuple[str, ...], ...]
    module: Call | None  # the child as a module whose forward is module(x), if it can be one
    item: Item | None = None  # the child as a step of a forward pass (a layer or an opaque scope)
    children: tuple = ()  # the pieces of a sequence that is not a chain


@dataclass
class Group:
    """A class: the instances that share its code (the network's is its only instance)."""

    definition: str
    name: str
    names: _Names
    items: list[Item]
    sequential: bool  # a chain of modules numbered 0, 1 ...: the class is an nn.Sequential
    output: tuple[str, ...]  # the item computing the output
    out_channels: str | None  # the output's channels in terms of the parameters, if an expression gives them
    instances: list[Scope] = field(default_factory=list)
    extra: tuple[tuple[str, ...], ...] = ()  # the network's extra outputs (`aux1: output ...`), in order
    optional: dict[tuple[str, ...], str] = field(default_factory=dict)  # item path -> flag parameter
    signature: Signature | None = None  # the parameters the code uses, their defaults, the flags
    lifted: dict[str, list] = field(default_factory=dict)  # parameter -> its value in each instance
    takes_in_channels: bool = False
    # A last module chosen by a word parameter (`if act == relu { relu() }`): the parameter, and the module
    # each of its values appends (None: no module)
    switch: tuple[str, dict[str, Call | None]] | None = None
    # The closing steps some instances skip (a residual connection), as the flag that keeps them and the
    # index of the first: forward returns early without them
    tail: tuple[str, int] | None = None

    def flags(self, instance: _Structure) -> tuple[bool, ...]:
        """Which of the optional steps (then the closing ones) an instance has: the flags its call passes."""
        tail = [self.items[self.tail[1]].path in instance.at] if self.tail else []
        return (*(path in instance.at for path in self.optional), *tail)

    def flag_names(self) -> list[str]:
        return [*self.optional.values(), *([self.tail[0]] if self.tail else [])]


class _Names:
    """Python names of a block definition's parameters: the .cnn names, unless the generated code uses them."""

    def __init__(self, params):
        self.py: dict[str, str] = {}
        used: set[str] = set()  # the names given so far, as a set: a block of n parameters is n steps, not n²
        for p in params:
            name = _ident(p, "parameter name")
            while name in _RESERVED or name in used:
                name += "_"
            self.py[p] = name
            used.add(name)
        self.in_channels = "in_channels"
        while self.in_channels in used:
            self.in_channels += "_"
        self.source = {v: k for k, v in self.py.items()}


@dataclass
class _Structure:
    """A block instance (or the network) as `share` compares it: its steps, each what it is (an op kind, a
    nested block, a sequence with the steps inside it) and what it reads, by path; and what each path holds."""

    scope: Scope
    steps: list[Step]
    at: dict[tuple[str, ...], Node | Scope]  # path -> the child of the instance there
    value: dict[tuple[str, ...], int]  # path -> the node id of the value it computes; () is the input
    output: tuple[str, ...]
    main: tuple[str, ...]  # the output but for the closing steps: what instances that skip them return
    extra: tuple[tuple[str, ...], ...] = ()  # the network's extra outputs


# --- the emitter ------------------------------------------------------------------------------------------


class _Emitter:
    def __init__(self, net: Network):
        self.net = net
        _ident(net.name, "network name")
        self.consumers = Counter(i for n in net.nodes for i in n.inputs)
        self.consumers.update(net.outputs)
        self.local: dict[tuple[str, int], str] = {}  # ("node" | "scope", id) -> its name inside its parent
        self.children = self._children()
        self.helpers: set[str] = set()
        self.structures: dict[int, _Structure] = {}  # block scope -> its steps
        self.class_of: dict[int, Group] = {}  # block scope -> the class that builds it
        self.groups: dict[str, list[Group]] = {}
        # Class names avoid every name of the .cnn file, so no parameter or variable can hide a class.
        words = (
            {p for s in net.scopes for p in s.args} | {w for n in net.nodes for w in n.name.split(".")} | set(net.args)
        )
        self.taken = set(_RESERVED) | words
        self.network_class = self.allocate(_camel(net.name))
        self.constants: dict[str, str] = {}  # the literal of a matrix -> its name in the module

    def constant(self, base: str, rows) -> str:
        """A module-level name for a matrix, one row a line."""
        text = matrix(rows)
        if text not in self.constants:
            self.constants[text] = self.allocate(base)
        return self.constants[text]

    def _children(self) -> dict[int, list[Node | Scope]]:
        """Each scope's children (its own nodes, and the scopes inside it that hold nodes), in order."""
        net = self.net
        first: dict[int, int] = {}
        for n in net.nodes:
            sid = n.scope
            while sid is not None and sid not in first:
                first[sid] = n.id
                sid = net.scopes[sid].parent
        keyed: dict[int, list] = {s.id: [] for s in net.scopes}
        for n in net.nodes:
            if n.op.kind != "input":
                keyed[n.scope].append((n.id, 1, n))
                self.local[("node", n.id)] = self._local(n, net.scopes[n.scope].name)
        for s in net.scopes[1:]:
            if s.kind == "block":
                _ident(s.block, "block name")
            if s.id in first:  # an empty scope computes nothing and holds no weights
                keyed[s.parent].append((first[s.id], 0, s))
                self.local[("scope", s.id)] = self._local(s, net.scopes[s.parent].name)
        return {sid: [e[2] for e in sorted(entries, key=lambda e: e[:2])] for sid, entries in keyed.items()}

    @staticmethod
    def _local(child: Node | Scope, parent: str) -> str:
        local = _local(child.name, parent)
        if local == "training":  # a quoted label may be that: nn.Module's own flag, which .eval() assigns
            raise _Owner.__new__(_Owner).unsupported(child, "a module named 'training' (nn.Module's train flag)")
        return local

    def structure(self, scope: Scope) -> _Structure:
        """The steps of a block instance or of the network. A block or a sequence is one step (a sequence's
        `what` holds the steps inside it); one directly in the scope may be optional (a projection), and so
        may the steps that close a block (`blocks.closing`)."""
        net = self.net
        start = scope.input if scope.kind != "network" else next(n.id for n in net.nodes if n.op.kind == "input")
        refs = {start: ()}  # node id -> the path of the step computing it
        at: dict[tuple[str, ...], Node | Scope] = {}
        value = {(): start}

        def walk(sid: int, prefix: tuple[str, ...]) -> list[Step]:
            steps = []
            for child in self.children[sid]:
                if isinstance(child, Node):
                    path = (*prefix, self.local[("node", child.id)])
                    steps.append(Step(path, child.op.kind, tuple(refs[i] for i in child.inputs)))
                    out = child.id
                else:
                    path = (*prefix, self.local[("scope", child.id)])
                    if child.kind == "block":
                        what: Hashable = ("block", child.block)
                    else:
                        inner = walk(child.id, path)
                        what = ("sequence", tuple(inner), refs[child.output])
                    steps.append(Step(path, what, (refs[child.input],), optional=not prefix))
                    out = child.output
                at[path], value[path], refs[out] = child, out, path
            return steps

        steps = walk(scope.id, ())
        output = main = refs[scope.output]
        if scope.kind == "block":
            main, steps = closing(steps, output, (), lambda path: self.consumers[value[path]])
        extra = tuple(refs[i] for i in net.extra_outputs) if scope.kind == "network" else ()
        return _Structure(scope, steps, at, value, output, main, extra)

    def allocate(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}{k}"
        self.taken.add(name)
        return name

    def source(self) -> str:
        order: list[Group] = []
        for definition in block_definitions(self.net):
            order += self._classify(definition)
        net = self.net
        # The network's parameters are its class's, as a block's are: Resnet34(classes=1000), build(classes=1000).
        network = replace(net.scopes[0], args=dict(net.args))
        g = _Owner(self, [self.structure(network)], _Names(net.args)).group(net.name)
        g.name = self.network_class
        _signature(g, {p: expr.constant(v) for p, v in net.args.items()})
        constants = "\n".join(f"{name} = {text}" for text, name in self.constants.items())
        parts = [constants + "\n"] if constants else []
        parts += [d.source + "\n" for d in needed(_HELPERS, self.helpers)]
        parts += [self._render_group(g) for g in order]
        doc = [f"The {net.name} network of {_doc(net.source)}."]
        if g.extra:
            names = ", ".join(net.output_name(i) for i in net.extra_outputs)
            doc.append(f"forward returns the main output, then {_doc(names)}.")
        parts.append(_render_class(self.network_class, doc, g.items, g.sequential, (g.output, *g.extra), g))
        build = Writer()
        build.statement("", Call("def build(", tuple(_parameters(g)), ") -> nn.Module:"))
        with build.indent():
            build.docstring([f"The {net.name} network, with freshly initialised weights."])
            passed = tuple(f"{p}={p}" for p in g.signature.names.values())
            build.statement("", Call(f"return {self.network_class}(", passed, hug=True))
        parts.append(build.text())
        code = "\n\n".join(parts)
        gap = "\n\n" if constants else "\n\n\n"  # isort's blank lines after the imports: 1 before a constant
        return self._header(code) + gap + code

    def _first_node_path(self, scope: Scope) -> str | None:
        """The file a block instance's own first layer was written in: the block's file."""
        for child in self.children[scope.id]:
            if isinstance(child, Node):
                return child.span.path
            if child.kind == "sequence" and (path := self._first_node_path(child)):
                return path
        return None

    def _classify(self, definition: str) -> list[Group]:
        """The classes of a block definition. Its instances are grouped by their steps (`share`); each group's
        class is written once for all of them, and split where their arguments cannot be one (`template`)."""
        scopes = [
            s for s in self.net.scopes if s.kind == "block" and s.block == definition and ("scope", s.id) in self.local
        ]
        signature = self.net.blocks.get(definition) or (dict.fromkeys(scopes[0].args) if scopes else {})
        names = _Names(signature)
        structures = [self.structure(s) for s in scopes]
        alike = [[structures[i] for i in g.members] for g in share([(st.main, st.steps) for st in structures])]
        groups = [g for _, g in template(alike, lambda members: _Owner(self, members, names).group(definition))]
        groups.sort(key=lambda g: g.instances[0].id)
        for g in groups:
            g.name = self.allocate(_camel(definition))
            _signature(g, signature)
            for s in g.instances:
                self.class_of[s.id] = g
        self.structures.update((st.scope.id, st) for st in structures)
        self.groups[definition] = groups
        return groups

    # --- rendering ---------------------------------------------------------------------------------------

    def _header(self, code: str) -> str:
        net = self.net
        doc = Writer()
        doc.docstring(
            [
                f"The {net.name} network, compiled by cnndsl from {_doc(net.source)}.",
                f"Input: {_shape(net.input_shape)}. Output: {_shape(net.output_shape)}. "
                f"{net.params:,} parameters.\nbuild() returns the model. This file is generated: change the .cnn "
                "file and compile it again.",
            ]
        )
        imports = ["import math"] if re.search(r"(?<![\w.])math\.", code) else []
        imports += ["from collections import OrderedDict"] if "OrderedDict(" in code else []
        imports += [""] if imports else []
        if re.search(r"(?<![\w.])torch\.", code):
            imports.append("import torch")
        if re.search(r"(?<![\w.])F\.", code):
            imports.append("import torch.nn.functional as F")
        tensor = re.search(r"(?<![\w.])Tensor\b", code) is not None
        imports.append("from torch import Tensor, nn" if tensor else "from torch import nn")
        return doc.text() + "\n" + "\n".join(imports)

    def _render_group(self, g: Group) -> str:
        first = g.instances[0]
        where = self._first_node_path(first)
        signature = self.net.blocks.get(g.definition) or dict.fromkeys(first.args)
        shown = _doc(", ".join(p if d is None else f"{p} = {d}" for p, d in signature.items()))
        doc = [f"The `{g.definition}` block" + (f" of {_doc(where)}" if where else "") + f": {g.definition}({shown})."]
        others = [o.name for o in self.groups[g.definition] if o is not g]
        if others:
            doc.append(f"Instances of it that differ in structure from these are built by {', '.join(others)}.")
        return _render_class(g.name, doc, g.items, g.sequential, (g.output,), g)


def _local(name: str, parent: str) -> str:
    """A node's or scope's name inside its parent: a label (quoted ones included) or a position."""
    prefix = parent + "." if parent else ""
    local = name[len(prefix) :] if name.startswith(prefix) else ""
    if not (_INDEX.fullmatch(local) or _IDENT.fullmatch(local) or MODULE_NAME.fullmatch(local)):
        raise ValueError(f"{name!r} is not a valid layer name inside {parent!r}")
    return local


def _attribute(name: str) -> bool:
    """Can a child of this name be an attribute, `self.conv1`? Not a position, a quoted label that is no
    Python name (`block1-0`), a keyword, nor a name nn.Module uses itself."""
    return _IDENT.fullmatch(name) is not None and not keyword.iskeyword(name) and not _unsafe(name)


def _parse_call(call: str) -> ast.expr:
    """A forward expression with its module and inputs filled in by placeholders."""
    return ast.parse(call.format(*["_"] * call.count("{"), m="_"), mode="eval").body


def _signature(g: Group, signature: dict) -> None:
    """The constructor's parameters: those the code uses and those their defaults use; and the flags."""
    names = g.names
    used: set[str] = set()
    for it in g.items:
        used |= _names(_parse_call(it.call)) if it.call else set()
        used |= _names(ast.parse(flat(it.module), mode="eval").body) if it.module else set()
    if g.switch:
        used.add(g.switch[0])
        used |= {n for m in g.switch[1].values() if m for n in _names(ast.parse(flat(m), mode="eval").body)}
    g.signature = Signature.of(signature, names.py, g.instances[0].args, used, lifted=g.lifted)
    g.takes_in_channels = names.in_channels in used
    taken = set(g.signature.names.values()) | {names.in_channels} | g.lifted.keys() | _RESERVED
    for path in g.optional:
        g.optional[path] = flag_name(path[0], taken)
        taken.add(g.optional[path])
    if g.tail is not None:
        g.tail = (flag_name("residual", taken), g.tail[1])
    g.signature.flags = g.flag_names()


_ABSENT = object()  # the value of a step in an instance that lacks it (an optional projection)


class _Position:
    """One layer of a class, across the instances that share it: its values, and its arguments as source."""

    def __init__(self, owner: _Owner, step: Step, nodes: list[Node | None]):
        self.owner, self.step, self.nodes = owner, step, nodes
        self.node = next(n for n in nodes if n is not None)
        self.op = self.node.op
        self.args = owner.arguments(nodes)

    def each(self, f) -> Any:
        """f(node, its first input) in every instance: the one value they all have (else Differs)."""
        net = self.owner.net
        return self.owner.same([_ABSENT if n is None else f(n, net.nodes[n.inputs[0]]) for n in self.nodes])

    def get(self, attr: str):
        return self.each(lambda n, x: getattr(n.op, attr))

    def values(self, attr: str) -> list:
        return [getattr(n.op, attr) for n in self.nodes if n is not None]

    def arg(self, attr: str, default=None, literal=literal) -> str | None:
        """An op attribute as source: the expression it was written with where that gives every instance's
        value, else the value they all have (None where that is torch's default)."""
        text = self.args.expression(self.node.exprs.get(attr), self.values(attr))
        if text is not None:
            return text
        value = self.get(attr)
        return None if value == default else literal(value)

    def channels(self) -> str:
        return self.owner.channel(self.step.inputs[0])


class _Owner(Dispatcher):
    """The code of one class: of the network, or of the block instances that share it. Each step is written
    once for them all, its arguments decided across them (`blocks.Arguments`); where they cannot be one, the
    instances differ there (`blocks.Differs`) and `template` splits them.

    The code of a layer comes from the method named after its op's kind, `conv(p)`, which returns (module
    constructor, forward with the module as {m}, forward without a module, comment).
    """

    WHAT = "backend torch"
    ACTIVATIONS = _ACTIVATIONS

    def __init__(self, em: _Emitter, members: list[_Structure], names: _Names):
        self.em, self.net, self.members, self.names = em, em.net, members, names
        network = members[0].scope.kind == "network"
        self.envs = [{names.py[k]: v for k, v in st.scope.args.items()} for st in members]
        if not network:  # a block's input channels are a parameter; the network's are its input's
            for env, st in zip(self.envs, members, strict=True):
                env[names.in_channels] = self.net.nodes[st.value[()]].shape[0]
        self.params = set(names.py.values()) | ({names.in_channels} if not network else set())
        # .cnn names -> Python names: a block's `in.channels` is its in_channels
        self.rename = names.py if network else {**names.py, "in.channels": names.in_channels}
        self.used: set[str] = set()
        self.lifted: dict[str, list] = {}  # parameter -> what each instance passes a nested block there
        self.helpers: set[str] = set()
        self.channels: dict[tuple[str, ...], str | None] = {(): names.in_channels if not network else None}
        self.paths: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}  # step -> the item computing its value

    def same(self, values: list):
        """The one value the instances that have a step all have; Differs (split by value) if they differ."""
        present = [v for v in values if v is not _ABSENT]
        if not alike(present):
            raise Differs([None if v is _ABSENT else repr(v) for v in values])
        return present[0]

    def arguments(self, children: list) -> Arguments:
        """The argument rule over the instances that have a step."""
        envs = [env for env, c in zip(self.envs, children, strict=True) if c is not None]
        return Arguments(self.rename, envs, used=self.used)

    def channel(self, path: tuple[str, ...], required: bool = True) -> str | None:
        """The channels of a step's value: an expression of the parameters, or the number all instances have
        (if they differ: Differs where `required`, else None)."""
        text = self.channels.get(path)
        if text is not None:
            return text
        try:
            return literal(self.same([self._channels(st, path) for st in self.members]))
        except Differs:
            if required:
                raise
            return None

    def _channels(self, st: _Structure, path: tuple[str, ...]):
        return self.net.nodes[st.value[path]].shape[0] if path in st.value else _ABSENT

    def checked(self, tree: ast.expr, path: tuple[str, ...]) -> str | None:
        """An expression of the channels of a step's value, if it gives them in every instance."""
        values = [self._channels(st, path) for st in self.members]
        present = [v for v in values if v is not _ABSENT]
        return self.arguments([None if v is _ABSENT else v for v in values]).check(tree, present)

    def group(self, definition: str) -> Group:
        parts = share([(st.main, st.steps) for st in self.members])
        if len(parts) > 1:  # a part of a group whose steps merge only through members now split off
            raise Differs([next(k for k, p in enumerate(parts) if i in p.members) for i in range(len(self.members))])
        steps, optional = parts[0].steps, parts[0].optional
        # The closing activation, where instances differ in it (or in having one): a word parameter chooses it.
        last = steps[-1] if steps and steps[-1].optional and steps[-1].what == "activation" else None
        variants = [repr(st.at[last.name].op) if last and last.name in st.at else None for st in self.members]
        switched = len(set(variants)) > 1
        steps = steps[:-1] if switched else steps
        # The closing residual steps (the other optional layers), where some instances skip them all.
        closing = [s.name for s in steps if s.optional and isinstance(s.what, str)]
        has = [tuple(name in st.at for name in closing) for st in self.members]
        if any(any(h) and not all(h) for h in has):
            raise Differs(has)
        tail = len(set(has)) > 1
        optional = [name for name in optional if name not in closing and not (last and name == last.name)]
        pieces = self.pieces(steps)
        output = closing[-1] if tail else self.members[0].main if switched else self.members[0].output
        extra = tuple(self.paths[path] for path in self.members[0].extra)
        sequential = _is_chain(pieces, (), output) and all(p.name == str(i) for i, p in enumerate(pieces))
        sequential = sequential and not extra
        if sequential:
            items = [Item((p.name,), (), "", p.module) for p in pieces]
        else:
            items = _items(pieces)
        if any(not it.opaque for it in items if it.path in optional):  # a sequence some lack, not one call
            raise Differs([tuple(path in st.at for path in optional) for st in self.members])
        scopes = [st.scope for st in self.members]
        g = Group(definition, "", self.names, items, sequential, self.paths[output], self.channels.get(output), scopes)
        g.extra, g.optional, g.lifted = extra, dict.fromkeys(optional, ""), self.lifted
        g.tail = ("", next(i for i, it in enumerate(items) if it.path == closing[0])) if tail else None
        if switched:
            g.switch = self.switch(last, variants) if sequential and items else None
            if g.switch is None:
                raise Differs(variants)
        self.em.helpers |= self.helpers
        return g

    def switch(self, last: Step, variants: list) -> tuple[str, dict[str, Call | None]] | None:
        """The word parameter that chooses the closing activation of an nn.Sequential class, and the module
        each of its values appends (None: none), as torchvision's Conv2dNormActivation appends its activation."""
        p = switch(self.names.py, [(st.scope.args, v) for st, v in zip(self.members, variants, strict=True)])
        if p is None:
            return None
        table: dict[str, Call | None] = {}
        for st in self.members:
            value = st.scope.args[p]
            if value not in table:
                nodes = [m.at.get(last.name) if m.scope.args[p] == value else None for m in self.members]
                table[value] = self.layer(_Position(self, last, nodes)).module if any(nodes) else None
        return self.names.py[p], table

    # --- steps ---------------------------------------------------------------------------------------------

    def pieces(self, steps: list[Step]) -> list[Piece]:
        out = []
        for step in steps:
            children = [st.at.get(step.name) for st in self.members]
            if isinstance(step.what, str):
                out.append(self.layer(_Position(self, step, children)))
            elif step.what[0] == "block":
                out.append(self.block(step, children))
            else:
                out.append(self.sequence(step))
        return out

    def sequence(self, step: Step) -> Piece:
        _, inner, output = step.what
        children = self.pieces(list(inner))
        self.paths[step.name], self.channels[step.name] = self.paths[output], self.channels.get(output)
        if _is_chain(children, step.inputs[0], output) and not any(_unsafe(c.name) for c in children):
            if all(c.name == str(i) for i, c in enumerate(children)):
                module = Call("nn.Sequential(", tuple(c.module for c in children), block=True)
            else:
                entries = tuple(Entry(f'("{c.name}", ', c.module, ")") for c in children)
                listed = Call("OrderedDict(", (Call("[", entries, "]", block=True),), ")", block=True, sole=True)
                module = Call("nn.Sequential(", (listed,), block=True, sole=True)
            return self.opaque(step, module)
        # Not a chain: its steps join the forward pass of the class, its modules go into an nn.ModuleDict.
        return Piece(step.name[-1], step.name, step.inputs, None, children=tuple(children))

    def block(self, step: Step, scopes: list[Scope | None]) -> Piece:
        """A nested block's class, the same for every instance (with the same flags), called with arguments
        that are expressions of this class's parameters giving every instance's value, or one value; those
        that the callee's defaults give are left out."""
        present = [s for s in scopes if s is not None]
        g = self.em.class_of[present[0].id]
        self.same([_ABSENT if s is None else (self.em.class_of[s.id].name, self.flags(s)) for s in scopes])
        sources: dict[str, str] = {}
        values = {p: [s.args[p] for s in present] for p in g.names.py}
        lifted = {py: [g.lifted[py][g.instances.index(s)] for s in present] for py in g.signature.lifted}
        lift = self.lift if None not in scopes else None  # a value for every instance, none skips the step
        passed = g.signature.arguments(self.arguments(scopes), present[0].exprs, values, lifted, lift, sources)
        if passed is None:  # they pass different values that no parameter gives: split them by these
            differ = [p for p, py in g.signature.names.items() if py not in sources][:1]
            raise Differs(
                [None if s is None else repr([s.args[p] for p in differ] or [v[i] for v in lifted.values()])
                 for i, s in enumerate(scopes)]
            )  # fmt: skip
        # The callee's parameters as expressions here, for its output channels in these terms.
        trees = {py: ast.parse(text, mode="eval").body for py, text in sources.items()}
        if (channels := self.channel(step.inputs[0], required=False)) is not None:
            trees[g.names.in_channels] = ast.parse(channels, mode="eval").body
        args = [self.channel(step.inputs[0])] if g.takes_in_channels else []
        args += [*passed, *(f"{flag}=True" for flag, on in zip(g.flag_names(), self.flags(present[0])) if on)]
        if g.out_channels is not None:
            lifted = arith.sum_of([_substitute(ast.parse(g.out_channels, mode="eval").body, trees)])
            self.channels[step.name] = self.checked(lifted, step.name)
        return self.opaque(step, Call(f"{g.name}(", tuple(args)))

    def lift(self, name: str, values: list) -> str:
        """A keyword-only parameter of this class for what its instances pass a nested block, where they pass
        different values that no parameter gives (`squeeze`): the callers pass it, one value each."""
        while name in self.params or name in _RESERVED or name in self.lifted:
            name += "_"
        self.lifted[name] = values
        for env, value in zip(self.envs, values, strict=True):
            env[name] = value  # the channels bookkeeping may read it
        return name

    def flags(self, s: Scope) -> tuple[bool, ...]:
        return self.em.class_of[s.id].flags(self.em.structures[s.id])

    def opaque(self, step: Step, module: Call) -> Piece:
        path, name = step.name, step.name[-1]
        self.paths[path] = path
        item = Item(
            path, (self.paths[step.inputs[0]],), "{m}({0})", module, opaque=True, fresh=self.fresh(path),
            hint=None if _INDEX.fullmatch(name) else name,
        )  # fmt: skip
        return Piece(name, path, step.inputs, module, item)

    def each(self, path: tuple[str, ...], f):
        """f(instance) in every instance that has the step at `path`: the one value they all have."""
        return self.same([f(st) if path in st.at else _ABSENT for st in self.members])

    def fresh(self, path: tuple[str, ...], of_input: bool = False) -> bool:
        """Is the value of the step at `path` a fresh tensor (see _FRESH)? `of_input`: is the value the layer
        there reads one, which nothing else reads, so that the layer may overwrite it?"""

        def fresh(st: _Structure) -> bool:
            value = st.at[path].inputs[0] if of_input else st.value[path]
            op = self.net.nodes[value].op
            fresh = op.kind in _FRESH and getattr(op, "activation", None) is None and value != st.value[()]
            return fresh and (not of_input or self.em.consumers[value] == 1)

        return self.each(path, fresh)

    # --- layers --------------------------------------------------------------------------------------------

    def layer(self, p: _Position) -> Piece:
        path = p.step.name
        name = path[-1]
        module, call, functional, comment = self.handler(p.node)(p)
        labelled = not _INDEX.fullmatch(name)
        fields = dict(fresh=self.fresh(path), hint=name if labelled else None, comment=comment)
        # forward sees no constructor parameters: a layer whose arguments use them is a module, made in __init__
        functional = functional or call
        inputs = tuple(self.paths[i] for i in p.step.inputs)
        if module is not None and (type(p.op).trainable or labelled or _names(_parse_call(functional)) & self.params):
            item = Item(path, inputs, call, module, **fields)
            used = _names(ast.parse(flat(module), mode="eval").body) | _names(_parse_call(call))
        else:
            merge = p.op.kind if p.op.kind in ops.MERGES else None
            item = Item(path, inputs, functional, merge=merge, **fields)
            used = _names(_parse_call(functional))
        self.helpers |= used & _HELPERS.keys()  # the runtime definitions it calls: the file carries them
        self.paths[path] = path
        self.channels[path] = self.out_channels(p)
        return Piece(name, path, p.step.inputs, module if call == "{m}({0})" else None, item)

    def out_channels(self, p: _Position) -> str | None:
        """The channels of a layer's output as an expression of the parameters, if one gives them."""
        kind, path, inputs = p.op.kind, p.step.name, p.step.inputs
        if kind in ("conv", "conv_transpose", "dense"):
            attr = "units" if kind == "dense" else "filters"
            return p.args.expression(p.node.exprs.get(attr), p.values(attr))
        if kind in ("chunk", "concat", "flatten", "multiply"):
            texts = [self.channel(i, required=False) for i in inputs]
            trees = [ast.parse(t, mode="eval").body for t in texts if t is not None]
            if len(trees) < len(texts):
                return None
            if kind == "chunk":
                tree = ast.BinOp(trees[0], ast.FloorDiv(), ast.Constant(p.get("chunks")))
            elif kind == "concat":
                tree = arith.sum_of(trees)
            elif kind == "flatten":
                size = p.each(lambda n, x: math.prod(x.shape[1:]))
                tree = ast.BinOp(trees[0], ast.Mult(), ast.Constant(size)) if size > 1 else trees[0]
            else:  # the channels of an input that has them all (a gate's may be 1)
                c = p.node.shape[0]
                tree = next(t for t, i in zip(trees, p.node.inputs) if self.net.nodes[i].shape[0] == c)
            return self.checked(tree, path)
        return self.channels.get(inputs[0])

    # --- layers by kind: (module constructor, forward with the module as {m}, forward without one, comment) ---

    def input(self, p: _Position):
        return None, "{0}", None, None  # never called: the input is forward's `x`, not a child of a scope

    def maxpool(self, p: _Position):
        return self.pool(p, "Max")

    def avgpool(self, p: _Position):
        return self.pool(p, "Avg")

    def global_avgpool(self, p: _Position):
        return self.adaptive("Avg", "(1, 1)")

    def global_maxpool(self, p: _Position):
        return self.adaptive("Max", "(1, 1)")

    def adaptive_avgpool(self, p: _Position):
        return self.adaptive("Avg", p.arg("output_size"))

    def adaptive(self, which: str, size: str):
        functional = f"F.adaptive_{which.lower()}_pool2d({{0}}, {size})"
        return Call(f"nn.Adaptive{which}Pool2d(", (size,)), "{m}({0})", functional, None

    def upsample(self, p: _Position):
        mode = p.get("mode")
        if mode == "zeros":  # no module: the call in forward takes the value, not an expression
            call = f"upsample_zeros({{0}}, {pair(p.get('scale'))})"
            return None, call, call, None
        args = [f"scale_factor={p.arg('scale', literal=pair)}", f"mode={literal(mode)}"]
        if mode == "bilinear":
            args.append(f"align_corners={p.arg('align_corners')}")
        return Call("nn.Upsample(", tuple(args)), "{m}({0})", f"F.interpolate({{0}}, {', '.join(args)})", None

    def batchnorm(self, p: _Position):
        args = [p.channels(), *self.keywords(p, ("eps", "momentum"), (1e-5, 0.1))]
        dims = "2d" if p.each(lambda n, x: len(n.shape)) == 3 else "1d"
        return Call(f"nn.BatchNorm{dims}(", tuple(args)), "{m}({0})", None, None

    def lrn(self, p: _Position):
        args = [p.arg("size"), *self.keywords(p, ("alpha", "beta", "k"), (1e-4, 0.75, 1.0))]
        functional = f"F.local_response_norm({{0}}, {', '.join(args)})"
        return Call("nn.LocalResponseNorm(", tuple(args)), "{m}({0})", functional, None

    def dropout(self, p: _Position):
        rate = p.arg("rate")
        functional = f"F.dropout({{0}}, p={rate}, training=self.training)"
        return Call("nn.Dropout(", (f"p={rate}",)), "{m}({0})", functional, None

    def flatten(self, p: _Position):
        return Call("nn.Flatten("), "{m}({0})", "torch.flatten({0}, 1)", None

    def dense(self, p: _Position):
        args = [p.channels(), p.arg("units"), *self.keywords(p, ("use_bias",), (True,), ("bias",))]
        return self.activated(p, Call("nn.Linear(", tuple(args)), "{m}({0})")

    def activation(self, p: _Position):
        function = p.get("function")
        alpha = p.arg("alpha") if p.each(lambda n, x: n.op.alpha is not None) else None
        module, call = (text.format(x="{0}", alpha=alpha) for text in self.ACTIVATIONS[function])
        if function == "relu" and self.fresh(p.step.name, of_input=True):
            module, call = "nn.ReLU(inplace=True)", "F.relu({0}, inplace=True)"
        head, _, rest = module.partition("(")
        return Call(head + "(", (rest[:-1],) if rest[:-1] else ()), "{m}({0})", call, None

    def concat(self, p: _Position):
        return None, "torch.cat([" + ", ".join(f"{{{i}}}" for i in range(len(p.step.inputs))) + "], 1)", None, None

    def add(self, p: _Position):
        return None, " + ".join(f"{{{i}}}" for i in range(len(p.step.inputs))), None, None

    def multiply(self, p: _Position):  # broadcasts: a gate of C x 1 x 1 scales a map of C x H x W
        return None, " * ".join(f"{{{i}}}" for i in range(len(p.step.inputs))), None, None

    # chunk and channel_shuffle are calls in forward, which sees no constructor parameters: their values, then.
    def chunk(self, p: _Position):
        return None, f"{{0}}.chunk({p.get('chunks')}, dim=1)[{p.get('index')}]", None, None

    def channel_shuffle(self, p: _Position):
        return None, f"channel_shuffle({{0}}, {p.get('groups')})", None, None

    def stochastic_depth(self, p: _Position):  # torchvision.ops': the identity in eval mode
        args = (p.arg("p"), literal(p.get("mode")))
        functional = f"stochastic_depth({{0}}, {', '.join(args)}, self.training)"
        return Call("StochasticDepth(", args), "{m}({0})", functional, None

    def keywords(self, p: _Position, attrs, defaults, keywords=None) -> list[str]:
        """`attr=value` for the attributes that differ from torch's defaults (or are written as expressions)."""
        out = []
        for attr, default, keyword_ in zip(attrs, defaults, keywords or attrs, strict=True):
            text = p.arg(attr, default)
            if text is not None:
                out.append(f"{keyword_}={text}")
        return out

    def activated(self, p: _Position, module: Call, call: str, comment=None):
        activation = p.get("activation")
        if activation is not None:  # `activation=` takes a name: leaky_relu and elu keep their defaults
            alpha = {"leaky_relu": 0.01, "elu": 1.0}.get(activation)
            call = self.ACTIVATIONS[activation][1].format(x=call, alpha=alpha)
        return module, call, None, comment

    def geometry(self, p: _Position, kernel_attr: str) -> list[str]:
        """The channels-independent arguments of a convolution: kernel_size, stride."""
        args = [f"kernel_size={p.arg(kernel_attr, literal=pair)}"]
        stride = p.arg("strides", (1, 1), pair)
        return args + ([f"stride={stride}"] if stride is not None else [])

    def conv(self, p: _Position):
        args = [p.channels(), p.arg("filters"), *self.geometry(p, "kernel_size")]
        fixed = p.each(lambda n, x: n.op.weights is not None)
        if fixed:  # the kernel's size is the matrix's
            args[2] = self.fixed_kernel(p)
        call, comment = "{m}({0})", None
        if p.each(lambda n, x: n.op.padding == "same"):
            padding, inner, comment = self.same_padding(p, "kernel_size")
            args += [padding] if padding else []
            call = "{m}(" + inner + ")"
        else:
            padding = p.arg("padding", (0, 0), pair)
            args += [f"padding={padding}"] if padding is not None else []
        dilation = p.arg("dilation", (1, 1), pair)
        args += [f"dilation={dilation}"] if dilation is not None else []
        if fixed:
            args += self.keywords(p, ("groups",), (1,))
            return self.activated(p, Call("FixedConv2d(", tuple(args)), call, comment)
        args += self.keywords(p, ("groups", "use_bias"), (1, True), ("groups", "bias"))
        return self.activated(p, Call("nn.Conv2d(", tuple(args)), call, comment)

    def fixed_kernel(self, p: _Position) -> str:
        """The matrix of a fixed filter: a call for box and gaussian, else a constant of the module."""
        weights = p.get("weights")
        size = p.arg("kernel_size", literal=pair)
        if weights == "box":
            return f"box_kernel({size})"
        if weights == "gaussian":
            return f"gaussian_kernel({size}, {p.arg('sigma')})"
        if isinstance(weights, str):
            return self.em.constant(weights.upper(), ops.PRESETS[weights])
        name = p.node.name.split(".")[-1]
        return self.em.constant(f"{name.upper()}_KERNEL" if _IDENT.fullmatch(name) else "KERNEL", weights)

    def conv_transpose(self, p: _Position):
        args = [p.channels(), p.arg("filters"), *self.geometry(p, "kernel_size")]
        call, comment = "{m}({0})", None
        if p.each(lambda n, x: n.op.padding == "same"):
            # Keras' `same` (output = input x strides) is the transpose of a `same` convolution: crop the
            # full output as that convolution pads, the odd pixel last; extend it where the kernel is
            # shorter than the stride.
            padding, extra, crop = [], [], []
            for k, s, d in zip(p.get("kernel_size"), p.get("strides"), p.get("dilation"), strict=True):
                total = d * (k - 1) + 1 - s
                padding.append(max(total, 0) // 2)
                crop.append(max(total, 0) % 2)
                extra.append(max(-total, 0))
            args += [f"padding={pair(padding)}"] if any(padding) else []
            args += [f"output_padding={pair(extra)}"] if any(extra) else []
            if any(crop):
                call = "{m}({0})[:, :, " + ", ".join(":-1" if c else ":" for c in crop) + "]"
                comment = "`same`: TensorFlow crops the odd row and column at the bottom and right"
        else:
            for attr in ("padding", "output_padding"):
                text = p.arg(attr, (0, 0), pair)
                args += [f"{attr}={text}"] if text is not None else []
        args += self.keywords(p, ("groups", "use_bias"), (1, True), ("groups", "bias"))
        dilation = p.arg("dilation", (1, 1), pair)
        args += [f"dilation={dilation}"] if dilation is not None else []
        return self.activated(p, Call("nn.ConvTranspose2d(", tuple(args)), call, comment)

    def same_padding(self, p: _Position, kernel: str, value: str = "") -> tuple[str | None, str, str | None]:
        """`same` padding in PyTorch's terms: (the layer's padding argument or None, what the layer reads, a
        comment). Even padding is the layer's own; TensorFlow's odd pixel at the bottom and right needs F.pad;
        a split that depends on a size left open is made at run time."""

        def geometry(n: Node) -> tuple:  # kernel, strides, dilation (a pool's is 1)
            return getattr(n.op, kernel), n.op.strides, getattr(n.op, "dilation", (1, 1))

        pads = p.each(lambda n, x: same_pads(x.shape, *geometry(n)))
        if pads is None:
            sizes = ", ".join(map(literal, p.each(lambda n, x: geometry(n))))
            return None, f"pad_same({{0}}, {sizes}{value})", None
        if pads[0] == pads[1] and pads[2] == pads[3]:
            return (f"padding={pair((pads[0], pads[2]))}" if pads[0] or pads[2] else None), "{0}", None
        comment = "`same` padding: TensorFlow puts the odd pixel at the bottom and right"
        return None, f"F.pad({{0}}, {literal((pads[2], pads[3], pads[0], pads[1]))}{value})", comment

    # --- ConvNeXt: a map held channels-last, layer norm, layer scale ---

    def channels_last(self, p: _Position):
        self.helpers.add("Permute")
        return Call("Permute(", ("[0, 2, 3, 1]",)), "{m}({0})", "{0}.permute(0, 2, 3, 1)", None

    def channels_first(self, p: _Position):
        self.helpers.add("Permute")
        return Call("Permute(", ("[0, 3, 1, 2]",)), "{m}({0})", "{0}.permute(0, 3, 1, 2)", None

    def layernorm(self, p: _Position):
        args = (p.channels(), *self.keywords(p, ("eps",), (1e-5,)))
        if p.each(lambda n, x: len(n.shape) == 1 or n.id in self.net.held_last):  # the channels are the last axis
            return Call("nn.LayerNorm(", args), "{m}({0})", None, None
        self.helpers.add("LayerNorm2d")
        return Call("LayerNorm2d(", args), "{m}({0})", None, None

    def layer_scale(self, p: _Position):
        # torchvision's bare parameter (state_dict key `layer_scale`), C×1×1 to broadcast over N×C×H×W
        ones = ["1"] * (p.each(lambda n, x: len(n.shape)) - 1)
        size = "(" + ", ".join([p.channels(), *ones]) + ("" if ones else ",") + ")"
        return Call("nn.Parameter(", (f"torch.full({size}, {p.arg('init')})",)), "{0} * {m}", None, None

    def pool(self, p: _Position, which: str):
        size = p.arg("pool_size", literal=pair)
        args = [f"kernel_size={size}"]
        stride = p.args.expression(p.node.exprs.get("strides"), p.values("strides"))
        if stride is None and p.each(lambda n, x: n.op.strides != n.op.pool_size):  # torch's default: the size
            stride = pair(p.get("strides"))
        args += [f"stride={stride}"] if stride is not None else []
        inner, comment = "{0}", None
        if p.each(lambda n, x: n.op.padding == "same"):
            value = ', value=float("-inf")' if which == "Max" else ""  # padding never wins a max
            padding, inner, comment = self.same_padding(p, "pool_size", value)
            if inner != "{0}" and which == "Avg" and not p.get("count_include_pad"):  # padded pixels must not count
                call = f"avg_pool_same({{0}}, {literal(p.get('pool_size'))}, {literal(p.get('strides'))})"
                return None, call, call, None
            args += [padding] if padding else []
        else:
            padding = p.arg("padding", (0, 0), pair)
            args += [f"padding={padding}"] if padding is not None else []
            args += self.keywords(p, ("ceil_mode",), (False,))
        if which == "Avg":
            args += self.keywords(p, ("count_include_pad",), (True,))
        module = Call(f"nn.{which}Pool2d(", tuple(args))
        functional = f"F.{which.lower()}_pool2d({inner}, " + ", ".join([size, *args[1:]]) + ")"
        return module, "{m}(" + inner + ")", functional, comment


def _is_chain(pieces: list[Piece], start: tuple[str, ...], end: tuple[str, ...]) -> bool:
    """Does each piece read the one before (the first, the scope's input), and run as module(x)?"""
    value = start
    for p in pieces:
        if p.module is None or p.inputs != (value,):
            return False
        value = p.output
    return value == end


def _items(pieces: list[Piece]) -> list[Item]:
    """The steps of a forward pass, those of sequences that are not chains included."""
    items: list[Item] = []
    for p in pieces:
        if p.item is not None:
            items.append(p.item)
        elif p.children:
            inner = _items(list(p.children))
            if not _INDEX.fullmatch(p.name):  # the sequence's label names its output
                inner[-1] = replace(inner[-1], hint=p.name)
            items += inner
    return items


# --- classes as source ------------------------------------------------------------------------------------


def _render_class(name: str, doc: list[str], items, sequential: bool, outputs, g: Group | None = None) -> str:
    """The class of a block or the network; `outputs` are the paths of the items computing what it returns."""
    w = Writer()
    with w.block(f"class {name}({'nn.Sequential' if sequential else 'nn.Module'}):"):
        w.docstring(doc)
        w.blank()
        w.statement("", Call("def __init__(", ("self", *(_parameters(g) if g else [])), ") -> None:"))
        with w.indent():
            for p, default in g.signature.computed() if g else []:
                with w.block(f"if {p} is None:"):
                    w.line(f"{p} = {default}")
            if sequential and g and g.switch:
                _switched_layers(w, items, *g.switch)
                return w.text()
            if sequential:
                w.statement("", Call("super().__init__(", tuple(it.module for it in items), block=True))
                return w.text()
            optional = g.optional if g else {}
            tail = g.tail if g else None
            w.line("super().__init__()")
            if tail:
                w.line(f"self.{tail[0]} = {tail[0]}")
            _registrations(w, items, optional, tail)
        returns = "Tensor" if len(outputs) == 1 else f"tuple[{', '.join(['Tensor'] * len(outputs))}]"
        w.blank()
        with w.block(f"def forward(self, x: Tensor) -> {returns}:"):
            _forward(w, items, optional, outputs, tail)
    return w.text()


def _switched_layers(w: Writer, items: list[Item], parameter: str, table: dict[str, Call | None]) -> None:
    """The modules of an nn.Sequential whose last one the parameter chooses, as torchvision's
    Conv2dNormActivation appends its activation layer."""
    w.statement("layers: list[nn.Module] = ", Call("[", tuple(it.module for it in items), "]", block=True))
    cases = [(value, module) for value, module in table.items() if module is not None]
    for i, (value, module) in enumerate(cases):
        with w.block(f"{'el' if i else ''}if {parameter} == {literal(value)}:"):
            w.statement("layers.append(", module, ")")
    w.line("super().__init__(*layers)")


def _parameters(g: Group) -> list[str]:
    """The constructor's parameters, annotated with the types of the instances' values."""
    out = [f"{g.names.in_channels}: int"] if g.takes_in_channels else []
    flags = set(g.signature.flags)
    for p, default in g.signature.parameters():
        if p == "*" or p in flags:
            out.append(p if p == "*" else f"{p}: bool = False")
            continue
        annotation = _annotation(g.lifted.get(p) or [s.args[g.names.source[p]] for s in g.instances])
        out.append(f"{p}: {annotation}" + ("" if default is None else f"{' | None' * (default == 'None')} = {default}"))
    return out


def _annotation(values) -> str:
    types: list[str] = []
    for v in values:
        if isinstance(v, tuple):
            t = "tuple[" + ", ".join(_annotation([i]) for i in v) + "]"
        elif isinstance(v, str):  # a word (the compiler's Word)
            t = "str"
        else:
            t = type(v).__name__
        if t not in types:
            types.append(t)
    return "float" if set(types) == {"int", "float"} else " | ".join(types)


def _registrations(w: Writer, items: list[Item], optional: dict, tail: tuple[str, int] | None = None) -> None:
    """`self.conv1 = nn.Conv2d(...)` for each module; containers for the sequences that are not chains."""
    tree: dict = {}
    for it in items:
        if it.module is not None:
            level = tree
            for part in it.path[:-1]:
                level = level.setdefault(part, {})
            level[it.path[-1]] = it
    for name, value in tree.items():
        if isinstance(value, dict):
            _container(w, "self", name, value)
        elif tail and value in items[tail[1] :]:  # built only where forward runs it
            with w.block(f"if {tail[0]}:"):
                _register(w, "self", name, value.module)
        elif value.path in optional:
            _register(w, "self", name, "None", annotation=f"{value.module.type} | None")
            with w.block(f"if {optional[value.path]}:"):
                _register(w, "self", name, value.module)
        else:
            _register(w, "self", name, value.module)


def _unsafe(name: str) -> bool:
    return name in _MODULE_ATTRIBUTES


def _access(path: tuple[str, ...]) -> str:
    """How forward reaches a module: self.conv1, getattr(self, "0"), self._modules["eval"], self.seq["0"]."""
    head = path[0]
    if _unsafe(head):
        text = f'self._modules["{head}"]'
    elif not _attribute(head):
        text = f'getattr(self, "{head}")'
    else:
        text = f"self.{head}"
    return text + "".join(f'["{p}"]' for p in path[1:])


def _is_parameter(module) -> bool:
    """A layer scale: a bare nn.Parameter where the other layers are modules."""
    return isinstance(module, Call) and module.type == "nn.Parameter"


def _parameter_access(path: tuple[str, ...]) -> str:
    """How forward reaches a bare parameter: self.layer_scale, getattr(self, "3"), getattr(self.seq, "2")."""
    owner, name = _access(path[:-1]) if len(path) > 1 else "self", path[-1]
    if _unsafe(name):
        return f'{owner}._parameters["{name}"]'
    return f"{owner}.{name}" if owner == "self" and _attribute(name) else f'getattr({owner}, "{name}")'


def _register(w: Writer, owner: str, name: str, module, annotation: str | None = None) -> None:
    if _is_parameter(module) and _unsafe(name):  # register_parameter refuses the name of a method
        w.statement(f'{owner}._parameters["{name}"] = ', module)
    elif _is_parameter(module) and (not _attribute(name) or owner != "self"):
        w.statement(f'{owner}.register_parameter("{name}", ', module, ")")
    elif _unsafe(name):
        # A name nn.Module uses itself (forward, eval, to ...): stored as a child directly, so that its
        # state_dict keys stay and forward reaches it through _modules.
        w.statement(f'{owner}._modules["{name}"] = ', module)
    elif not _attribute(name):  # a position (an unlabelled layer) or a quoted label: the name as it is
        w.statement(f'{owner}.add_module("{name}", ', module, ")")
    else:
        w.statement(f"{owner}.{name}" + (f": {annotation}" if annotation else "") + " = ", module)


def _container(w: Writer, owner: str, name: str, tree: dict) -> None:
    """An nn.ModuleDict holding the modules of a sequence whose steps run in the class's forward (its bare
    parameters registered on it after)."""
    parameters = {k: v for k, v in tree.items() if isinstance(v, Item) and _is_parameter(v.module)}
    if parameters:
        tree = {k: v for k, v in tree.items() if k not in parameters}
        inner = _access((name,)) if owner == "self" else f'{owner}["{name}"]'
        _container(w, owner, name, tree)
        for k, v in parameters.items():
            _register(w, inner, k, v.module)
        return
    if not _has_unsafe(tree):
        _register(w, owner, name, _module_dict(tree))
        return
    # nn.ModuleDict refuses these keys: store each entry directly.
    _register(w, owner, name, "nn.ModuleDict()")
    inner = _access((name,)) if owner == "self" else f'{owner}["{name}"]'
    for k, v in tree.items():
        if isinstance(v, dict):
            _container(w, inner, k, v)
        else:
            w.statement(f'{inner}._modules["{k}"] = ', v.module)


def _has_unsafe(tree: dict) -> bool:
    return any(_unsafe(k) or (isinstance(v, dict) and _has_unsafe(v)) for k, v in tree.items())


def _module_dict(tree: dict) -> Call:
    entries = (Entry(f'"{k}": ', v.module if isinstance(v, Item) else _module_dict(v)) for k, v in tree.items())
    return Call("nn.ModuleDict(", (Call("{", tuple(entries), "}", block=True),), ")", block=True, sole=True)


def _forward(
    w: Writer, items: list[Item], optional: dict, outputs: tuple[tuple[str, ...], ...], tail: tuple[str, int] | None
) -> None:
    """The body of forward: a straight line of assignments, with blank lines between stages. It returns the
    first output, or a tuple of them all."""
    output, extra = outputs[0], outputs[1:]
    end = last_reads((it.path, it.inputs) for it in items)  # index of the last step that reads each value
    end.update(dict.fromkeys(outputs, len(items)))
    # The value an extra output branches from stays on the main line (`aux1 = self.aux1(x)`, then `x = ...`).
    readers = Counter(p for it in items if it.path not in extra for p in it.inputs) + Counter(outputs)
    # A label may name a variable after a runtime definition this forward does not call (`stochastic_depth`).
    calls = set().union(*(_names(_parse_call(it.call)) for it in items if it.call))
    taken = (_RESERVED - _HELPERS.keys()) | (calls & _HELPERS.keys())
    merged_in = {p for it in items if it.merge for p in it.inputs[1:]}  # added or concatenated to another value
    to_merges = {p for it in items if it.merge for p in it.inputs}
    aliased = {it.inputs[0] for it in items if it.path in optional}  # `identity = x` where the step is skipped
    fresh = {it.path: it.fresh for it in items}
    var = {(): "x"}
    live = Counter({"x": 1}) if () in end else Counter()  # variable -> values it holds that are still to be read
    running = {"x"}  # variables that carry the main line: reused once their value is dead
    stages = ["optional" if it.path in optional else "scope" if it.opaque else "layer" for it in items]
    i = 0
    while i < len(stages):  # one or two layers between blocks (a pool; an upsampling and a concat) join them
        j = i
        while j < len(stages) and stages[j] == "layer":
            j += 1
        if j - i in (1, 2) and 0 < i and j < len(stages) and stages[i - 1] == stages[j] == "scope":
            stages[i:j] = ["scope"] * (j - i)
        i = j + 1
    stage = None
    for index, it in enumerate(items):
        if tail and index == tail[1]:  # the instances without the closing steps return here
            with w.block(f"if not self.{tail[0]}:"):
                w.line(f"return {var[items[index - 1].path]}")
            w.blank()
            stage = None
        args = [var[p] for p in it.inputs]
        for p in dict.fromkeys(it.inputs):
            live[var[p]] -= end[p] == index
        m = _parameter_access(it.path) if _is_parameter(it.module) else _access(it.path)
        kind = stages[index]
        if stage is not None and (kind != stage or kind == "optional"):
            w.blank()
        stage = kind
        if it.comment:
            w.line(f"# {it.comment}")
        if it.path in optional:
            name = _variable("identity", live)
            w.line(f"{name} = {args[0]}")
            with w.block(f"if {m} is not None:"):
                w.line(f"{name} = {m}({args[0]})")
            var[it.path] = name
            live[name] += end[it.path] > index
            continue
        expr = it.call.format(*args, m=m)
        if it.path == output and index == len(items) - 1 and it.module is None:
            w.line("return " + ", ".join([expr, *(var[p] for p in extra)]))
            return
        first = it.inputs[0] if it.inputs else None
        if readers[it.path] > 1 or it.path in merged_in:  # kept for later
            name = _variable(it.hint, live, taken) if it.hint else _running(live, running)
        elif first is not None and end[first] == index and var[first] in running:
            name = var[first]
        elif it.hint and (it.opaque or it.path in to_merges or it.path in extra):  # a branch, an extra output
            name = _variable(it.hint, live, taken)
        else:
            name = _running(live, running)
        inplace = (  # `out += identity` on a fresh tensor nothing else refers to
            it.merge == "add" and len(args) == 2 and name == args[0] and fresh.get(first)
            and first not in aliased and first not in optional
        )  # fmt: skip
        w.line(f"{name} += {args[1]}" if inplace else f"{name} = {expr}")
        var[it.path] = name
        live[name] += end[it.path] > index
    w.line("return " + ", ".join(var[p] for p in outputs))


def _variable(hint: str, live: Counter, taken=None) -> str:
    """A variable for a value: `hint`, unless a value still to be read holds it; a label (with the names the
    code uses as `taken`) gets a `_` where it would hide one of them."""
    hint = hint.replace("-", "_")  # a quoted label's value: block1-0 is block1_0
    hint = f"x{hint}" if hint[:1].isdigit() else hint  # and 3_bn (keras.applications') is x3_bn
    base = hint + "_" if taken and hint in taken else hint
    name, k = base, 1
    while live[name] > 0:
        k += 1
        name = f"{base}{k}"
    return name


def _running(live: Counter, running: set[str]) -> str:
    name = next((n for n in ("x", "out") if live[n] <= 0), None) or _variable("out", live)
    running.add(name)
    return name


def _ident(name, what: str) -> str:
    if not isinstance(name, str) or not _IDENT.fullmatch(name) or keyword.iskeyword(name):
        raise ValueError(f"{name!r} is not a valid {what}")
    return name
