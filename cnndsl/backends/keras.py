"""The Keras 3 backend: the IR as functional-API source, written the way keras.applications writes its models.

`emit(net)` returns a Python module with one function per block definition, shaped like keras.applications'
`residual_block_v1` (`def basic(x, channels, stride=1, downsample=False, name=None)`), layer names taken from
the .cnn labels (`layer2.0.conv1` becomes `layer2_0_conv1`) and `build() -> keras.Model`. `to_keras(net)`
executes that source, so the file and the model in memory are the same model by construction.

Keras is channels-last: a (C, H, W) node is an (H, W, C) tensor here. Where the frameworks differ the
semantics are PyTorch's (batch norm momentum, LRN, count_include_pad, ceil_mode, align_corners); what Keras
lacks comes as a small custom layer, written into the module only when the network needs it.

A block function is written from the block's instances in the network: an argument written with the block's
parameters (`strides=stride`) stays an expression wherever it reproduces every instance's value, a residual
projection that only some instances have becomes a flag, a closing activation that a word parameter chooses
is written under `if act == "relu":`, and instances that still differ get functions of their own (`basic_2`).
"""

from __future__ import annotations

import ast
import builtins
import keyword
import linecache
from bisect import bisect_right, insort
from collections import Counter
from dataclasses import dataclass, replace
from functools import cached_property

from .. import expr, ops
from ..dispatch import Dispatcher
from ..errors import CnnDslError
from ..ir import Network, Node, Scope, check_names
from ..util import without_gc
from . import arith
from .base import block_definitions, code_owners, literal, matrix, needed, pair, quote, runtime, same_pads
from .blocks import Arguments, Differs, Signature, Step, closing, flag_name, last_reads, share, switch, template
from .writer import Call, Chain, Writer

# Custom layers and helpers, copied into the module where the network needs them: cnndsl/runtime/keras_layers.py
_LIBRARY = runtime("kernels", "keras_layers")
_RESERVED = {"keras", "layers", "math", "build", "name", "x", "inputs"}  # names the generated code uses itself
_RESERVED |= set(dir(builtins))  # a block named `super` or `int` must not hide what the helper classes call

# Keras activation names with PyTorch's semantics (Keras' gelu is exact by default, as torch's is; its
# hard_sigmoid is relu6(x + 3) / 6 as torch's). leaky_relu has none: Keras' default slope is 0.2, PyTorch's 0.01.
_ACTIVATIONS = {
    "relu": "relu", "elu": "elu", "gelu": "gelu", "silu": "silu", "sigmoid": "sigmoid", "tanh": "tanh",
    "softmax": "softmax", "relu6": "relu6", "hardswish": "hard_swish", "hardsigmoid": "hard_sigmoid",
    "leaky_relu": None,
}  # fmt: skip
_NONNEGATIVE = {"relu", "relu6", "sigmoid", "softmax", "hardsigmoid"}
# Ops whose output is non-negative when every input is.
_KEEPS_SIGN = {
    "maxpool", "avgpool", "global_avgpool", "global_maxpool", "adaptive_avgpool", "upsample", "dropout",
    "flatten", "concat", "add", "multiply", "chunk", "channel_shuffle", "stochastic_depth",
}  # fmt: skip
# Ops a flattened vector may pass through on its way to a dense layer without its order mattering.
_ELEMENTWISE = {"dropout", "activation", "batchnorm", "layernorm", "layer_scale"}


def keras_names(net: Network) -> tuple[list[str], list[str]]:
    """The Keras layer name of each IR node, and the `name=` prefix of each scope, by id.

    A label stays (`layer2.0.conv1` -> `layer2_0_conv1`), and so does a position inside a sequence (`features_0`,
    as torchvision numbers its modules). An unlabelled statement of a block or of the network is named for what
    it is, as keras.applications names its layers: `layer1_0_add`, `layer1_0_out` (a block's closing
    activation), `flatten`, or `relu_2` where the word alone would be ambiguous. The input layer is `input`,
    unless a label takes that name.
    """
    scopes = net.scopes
    # scope -> its children as (key, IR name, what it is); a key is ("node" | "scope", id)
    children: dict[int, list[tuple[tuple[str, int], str, str]]] = {}
    for s in scopes[1:]:
        children.setdefault(s.parent, []).append((("scope", s.id), s.name, s.block or "sequence"))
    for n in net.nodes[1:]:
        op, scope = n.op, scopes[n.scope]
        if op.kind == "activation":
            word = "out" if scope.kind == "block" and n.id == scope.output else op.function
        else:
            word = {"batchnorm": "bn"}.get(op.kind, op.kind)
        children.setdefault(n.scope, []).append((("node", n.id), n.name, word))
    local: dict[tuple[str, int], str] = {}
    for sid, entries in children.items():
        prefix = scopes[sid].name + "." if scopes[sid].name else ""
        for key, name, _ in entries:
            local[key] = name[len(prefix) :]
            if not name.startswith(prefix) or "." in local[key]:  # an IR built or doctored by hand
                raise ValueError(f"{name!r} is not a name inside {scopes[sid].name!r}")
        if scopes[sid].kind == "sequence":
            continue
        unlabelled = sorted((int(local[key]), key, word) for key, _, word in entries if local[key].isdigit())
        used = {local[key] for key, _, _ in entries if not local[key].isdigit()}
        count = Counter(word for _, _, word in unlabelled)
        seen: Counter = Counter()
        for _, key, word in unlabelled:
            seen[word] += 1
            candidate, k = (word, seen[word]) if count[word] == 1 else (f"{word}_{seen[word]}", seen[word])
            while candidate in used:
                k += 1
                candidate = f"{word}_{k}"
            used.add(candidate)
            local[key] = candidate
    top = {local[key] for key, _, _ in children.get(0, [])}
    local["node", 0] = _unique("input", top)  # `input: relu()` keeps its label; the input layer gives way
    scope_names = [""]
    for s in scopes[1:]:
        parent = scope_names[s.parent]
        scope_names.append(f"{parent}_{local['scope', s.id]}" if parent else local["scope", s.id])
    node_names = []
    for n in net.nodes:
        parent = scope_names[n.scope]
        node_names.append(f"{parent}_{local['node', n.id]}" if parent else local["node", n.id])
    return node_names, scope_names


@without_gc
def emit(net: Network) -> str:
    """Keras 3 source for `net`: block functions and `build() -> keras.Model`."""
    return _Module(net).source()


def to_keras(net: Network):
    """Build `net` as a keras.Model, by executing the source `emit` writes."""
    source = emit(net)
    filename = f"<cnndsl-keras {net.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)  # tracebacks
    namespace: dict = {"__name__": f"cnndsl_{net.name}"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["build"]()


def channels_last_flattens(net: Network) -> set[int]:
    """The flatten nodes whose Keras output keeps Keras' H·W·C order: those only dense layers read (through
    element-wise ops), whose weights can absorb the order. The others are written channels-first, to give
    PyTorch's C·H·W vector."""
    consumers = _consumers(net)
    out = set()
    for node in net.nodes:
        if node.op.kind != "flatten":
            continue
        shape = net.nodes[node.inputs[0]].shape
        if len(shape) != 3 or shape[1] * shape[2] == 1 or _only_dense_reads(net, consumers, node.id):
            out.add(node.id)
    return out


def is_depthwise(net: Network, node: Node) -> bool:
    """A convolution with one group per input channel, written as DepthwiseConv2D."""
    return node.op.kind == "conv" and 1 < node.op.groups == net.nodes[node.inputs[0]].shape[0]


def _consumers(net: Network) -> list[list[int]]:
    consumers: list[list[int]] = [[] for _ in net.nodes]
    for node in net.nodes:
        for i in node.inputs:
            consumers[i].append(node.id)
    return consumers


def _only_dense_reads(net: Network, consumers, node_id: int) -> bool:
    if node_id == net.output:
        return False
    for c in consumers[node_id]:
        kind = net.nodes[c].op.kind
        if kind in _ELEMENTWISE:
            if not _only_dense_reads(net, consumers, c):
                return False
        elif kind != "dense":
            return False
    return True


# --- Python source ----------------------------------------------------------------------------------------


def _pads(pads) -> str:
    """ZeroPadding2D/Cropping2D's argument for (top, bottom, left, right)."""
    t, b, le, r = pads
    if t == b and le == r:
        return pair((t, le))
    return f"(({t}, {b}), ({le}, {r}))"


def _variable(label: str, fallback: str) -> str:
    """A Python name for a value labelled `label`: a quoted label's `-` becomes `_` (`block1-0` ->
    `block1_0`), one starting with a digit gets an `x` (`3_bn` -> `x3_bn`), a keyword a trailing `_`; an index
    is no name, and gives `fallback`."""
    if not label or label.isdigit():
        return fallback
    name = label.replace("-", "_")
    name = f"x{name}" if name[0].isdigit() else name
    return f"{name}_" if keyword.iskeyword(name) else name


def _unique(base: str, taken) -> str:
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


@dataclass
class _Stmt:
    """`out = callee(args)(operand)`, or `out = callee(args)` without an operand."""

    out: str
    callee: str
    args: list[str]
    operand: str | list[str] | None = None  # a list: the inputs of a merge

    def write(self, w: Writer) -> None:
        call = Call(f"{self.callee}(", tuple(self.args), hug=True)
        if self.operand is not None:
            operand = self.operand if isinstance(self.operand, str) else Call("[", tuple(self.operand), "]")
            call = Chain(call, operand)
        w.statement(f"{self.out} = ", call)


@dataclass
class _Line:
    """A statement that builds no layer: `shortcut = x`, `pad = (kernel - 1) // 2`."""

    text: str

    def write(self, w: Writer) -> None:
        w.line(self.text)


@dataclass
class _If:
    """Statements that only the instances where `condition` holds run."""

    condition: str
    body: list

    def write(self, w: Writer) -> None:
        with w.block(f"if {self.condition}:"):
            for stmt in self.body:
                stmt.write(w)


# --- what one function is made of -------------------------------------------------------------------------


@dataclass(eq=False)
class _Item:
    """A statement of a function: a layer, or a call of a nested block's function."""

    rel: str  # name relative to the function's scope: "conv1", "downsample.0", "branch2"
    value: int  # the node id of its output
    inputs: tuple[int, ...]
    node: Node | None = None
    call: Scope | None = None


class _Body:
    """The items of one block instance (or of the network), and its residual projections."""

    def __init__(self, module: _Module, scope: Scope):
        self.module = module
        self.scope = scope
        self.items = module.items[scope.id]
        self.by_rel = {i.rel: i for i in self.items}
        self.by_value = {i.value: i for i in self.items}
        self.consumers: dict[int, list[_Item]] = {}
        self.nested: dict[str, list[_Item]] = {}  # relative name of a sequence -> the items inside it
        for item in self.items:
            for v in item.inputs:
                self.consumers.setdefault(v, []).append(item)
            parts = item.rel.split(".")
            for i in range(1, len(parts)):
                self.nested.setdefault(".".join(parts[:i]), []).append(item)
        # add rel -> the items of its shortcut's projection, and the shortcut's name
        self.projections: dict[str, list[_Item]] = {}
        self.shortcut_names: dict[str, str] = {}
        for item in self.items:
            if item.node is None or item.node.op.kind != "add" or len(item.inputs) != 2:
                continue
            shortcut = self.branch(item, item.inputs[1])
            if shortcut and shortcut[2] and module.sequences.get((item.inputs[1], item.node.scope)):
                main = self.branch(item, item.inputs[0])
                if not (main and main[2] and main[0] == shortcut[0]):  # else two branches: `add { a; {b} }`
                    self.projections[item.rel] = shortcut[2]
                    self.shortcut_names[item.rel] = shortcut[1]
        self.projected = {i.rel for inner in self.projections.values() for i in inner}
        self.main = [i for i in self.items if i.rel not in self.projected]
        # The closing steps other instances may skip: a closing activation, or an identity shortcut's add.
        readers = {rel: len(self.consumers.get(self.by_rel[rel].value, [])) for rel in self.by_rel}
        output = self.ref(self.scope.output) if scope.kind == "block" and self.scope.output in self.by_value else None
        _, self.steps = closing(self._steps(), output, "", readers.get, projection=False)
        ends = [self.by_rel[s.name] for s in self.steps if s.optional and s.name not in self.projected]
        self.activation = ends[0] if ends and ends[0].node and ends[0].node.op.kind == "activation" else None
        self.residual = [] if self.activation else [i.rel for i in ends]

    def branch(self, merge: _Item, value: int) -> tuple[int, str, list[_Item]] | None:
        """An input of a merge as a branch: (the value it starts from, its name, its items). A statement
        of its own that only the merge reads is a branch; any other value is one without items, from itself."""
        seq = self.module.sequences.get((value, merge.node.scope))
        if seq is not None and seq.input is not None:
            name = self.module.rel(self.scope, seq.name)
            inner = self.nested.get(name, [])
            if not inner:  # an empty sequence: the identity
                return value, "", []
            if self.fresh(inner, merge) and self.reads_only(inner, seq.input):
                return seq.input, name, inner
            return None
        item = self.by_value.get(value)
        if item is None:
            return None
        parent = item.node.scope if item.node is not None else item.call.parent
        if parent == merge.node.scope and len(item.inputs) == 1 and self.fresh([item], merge):
            return item.inputs[0], item.rel, [item]
        return value, "", []

    def fresh(self, inner: list[_Item], merge: _Item) -> bool:
        """Only `inner` reads the values of `inner`, but for one, which only `merge` reads."""
        values = {i.value for i in inner}
        outputs = [i for i in inner if any(c.value not in values for c in self.consumers.get(i.value, []))]
        return self.scope.output not in values and len(outputs) == 1 and self.consumers[outputs[0].value] == [merge]

    def reads_only(self, inner: list[_Item], fork: int) -> bool:
        values = {i.value for i in inner}
        return all(v in values or v == fork for i in inner for v in i.inputs)

    def ref(self, value: int) -> str:
        """A value by its item's relative name ("" for the function's input), the same in every instance."""
        return "" if value == self.scope.input else self.by_value[value].rel

    def shortcut_fork(self, add: _Item) -> str:
        """What the second input of an add starts from: the projection's input, or the input itself."""
        if add.rel in self.projections:
            return self.ref(self.projections[add.rel][0].inputs[0])
        return self.ref(add.inputs[1])

    def _steps(self) -> list[Step]:
        """The steps that decide which instances share a function: a projection's may be optional
        (`downsample=True`), and the closing ones (`residual=True`, `if act == "relu":`)."""
        steps = []
        for i in self.items:
            what = i.node.op.kind if i.node else ("call", i.call.block)
            steps.append(Step(i.rel, what, tuple(map(self.ref, i.inputs)), i.rel in self.projected))
        return steps


@dataclass(eq=False)
class _Slot:
    """A statement of a function's template: the items of every instance at one relative name."""

    rel: str
    inputs: tuple[str, ...]  # refs (relative names, "" for the function input)
    items: list[_Item | None]  # per instance; None where the instance lacks it (an optional projection)
    flag: str | None = None  # the parameter that turns an optional projection on


@dataclass(eq=False)
class _Function:
    definition: str | None  # None for build()
    bodies: list[_Body]
    signature: Signature
    flags: dict[str, str]  # add rel -> flag of its optional projection; first residual step -> `residual`
    lines: list[str]
    layer_suffixes: dict[str, list[str]]  # rel -> names of the layers written for it, after the prefix
    lifted: dict[str, list]  # lifted parameter -> its value for each of the bodies
    name: str = ""

    def lifted_value(self, call: Scope, py: str):
        """What a call of this instance passes the lifted parameter `py`."""
        return self.lifted[py][next(i for i, b in enumerate(self.bodies) if b.scope.id == call.id)]

    @property
    def params(self) -> dict[str, str]:
        return self.signature.names

    def switches(self, body: _Body) -> dict[str, bool]:
        """Which of the flags a call of this instance turns on: the projection of an add it has, the closing
        residual steps it runs."""
        return {rel: rel in body.projections or rel in body.residual and rel in body.by_rel for rel in self.flags}

    def header(self) -> list[str]:
        """`x, channels, stride=1, downsample=False, name=None`."""
        parameters = [py if default is None else f"{py}={default}" for py, default in self.signature.parameters()]
        return ["x", *parameters, "name=None"]

    def prologue(self) -> list[str]:
        w = Writer()
        with w.indent():
            for py, default in self.signature.computed():
                with w.block(f"if {py} is None:"):
                    w.line(f"{py} = {default}")
        return w.lines


# --- the module -----------------------------------------------------------------------------------------------


class _Module:
    """A network as a Python module: the functions of its blocks (each shared by the instances whose code is
    the same), custom layers where Keras lacks an op, and build()."""

    def __init__(self, net: Network):
        check_names(net)  # every name reaches the source: an IR built without validation is checked here
        self.net = net
        self.flatten_last = channels_last_flattens(net)
        self.layer_names, self.prefixes = keras_names(net)
        self.nonnegative = self._nonnegative()
        scopes = net.scopes
        owner = code_owners(net)  # scope -> the block (or network) scope whose function writes its nodes
        self.sequences = {(s.output, s.parent): s for s in scopes if s.kind == "sequence"}
        self.scope_by_name = {s.name: s for s in scopes}
        self.items: dict[int, list[_Item]] = {s.id: [] for s in scopes if s.kind != "sequence"}
        for node in net.nodes:
            f = scopes[owner[node.scope]]
            rel = "" if node.id == 0 else self.rel(f, node.name)  # the input: a ref no label can take (`input:`)
            self.items[f.id].append(_Item(rel, node.id, node.inputs, node=node))
        for s in scopes:
            if s.kind == "block" and self._inside(s.output, s.id):  # an empty block is the identity
                f = scopes[owner[s.parent]]
                self.items[f.id].append(_Item(self.rel(f, s.name), s.output, (s.input,), call=s))
        for items in self.items.values():
            items.sort(key=lambda i: i.value)
        self.classes: set[str] = set()  # custom layers the network needs
        self.function_of: dict[int, tuple[_Function, dict[str, bool]]] = {}  # block scope -> function, flags
        self.functions: list[_Function] = []
        self.constants: dict[str, str] = {}  # the literal of a fixed filter's matrix -> its name in the module

    @staticmethod
    def rel(f: Scope, name: str) -> str:
        return name[len(f.name) + 1 :] if f.name else name

    def _inside(self, node_id, scope_id: int) -> bool:
        if node_id is None:
            return False
        s: int | None = self.net.nodes[node_id].scope
        while s is not None:
            if s == scope_id:
                return True
            s = self.net.scopes[s].parent
        return False

    def _nonnegative(self) -> list[bool]:
        out = []
        for node in self.net.nodes:
            op = node.op
            if op.kind == "activation":
                out.append(op.function in _NONNEGATIVE)
            elif op.kind in ("conv", "conv_transpose", "dense"):
                out.append(op.activation in _NONNEGATIVE)
            else:
                out.append(op.kind in _KEEPS_SIGN and all(out[i] for i in node.inputs))
        return out

    # --- functions -------------------------------------------------------------------------------------------

    def source(self) -> str:
        for definition in block_definitions(self.net):
            self._write_definition(definition)
        self._network = self._write(None, [_Body(self, self.net.scopes[0])])
        self._check_names()
        library = needed(_LIBRARY, self.classes)
        w = Writer()
        w.line(f"# Generated by cnndsl from {self.net.source!r} (network {self.net.name}): Keras 3 functional API,")
        w.line("# channels-last. Do not edit; change the .cnn file and compile again.")
        if any(d.name == "gaussian_kernel" for d in library):
            w.line("import math")
            w.blank()
        w.line("import keras")
        w.line("from keras import layers")
        if self.constants:
            w.blank()
            for text, name in self.constants.items():
                w.line(f"{name} = {text}")
        for definition in library:
            w.blank(2)
            w.line(definition.source)
        for f in self.functions:
            w.blank(2)
            w.statement("", Call(f"def {f.name}(", tuple(f.header()), "):"))
            w.lines += [*f.prologue(), *f.lines]
        build = tuple(f"{py}={literal(self.net.args[p])}" for p, py in self._network.params.items())
        w.blank(2)
        w.statement("", Call("def build(", build, ") -> keras.Model:", hug=True))
        w.lines += self._network.lines
        return w.text()

    def constant(self, base: str, rows) -> str:
        """A module-level name for a fixed filter's matrix, one row a line."""
        text = matrix(rows)
        if text not in self.constants:
            self.constants[text] = _unique(base, self._taken_names())
        return self.constants[text]

    def _write_definition(self, definition: str) -> None:
        scopes = [s for s in self.net.scopes if s.kind == "block" and s.block == definition and self.items[s.id]]
        bodies = [_Body(self, s) for s in scopes]
        # Grouped by structure alone: a step's arguments may differ between instances, as the function's
        # parameters (PyTorch compares code instead, which its classes' constructors hold). Where two
        # instances' arguments cannot be one parameter, writing the function fails and splits them.
        groups = [[bodies[i] for i in g.members] for g in share([(None, b.steps) for b in bodies])]
        done = [f for _, f in template(groups, lambda group: self._write(definition, group))]
        done.sort(key=lambda f: min(b.scope.id for b in f.bodies))
        # Instances split apart by a difference their code does not show (a shape, a stride the code passes
        # on) may still read the same: one function for them.
        same: dict[tuple, _Function] = {}
        for f in done:
            key = (tuple(f.params.items()), tuple(f.header()), tuple(f.prologue()), tuple(f.lines))
            if key in same:
                same[key].bodies += f.bodies
                for py, values in f.lifted.items():
                    same[key].lifted[py] += values
            else:
                same[key] = f
        taken = self._taken_names()
        for f in same.values():
            f.name = _unique(definition if definition not in _RESERVED else f"{definition}_block", taken)
            taken.add(f.name)
            self.functions.append(f)
            for body in f.bodies:
                self.function_of[body.scope.id] = (f, f.switches(body))

    def _switch(self, bodies: list[_Body]) -> tuple[str, str] | None:
        """The parameter that chooses the closing activation of these instances, where they differ in it, and
        the activation's relative name."""
        tail = max(bodies, key=lambda b: len(b.main)).activation
        if tail is None:
            return None
        variants = [(b.scope.args, item.node.op if (item := b.by_rel.get(tail.rel)) else None) for b in bodies]
        if all(v == variants[0][1] for _, v in variants):
            return None
        p = switch(bodies[0].scope.args, variants)
        return None if p is None else (p, tail.rel)

    def _taken_names(self) -> set[str]:
        return {f.name for f in self.functions} | set(self.constants.values()) | set(_LIBRARY) | _RESERVED

    def differs(self, bodies: list[_Body], rel: str) -> Differs:
        """The instances differ at `rel`: split them by how its layer is written (a depthwise convolution or
        not, which activation) where that tells them apart, else by all the layer's code may depend on."""
        for signature in (self.kind, self.signature):
            by = [signature(body, rel) for body in bodies]
            if len(set(by)) > 1:
                break
        return Differs(by)

    def kind(self, body: _Body, rel: str) -> str:
        """Which layer the item at `rel` becomes in one instance, whatever its arguments."""
        item = body.by_rel.get(rel)
        if item is None or item.node is None:
            return ""
        op = item.node.op
        return repr((op.kind, is_depthwise(self.net, item.node), getattr(op, "function", None)))

    def signature(self, body: _Body, rel: str) -> str:
        """What decides how the item at `rel` is written in one instance."""
        item = body.by_rel.get(rel)
        if item is None:
            return ""
        if item.call is not None:
            f, flags = self.function_of[item.call.id]
            return repr((f.name, sorted(flags.items()), item.call.args))
        node = item.node
        shapes = [self.net.nodes[i].shape for i in node.inputs]
        inputs = [self.nonnegative[i] for i in node.inputs]
        return repr((node.op, shapes, node.shape, inputs, node.id in self.flatten_last))

    def _write(self, definition: str | None, bodies: list[_Body]) -> _Function:
        first = max(bodies, key=lambda b: len(b.main))  # one with the closing activation some lack
        taken = self._taken_names()
        params: dict[str, str] = {}
        # The network's parameters are build()'s: build(classes=1000).
        args = [b.scope.args for b in bodies] if definition is not None else [self.net.args]
        for p in args[0]:
            params[p] = _unique(p, taken | set(params.values()))
        envs = [{params[k]: v for k, v in a.items()} for a in args]

        # The template: every instance's main items, and each projection from the first instance that has it.
        slots: list[_Slot] = []
        flags: dict[str, str] = {}
        projections: dict[str, list[_Slot]] = {}
        for add in [i.rel for i in first.main if any(i.rel in b.projections for b in bodies)]:
            owners = [b for b in bodies if add in b.projections]
            source = owners[0]
            projections[add] = [
                _Slot(i.rel, tuple(map(source.ref, i.inputs)), [b.by_rel.get(i.rel) for b in bodies])
                for i in source.projections[add]
            ]
            if len(owners) < len(bodies):
                label = source.shortcut_names[add].rsplit(".", 1)[-1]
                flags[add] = flag_name(label, taken | set(params.values()) | set(flags.values()))
        forks: dict[str, list[str]] = {}  # ref -> adds whose projections start from it
        for item in first.main:
            inputs = [first.ref(v) for v in item.inputs]
            if item.rel in projections:
                inputs[1] = projections[item.rel][-1].rel
                forks.setdefault(first.shortcut_fork(item), []).append(item.rel)
            slots.append(_Slot(item.rel, tuple(inputs), [b.by_rel.get(item.rel) for b in bodies]))
        # The closing residual steps, where some instances skip them all: under `if residual:`.
        tail = [s for s in slots if s.rel in first.residual]
        skipped = [[s.items[i] is None for s in tail] for i in range(len(bodies))]
        if any(any(row) for row in skipped):
            if not all(all(row) or not any(row) for row in skipped):
                raise self.differs(bodies, tail[0].rel)
            flags[tail[0].rel] = flag_name("residual", taken | set(params.values()) | set(flags.values()))
            for s in tail:
                s.flag = flags[tail[0].rel]
        order: list[_Slot] = []
        for slot in [None, *slots]:  # None: the function's input
            if slot is not None:
                order.append(slot)
            for add in forks.get("" if slot is None else slot.rel, []):
                for projection in projections[add]:
                    projection.flag = flags.get(add)
                    order.append(projection)

        reserved = taken | set(params.values()) | set(flags.values()) | {"x", "inputs"}
        switched = self._switch(bodies) if definition is not None else None
        closing = first.activation
        if closing is not None and switched is None and any(b.by_rel.get(closing.rel) is None for b in bodies):
            raise self.differs(bodies, closing.rel)  # some end with an activation, and no parameter says which
        if switched is not None:
            switched = (params[switched[0]], switched[1])
        writer = _FunctionWriter(self, definition, bodies, envs, params, order, projections, reserved, switched)
        lines = writer.lines()
        # The parameters the code uses, and those their defaults use.
        if definition is not None:
            texts = self.net.blocks.get(definition, {})
        else:
            texts = {p: expr.constant(v) for p, v in self.net.args.items()}
        signature = Signature.of(
            {p: texts.get(p) for p in params}, params, args[0], writer.used, flags.values(), writer.lifted
        )
        return _Function(definition, bodies, signature, flags, lines, writer.layer_suffixes, writer.lifted)

    def _check_names(self) -> None:
        seen: dict[str, str] = {}
        for f in [*self.functions, self._network]:
            for body in f.bodies:
                for rel, suffixes in f.layer_suffixes.items():
                    item = body.by_rel.get(rel)
                    if item is None:
                        continue
                    node_name = (item.node or item.call).name
                    for suffix in suffixes:
                        name = self.layer_names[item.node.id] + suffix
                        if name in seen and seen[name] != node_name:
                            span = (item.node or self.net.nodes[item.value]).span
                            raise CnnDslError(
                                "E208", f"'{node_name}' and '{seen[name]}' both become the Keras layer name '{name}'",
                                span.path, span.line, span.column, hint="rename one of the labels",
                            )  # fmt: skip
                        seen[name] = node_name

    def local_name(self, rel: str, items, writer: _FunctionWriter) -> str:
        """The Keras name of the statement at `rel` after the function's `name` prefix: the same in every
        instance of the function, or they cannot share it."""
        names = set()
        for item, scope in zip(items, [b.scope for b in writer.bodies]):
            if item is not None:
                full = self.layer_names[item.node.id] if item.node else self.prefixes[item.call.id]
                prefix = self.prefixes[scope.id]
                names.add(full[len(prefix) + 1 :] if prefix else full)
        if len(names) != 1:
            raise writer.differs(rel)
        return names.pop()


# --- one function's body ----------------------------------------------------------------------------------------


class _Position:
    """One template slot across the instances that have it: what to write, literal or as an expression of the
    function's parameters."""

    def __init__(self, writer: _FunctionWriter, slot: _Slot):
        present = [(item, env) for item, env in zip(slot.items, writer.envs) if item is not None]
        self.rel = slot.rel
        self.nodes = [item.node for item, _ in present]
        self.envs = [env for _, env in present]
        self.node = self.nodes[0]
        self.op = self.node.op
        self.params = writer.params
        self.used = writer.used
        self.net = writer.module.net
        self.module = writer.module
        self.prefix = writer.definition is not None
        self.suffixes: list[str] = []
        self.writer = writer
        self.local = writer.module.local_name(slot.rel, slot.items, writer)
        self.args = Arguments(writer.params, self.envs, words=False, used=writer.used)

    def values(self, attr: str) -> list:
        return [getattr(n.op, attr) for n in self.nodes]

    def same(self, values: list):
        """The one value every instance has; otherwise they cannot share the function."""
        if any(v != values[0] for v in values):
            raise self.writer.differs(self.rel)
        return values[0]

    def get(self, attr: str):
        return self.same(self.values(attr))

    def arg(self, attr: str, literal=literal, symbolic: bool = True) -> str:
        """An attribute as source: the expression it was written with where that reproduces every instance's
        value, else the value."""
        values = self.values(attr)
        text = self.args.expression(self.node.exprs.get(attr), values) if symbolic else None
        return text if text is not None else literal(self.same(values))

    def input_shapes(self) -> list[tuple]:
        return [self.net.nodes[n.inputs[0]].shape for n in self.nodes]

    def name(self, suffix: str = "") -> str:
        """The `name=` argument of a layer written for this slot."""
        self.suffixes.append(suffix)
        local = self.local + suffix
        return f'name=f"{{name}}_{local}"' if self.prefix else f"name={quote(local)}"


class _FunctionWriter:
    """The body of one function: which variable holds each value, and the statements.

    A value is written to its lane: `x`, or a variable of its own for the branches of a concat or add and for
    a residual projection. A value that is still needed after a later statement overwrites its lane is
    copied, right after it is made, to a variable named after its label (`enc1 = x`, `shortcut = x`).
    """

    def __init__(self, module, definition, bodies, envs, params, order, projections, reserved, switched=None):
        self.module = module
        self.definition = definition
        self.bodies = bodies
        self.envs = envs
        self.params = params
        self.order = order
        self.projections = projections
        self.reserved = reserved
        self.layer_suffixes: dict[str, list[str]] = {}
        self.slot_by_rel = {s.rel: s for s in order}
        self.used: set[str] = set()  # the parameters the code reads
        self.lifted: dict[str, list] = {}  # parameters for values its instances pass nested blocks, one each
        # The function's input is "" (a block's `x`); build()'s is its input layer.
        self.source = "" if definition is not None else order[0].rel
        self.switched = switched  # (parameter, rel): the closing activation that parameter chooses
        first = max(bodies, key=lambda b: len(b.main))
        self.output = first.ref(first.scope.output)
        self.time = {s.rel: t for t, s in enumerate(order)}
        self.lanes = self._lanes()
        if definition is not None:
            self.time[""], self.lanes[""] = -1, "x"
        self.writes: dict[str, list[float]] = {}  # variable -> when statements (or copies) write it, in order
        for slot in order:
            self.writes.setdefault(self.lanes[slot.rel], []).append(self.time[slot.rel])
        self.home = self._allocate()

    def differs(self, rel: str) -> Differs:
        return self.module.differs(self.bodies, rel)

    @cached_property
    def projections_by_first(self) -> dict[str, list[_Slot]]:
        return {slots[0].rel: slots for slots in self.projections.values()}

    def _lanes(self) -> dict[str, str]:
        lanes = {s.rel: "x" for s in self.order}
        if self.definition is None:
            lanes[self.source] = "inputs"
            for _, label, lane in self._extra_outputs:  # a side branch's statements write a lane of their own
                for slot in self.order:
                    if slot.rel == label or slot.rel.startswith(label + "."):
                        lanes[slot.rel] = lane
        around: dict[str, set[str]] = {}  # rel -> the lanes of the merges around it, which it must not reuse
        merges = [s for s in self.order if s.items[0] is not None and s.items[0].node is not None]
        for slot in reversed(merges):  # outer merges first: an inner merge's lanes take over
            if slot.items[0].node.op.kind not in ops.MERGES:
                continue
            if slot.rel in self.projections:
                branches = [("shortcut", self.projections[slot.rel])]
            else:
                branches = [
                    (_variable(label, f"branch{j + 1}"), items) for j, (label, items) in enumerate(self._branches(slot))
                ]
            inside = around.get(slot.rel, set()) | {lanes[slot.rel]}
            taken = self.reserved | inside  # grown in place: a concat of n branches takes n names, not n² steps
            for label, items in branches:
                if items:
                    lane = _unique(label, taken)
                    taken.add(lane)
                    inside.add(lane)
                    for item in items:
                        lanes[item.rel] = lane
            for _, items in branches:
                for item in items:
                    around[item.rel] = inside
        return lanes

    def _branches(self, slot: _Slot) -> list[tuple[str, list[_Item]]]:
        """The branches of a concat or add as (label, items), if they all start from one value (a branch
        that is that value itself has no items); an index is no label."""
        merge = slot.items[0]
        branches = [self.bodies[0].branch(merge, v) for v in merge.inputs]
        if any(b is None for b in branches) or len({b[0] for b in branches}) != 1 or not any(b[2] for b in branches):
            return []
        labels = [name.rsplit(".", 1)[-1] for _, name, _ in branches]
        return list(zip(labels, (items for _, _, items in branches)))

    def _next_write(self, var: str, after: float) -> float:
        writes = self.writes.get(var, [])
        i = bisect_right(writes, after)
        return writes[i] if i < len(writes) else float("inf")

    def _allocate(self) -> dict[str, str]:
        """The variable that holds each value for as long as it is needed."""
        end = {**self.time, **last_reads((slot.rel, slot.inputs) for slot in self.order)}
        for slots in self.projections.values():
            if slots[0].flag is not None:  # the `else` branch reads the fork where the projection ends
                end[slots[0].inputs[0]] = max(end[slots[0].inputs[0]], self.time[slots[-1].rel])
        end[self.output] = len(self.order)
        for ref, _, _ in self._extra_outputs:
            end[ref] = len(self.order)
        end[self.source] = max(end[self.source], len(self.order) if self.definition is None else -1)  # keras.Model
        held: dict[str, float] = {}  # variable -> until when the values given to it are needed
        home: dict[str, str] = {}
        lane_names = set(self.lanes.values())
        for ref in sorted(self.time, key=self.time.get):
            start, stop, lane = self.time[ref], end[ref], self.lanes[ref]
            if self._free(lane, start, stop, held):
                home[ref], held[lane] = lane, stop
                continue
            held[lane] = max(held.get(lane, -1), self._next_write(lane, start))  # it stays there until then
            label, i = self._label(ref), 1
            var = label
            while var in self.reserved or var in lane_names or not self._free(var, start + 0.5, stop, held):
                i += 1
                var = f"{label}_{i}"
            home[ref], held[var] = var, stop
            insort(self.writes.setdefault(var, []), start + 0.5)
        return home

    def _free(self, var: str, start: float, stop: float, held: dict[str, float]) -> bool:
        return self._next_write(var, start) >= stop and held.get(var, -1) <= start

    def read(self, ref: str, t: float) -> str:
        """The variable to read a value from at time t: its lane while it is still there, else its copy."""
        lane = self.lanes[ref]
        return lane if self._next_write(lane, self.time[ref]) >= t else self.home[ref]

    def lines(self) -> list[str]:
        """The function's body, indented."""
        order, home, lanes = self.order, self.home, self.lanes
        groups = Counter(slot.rel.split(".", 1)[0] for slot in order if slot.flag is None)
        w = Writer()
        w.level = 1
        if self.definition is not None and home[""] != "x":
            w.line(f"{home['']} = x")
        previous = None  # the statement group (a top-level statement of the body) before, and its size
        t = 0
        while t < len(order):
            slot = order[t]
            group = slot.rel.split(".", 1)[0] if slot.flag is None else None
            size = groups[group] if group is not None else 2
            if previous is not None and (group is None or group != previous[0]) and max(previous[1], size) > 1:
                w.blank()  # blank lines around statements that are groups: a sequence, an `if`
            previous = (group, size)
            if slot.flag is None:
                self._statement(w, slot, t)
                t += 1
                continue
            if slot.rel not in self.projections_by_first:  # the closing residual steps, the last statements
                start = self.read(slot.inputs[0], t)
                if start != self.read(self.output, len(order)):  # those that skip them return what they read
                    raise self.differs(slot.rel)
                with w.block(f"if {slot.flag}:"):
                    for s in order[t:]:
                        self._statement(w, s, self.time[s.rel])
                break
            # An optional projection: `if flag: shortcut = ...`, else the shortcut is the fork itself.
            slots = self.projections_by_first[slot.rel]
            last = slots[-1]
            with w.block(f"if {slot.flag}:"):
                for s in slots:
                    self._statement(w, s, self.time[s.rel], copy=s is not last)
            with w.block("else:"):
                w.line(f"{lanes[last.rel]} = {self.read(slot.inputs[0], self.time[last.rel])}")
            if home[last.rel] != lanes[last.rel]:
                w.line(f"{home[last.rel]} = {lanes[last.rel]}")
            t += len(slots)
        result = self.read(self.output, len(order))
        if self.definition is None:
            extras = [self.read(ref, len(order)) for ref, _, _ in self._extra_outputs]
            outputs = f"[{', '.join([result, *extras])}]" if extras else result  # the main output first, as ONNX's
            args = (home[self.source], outputs, f"name={quote(self.module.net.name)}")
            w.statement("", Call("return keras.Model(", args, hug=True))
        else:
            w.line(f"return {result}")
        return w.lines

    @cached_property
    def _extra_outputs(self) -> list[tuple[str, str, str]]:
        """build()'s extra outputs (`aux1: output ...`), each as its value's ref, the statement's label and
        the variable its statements write."""
        if self.definition is not None:
            return []
        net, out = self.module.net, []
        for i in net.extra_outputs:
            label = net.output_name(i)
            lane = _unique(_variable(label, "output"), self.reserved | {lane for _, _, lane in out})
            out.append((self.bodies[0].ref(i), label, lane))
        return out

    def _label(self, ref: str) -> str:
        """The name of a copy: the label of the value, or of the outermost sequence it ends; else "shortcut"."""
        if not ref:
            return "shortcut"
        value = next(item for item in self.slot_by_rel[ref].items if item is not None).value
        parts = ref.split(".")
        for i, part in enumerate(parts):
            if part.isdigit():
                continue
            if i == len(parts) - 1:
                return _variable(part, "shortcut")
            name = ".".join(p for p in (self.bodies[0].scope.name, *parts[: i + 1]) if p)
            scope = self.module.scope_by_name.get(name)
            if scope is not None and scope.kind == "sequence" and scope.output == value:
                return _variable(part, "shortcut")
        return "shortcut"

    def _statement(self, w: Writer, slot: _Slot, t: int, copy: bool = True) -> None:
        inputs = [self.read(ref, t) for ref in slot.inputs]
        out = self.lanes[slot.rel]
        first = next(item for item in slot.items if item is not None)
        if first.call is not None:
            stmts = [self._call(slot, inputs, out)]
            self.layer_suffixes[slot.rel] = []
        elif self.switched is not None and slot.rel == self.switched[1]:
            self._switched(w, slot, inputs, out)
            stmts = []
        else:
            position = _Position(self, slot)
            stmts = _LAYERS.handler(position.node)(position, inputs, out)
            self.layer_suffixes[slot.rel] = position.suffixes
        for stmt in stmts:
            stmt.write(w)
        if copy and self.home[slot.rel] != out:
            w.line(f"{self.home[slot.rel]} = {out}")

    def _switched(self, w: Writer, slot: _Slot, inputs: list[str], out: str) -> None:
        """The closing activation a parameter chooses: `if act == "relu": x = ...`, one case for each value
        whose instances have it. Those without it return what the statement before left in the same variable."""
        py, rel = self.switched
        p = next(p for p, name in self.params.items() if name == py)
        values = [b.scope.args[p] for b in self.bodies]
        if self.lanes[rel] != self.lanes[slot.inputs[0]] or self.home[rel] != self.lanes[rel]:
            raise self.differs(rel)
        self.used.add(py)
        self.layer_suffixes[rel] = []
        cases = [v for i, v in enumerate(values) if slot.items[i] is not None and v not in values[:i]]
        for k, value in enumerate(cases):
            items = [item if v == value else None for item, v in zip(slot.items, values)]
            position = _Position(self, replace(slot, items=items))
            with w.block(f"{'el' if k else ''}if {py} == {literal(value)}:"):
                for stmt in _LAYERS.handler(position.node)(position, inputs, out):
                    stmt.write(w)
            self.layer_suffixes[rel] += [s for s in position.suffixes if s not in self.layer_suffixes[rel]]

    def _lift(self, name: str, values: list) -> str:
        """A parameter of this function for what its instances pass a nested block, one value each."""
        py = _unique(name, self.reserved | set(self.params.values()) | self.lifted.keys())
        self.lifted[py] = values
        return py

    def _call(self, slot: _Slot, inputs: list[str], out: str) -> _Stmt:
        """A nested block's function, with the arguments as the block call wrote them; those its defaults
        give are left out."""
        calls = [item.call for item in slot.items if item is not None]
        functions = [self.module.function_of[c.id] for c in calls]
        f, flags = functions[0]
        if any(g is not f or other != flags for g, other in functions):
            raise self.differs(slot.rel)
        envs = [env for item, env in zip(slot.items, self.envs) if item is not None]
        here = Arguments(self.params, envs, used=self.used)
        values = {p: [c.args[p] for c in calls] for p in calls[0].args}
        lifted = {py: [f.lifted_value(c, py) for c in calls] for py in f.signature.lifted}
        lift = self._lift if None not in slot.items else None  # values for every instance, none skipped
        passed = f.signature.arguments(here, calls[0].exprs, values, lifted, lift)
        if passed is None:
            raise self.differs(slot.rel)
        args = [inputs[0], *passed]
        args += [f"{f.flags[add]}=True" for add, on in flags.items() if on]
        local = self.module.local_name(slot.rel, slot.items, self)
        args.append(f'name=f"{{name}}_{local}"' if self.definition is not None else f"name={quote(local)}")
        return _Stmt(out, f.name, args)


# --- the layers -------------------------------------------------------------------------------------------------


class _Args(list):
    """A layer's arguments; a keyword is left out where it has Keras' default."""

    def add(self, key: str, source: str, default: str | None = None) -> _Args:
        if source != default:
            self.append(f"{key}={source}")
        return self


class _Layers(Dispatcher):
    """One writer per op kind: the Keras statements of a slot, reading `inputs`, writing `out`."""

    WHAT = "backend keras"
    ACTIVATIONS = _ACTIVATIONS

    def input(self, p: _Position, inputs, out):
        c, *hw = p.node.shape
        shape = tuple(d if isinstance(d, int) else None for d in (*hw, c))
        return [_Stmt(out, "layers.Input", [f"shape={literal(shape)}", p.name()])]

    def conv(self, p: _Position, inputs, out):
        x = inputs[0]
        stmts = []
        strides, dilations = p.values("strides"), p.values("dilation")
        # Keras refuses strides with dilation: convolve at stride 1, then keep every strides-th output.
        subsample = any(max(s) > 1 for s in strides) and any(max(d) > 1 for d in dilations)
        padding, explicit = _conv_padding(p, subsample)
        if explicit == "same":  # the padding depends on an open size
            p.module.classes.add("SamePadding2D")
            dilated = p.same([tuple(d * (k - 1) + 1 for d, k in zip(n.op.dilation, n.op.kernel_size)) for n in p.nodes])
            stmts.append(_Stmt(out, "SamePadding2D", [pair(dilated), p.arg("strides", pair), p.name("_pad")], x))
            x = out
        elif explicit is not None:
            pad = _Stmt(out, "layers.ZeroPadding2D", [explicit, p.name("_pad")], x)
            stmts += _unless_idle(p, pad, [n.op.padding != (0, 0) for n in p.nodes])
            x = out
        depthwise = [is_depthwise(p.net, n) for n in p.nodes]
        if p.same(depthwise):
            multiplier = p.same([n.op.filters // n.op.groups for n in p.nodes])
            args = _Args([p.arg("kernel_size", pair)])
            if not subsample:
                args.add("strides", p.arg("strides", pair), "1")
            args.add("padding", padding, '"valid"').add("depth_multiplier", str(multiplier), "1")
            callee = "layers.DepthwiseConv2D"
        else:
            args = _Args([p.arg("filters"), p.arg("kernel_size", pair)])
            if not subsample:
                args.add("strides", p.arg("strides", pair), "1")
            args.add("padding", padding, '"valid"')
            callee = "layers.Conv2D"
        args.add("dilation_rate", p.arg("dilation", pair), "1")
        if callee == "layers.Conv2D":
            # groups as the block writes it (`groups=groups`, RegNet's width // 8) wherever one is grouped; left
            # out where every instance has 1
            args.add("groups", p.arg("groups", symbolic=any(v != 1 for v in p.values("groups"))), "1")
        activation, separate = _activation(p)
        args.add("activation", activation, "None").add("use_bias", p.arg("use_bias"), "True")
        if p.get("weights") is not None:
            initializer = "depthwise_initializer" if callee == "layers.DepthwiseConv2D" else "kernel_initializer"
            args += [f"{initializer}=fixed_kernel({_fixed_matrix(p)})", "trainable=False"]
        stmts.append(_Stmt(out, callee, [*args, p.name()], x))
        if subsample:
            strides = f"strides={p.arg('strides', pair)}"
            stmts.append(_Stmt(out, "layers.MaxPooling2D", ["1", strides, p.name("_stride")], out))
        return stmts + separate(out)

    def conv_transpose(self, p: _Position, inputs, out):
        args = _Args([p.arg("filters"), p.arg("kernel_size", pair)]).add("strides", p.arg("strides", pair), "1")
        activation, separate = _activation(p)
        if p.get("groups") > 1 or any(max(d) > 1 for d in p.values("dilation")):
            # Conv2DTranspose has no groups, and TensorFlow's CPU kernel no dilation.
            p.module.classes.add("ConvTranspose2D")
            padding = p.get("padding")
            args.add("padding", '"same"' if padding == "same" else pair(padding), "0")
            args.add("output_padding", pair(p.get("output_padding")), "0")
            args.add("dilation_rate", p.arg("dilation", pair), "1").add("groups", p.arg("groups", symbolic=False), "1")
            args.add("activation", activation, "None").add("use_bias", p.arg("use_bias"), "True")
            return [_Stmt(out, "ConvTranspose2D", [*args, p.name()], inputs[0]), *separate(out)]
        crop = None
        if p.get("padding") == "same":
            args.add("padding", '"same"')
        else:
            # Keras' "valid" output is (in - 1)·strides + kernel + output_padding, before PyTorch's padding
            # comes off: crop it, keeping what output_padding adds past the padding.
            pad, extra = p.get("padding"), p.get("output_padding")
            kept = tuple(max(o - q, 0) for o, q in zip(extra, pad))
            short = any(k < s for n in p.nodes for k, s in zip(n.op.kernel_size, n.op.strides))
            if any(kept) or short:  # without output_padding Keras makes at least in·strides
                args.add("output_padding", pair(kept))
            pads = (pad[0], max(pad[0] - extra[0], 0), pad[1], max(pad[1] - extra[1], 0))
            crop = _pads(pads) if any(pads) else None
        args.add("activation", activation, "None").add("use_bias", p.arg("use_bias"), "True")
        stmts = [_Stmt(out, "layers.Conv2DTranspose", [*args, p.name()], inputs[0])]
        if crop is not None:
            stmts.append(_Stmt(out, "layers.Cropping2D", [crop, p.name("_crop")], out))
        return stmts + separate(out)

    def maxpool(self, p: _Position, inputs, out):
        return _pool(p, inputs[0], out, "max")

    def avgpool(self, p: _Position, inputs, out):
        return _pool(p, inputs[0], out, "average")

    def global_avgpool(self, p: _Position, inputs, out):
        return [_Stmt(out, "layers.GlobalAveragePooling2D", ["keepdims=True", p.name()], inputs[0])]

    def global_maxpool(self, p: _Position, inputs, out):
        return [_Stmt(out, "layers.GlobalMaxPooling2D", ["keepdims=True", p.name()], inputs[0])]

    def adaptive_avgpool(self, p: _Position, inputs, out):
        size = p.get("output_size")
        plans = []
        for shape in p.input_shapes():
            h, w = shape[1:]
            if (h, w) == size:
                plans.append(("layers.Identity", []))
            elif isinstance(h, int) and isinstance(w, int) and h % size[0] == 0 and w % size[1] == 0:
                plans.append(("layers.AveragePooling2D", [pair((h // size[0], w // size[1]))]))
            else:  # uneven windows (or an open size): PyTorch's bins
                plans.append(("AdaptiveAveragePooling2D", [pair(size)]))
        callee, args = p.same(plans)
        if not callee.startswith("layers."):
            p.module.classes.add(callee)
        return [_Stmt(out, callee, [*args, p.name()], inputs[0])]

    def upsample(self, p: _Position, inputs, out):
        mode, corners = p.get("mode"), p.get("align_corners")
        scale = p.arg("scale", pair)
        if mode == "nearest" or (mode == "bilinear" and not corners):
            # UpSampling2D's bilinear samples at half-pixel centres: PyTorch's align_corners=False.
            args = _Args([scale]).add("interpolation", quote(mode), '"nearest"')
            return [_Stmt(out, "layers.UpSampling2D", [*args, p.name()], inputs[0])]
        callee = "ZeroInsertionUpSampling2D" if mode == "zeros" else "AlignedBilinearUpSampling2D"
        p.module.classes.add(callee)
        return [_Stmt(out, callee, [scale, p.name()], inputs[0])]

    def batchnorm(self, p: _Position, inputs, out):
        # PyTorch's momentum weighs the new batch, Keras' the running average.
        momentum = p.get("momentum")
        args = _Args().add("epsilon", p.arg("eps"), "0.001").add("momentum", literal(round(1 - momentum, 12)), "0.99")
        return [_Stmt(out, "layers.BatchNormalization", [*args, p.name()], inputs[0])]

    def lrn(self, p: _Position, inputs, out):
        p.module.classes.add("LocalResponseNormalization")
        args = _Args([p.arg("size")]).add("alpha", p.arg("alpha"), "0.0001").add("beta", p.arg("beta"), "0.75")
        args.add("k", p.arg("k"), "1.0")
        return [_Stmt(out, "LocalResponseNormalization", [*args, p.name()], inputs[0])]

    def dropout(self, p: _Position, inputs, out):
        dropout = _Stmt(out, "layers.Dropout", [p.arg("rate"), p.name()], inputs[0])
        return _unless_idle(p, dropout, [n.op.rate > 0 for n in p.nodes])

    def flatten(self, p: _Position, inputs, out):
        x = inputs[0]
        stmts = []
        if not p.same([n.id in p.module.flatten_last for n in p.nodes]):
            stmts.append(_Stmt(out, "layers.Permute", ["(3, 1, 2)", p.name("_chw")], x))  # PyTorch's C·H·W order
            x = out
        return stmts + [_Stmt(out, "layers.Flatten", [p.name()], x)]

    def dense(self, p: _Position, inputs, out):
        activation, separate = _activation(p)
        args = _Args([p.arg("units")]).add("activation", activation, "None").add("use_bias", p.arg("use_bias"), "True")
        return [_Stmt(out, "layers.Dense", [*args, p.name()], inputs[0])] + separate(out)

    def activation(self, p: _Position, inputs, out):
        function = p.get("function")
        if function == "leaky_relu":
            callee, args = "layers.LeakyReLU", [f"negative_slope={p.arg('alpha')}"]
        elif function == "elu":
            callee, args = "layers.ELU", _Args().add("alpha", p.arg("alpha"), "1.0")
        elif function == "softmax":
            callee, args = "layers.Softmax", []  # over the last axis: channels, as PyTorch's dim=1
        else:
            callee, args = "layers.Activation", [quote(self.ACTIVATIONS[function])]
        return [_Stmt(out, callee, [*args, p.name()], inputs[0])]

    def concat(self, p: _Position, inputs, out):
        return [_Stmt(out, "layers.Concatenate", [p.name()], inputs)]

    # --- ConvNeXt: Keras' maps are channels-last already; layer norm, layer scale ---

    def channels_last(self, p: _Position, inputs, out):
        return [_Stmt(out, "layers.Identity", [p.name()], inputs[0])]

    channels_first = channels_last

    def layernorm(self, p: _Position, inputs, out):  # over the last axis: the channels, in either layout
        args = _Args().add("epsilon", p.arg("eps"), "0.001")
        return [_Stmt(out, "layers.LayerNormalization", [*args, p.name()], inputs[0])]

    def layer_scale(self, p: _Position, inputs, out):
        p.module.classes.add("LayerScale")
        return [_Stmt(out, "LayerScale", [p.arg("init"), p.name()], inputs[0])]

    def add(self, p: _Position, inputs, out):
        return [_Stmt(out, "layers.Add", [p.name()], inputs)]

    def multiply(self, p: _Position, inputs, out):
        # Multiply broadcasts as PyTorch's `*` does: a (1, 1, C) gate scales an (H, W, C) map.
        return [_Stmt(out, "layers.Multiply", [p.name()], inputs)]

    def chunk(self, p: _Position, inputs, out):
        p.module.classes.add("Chunk")
        return [_Stmt(out, "Chunk", [p.arg("chunks"), p.arg("index"), p.name()], inputs[0])]

    def channel_shuffle(self, p: _Position, inputs, out):
        p.module.classes.add("ChannelShuffle")
        return [_Stmt(out, "ChannelShuffle", [p.arg("groups"), p.name()], inputs[0])]

    def stochastic_depth(self, p: _Position, inputs, out):
        # As keras.applications' EfficientNet writes it: dropout of whole samples ("row") or of the whole
        # batch, the identity in inference, the survivors scaled by 1 / (1 - p) in training, as torchvision's.
        rank = len(p.node.shape)
        noise = literal((None if p.get("mode") == "row" else 1, *(1,) * rank))
        dropout = _Stmt(out, "layers.Dropout", [p.arg("p"), f"noise_shape={noise}", p.name()], inputs[0])
        return _unless_idle(p, dropout, [n.op.p > 0 for n in p.nodes])


_LAYERS = _Layers()


def _fixed_matrix(p: _Position) -> str:
    """The source of a fixed filter's matrix: a call for box and gaussian, as the PyTorch backend writes
    them, else a constant of the module."""
    weights = p.get("weights")
    p.module.classes.add("fixed_kernel")
    if weights in ("box", "gaussian"):
        p.module.classes.add(f"{weights}_kernel")
        size = p.arg("kernel_size", pair)
        return f"box_kernel({size})" if weights == "box" else f"gaussian_kernel({size}, {p.arg('sigma')})"
    if isinstance(weights, str):
        return p.module.constant(weights.upper(), ops.PRESETS[weights])
    label = p.rel.rsplit(".", 1)[-1]
    return p.module.constant("KERNEL" if label.isdigit() else f"{_variable(label, '').upper()}_KERNEL", weights)


def _activation(p: _Position):
    """A fused activation: Keras' `activation=` argument, and the layers that follow where Keras' differs."""
    function = p.get("activation")
    if function is None:
        return "None", lambda out: []
    if function != "leaky_relu":
        return quote(_ACTIVATIONS[function]), lambda out: []
    return "None", lambda out: [_Stmt(out, "layers.LeakyReLU", ["negative_slope=0.01", p.name("_act")], out)]


def _unless_idle(p: _Position, stmt: _Stmt, acts: list[bool]) -> list:
    """`stmt`, a layer that does nothing where its first argument is 0 (no padding, no dropout), only for the
    instances where it acts (`acts`): no layer is built to do nothing. Some act and some do not: under the most
    readable `if` that tells them apart (`if padding:`, `if kernel > 1:`), else `pad = ...; if pad:`."""
    if all(acts):
        return [stmt]
    x, out = stmt.operand, stmt.out
    skip = [_Line(f"{out} = {x}")] if out != x else []  # the value the layer would leave in `out`
    if not any(acts):
        return skip
    tree = ast.parse(stmt.args[0], mode="eval")
    names = dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    for name in names:  # `if padding:` (a pair: (0, 0) is caught), `if drop_rate > 0:`, `if kernel > 1:`
        values = [env.get(name) for env in p.envs]
        numbers = all(type(v) in (int, float) for v in values)
        if numbers and [v > 0 for v in values] == acts:
            return [*skip, _If(f"{name} > 0", [stmt])]
        if not numbers and list(map(bool, values)) == acts:
            return [*skip, _If(name, [stmt])]
        if numbers and [v > 1 for v in values] == acts:
            return [*skip, _If(f"{name} > 1", [stmt])]
    try:
        values = [arith.evaluate(tree, env) for env in p.envs]
    except (ArithmeticError, TypeError, ValueError, NameError):
        values = []
    names = (p.writer.reserved, p.writer.home.values(), p.net.blocks, p.module._taken_names())  # `pad` must be free
    taken = any("pad" in n for n in names)
    if taken or list(map(bool, values)) != acts:  # no condition reads well: a function each, acting or not
        raise p.writer.differs(p.rel)
    return [*skip, _Line(f"pad = {stmt.args[0]}"), _If("pad", [replace(stmt, args=["pad", *stmt.args[1:]])])]


def _conv_padding(p: _Position, subsample: bool) -> tuple[str, str | None]:
    """Conv2D's `padding=`, and ZeroPadding2D's argument where the padding comes first ("same" where it
    depends on an open size)."""
    paddings = p.values("padding")
    if all(v == "same" for v in paddings):
        if not subsample:
            return '"same"', None
        pads = [n.op.pads(shape) for n, shape in zip(p.nodes, p.input_shapes())]
        if None in pads:
            return '"valid"', "same"
        return '"valid"', _pads(p.same(pads)) if any(p.same(pads)) else None
    if any(v == "same" for v in paddings):
        raise p.writer.differs(p.rel)

    def centred(n: Node) -> bool:  # stride 1 and as much padding as the kernel reaches: Keras' "same"
        reach = [d * (k - 1) for d, k in zip(n.op.dilation, n.op.kernel_size)]
        return n.op.strides == (1, 1) and all(2 * q == r for q, r in zip(n.op.padding, reach))

    if all(v == (0, 0) for v in paddings):
        return '"valid"', None
    if not subsample and all(map(centred, p.nodes)):
        return '"same"', None
    return '"valid"', p.arg("padding", pair)


def _pool(p: _Position, x: str, out: str, kind: str) -> list[_Stmt]:
    """Max or average pooling with PyTorch's padding, ceil_mode and count_include_pad."""
    keras_class = "layers.MaxPooling2D" if kind == "max" else "layers.AveragePooling2D"
    paddings, ceil = p.values("padding"), p.values("ceil_mode")
    include = p.values("count_include_pad") if kind == "average" else [False] * len(p.nodes)
    if all(v == (0, 0) for v in paddings) and not any(ceil):
        args = [p.arg("pool_size", pair)]
        if any(n.op.strides != n.op.pool_size for n in p.nodes):  # Keras' strides default to the pool size too
            args.append(f"strides={p.arg('strides', pair)}")
        return [_Stmt(out, keras_class, [*args, p.name()], x)]
    pool, strides = p.get("pool_size"), p.get("strides")
    static = all(isinstance(d, int) for shape in p.input_shapes() for d in shape)
    if all(v == "same" for v in paddings):
        if kind == "max" or not any(include):  # TensorFlow's "same" leaves the padding out of max and mean
            args = [pair(pool), f"strides={pair(strides)}", 'padding="same"', p.name()]
            return [_Stmt(out, keras_class, args, x)]
        if static and all(include):
            pads = p.same([same_pads(shape, pool, strides) for shape in p.input_shapes()])
            stmts = [_Stmt(out, "layers.ZeroPadding2D", [_pads(pads), p.name("_pad")], x)] if any(pads) else []
            return [
                *stmts,
                _Stmt(out, keras_class, [pair(pool), f"strides={pair(strides)}", p.name()], out if stmts else x),
            ]
        padding = '"same"'
    elif any(v == "same" for v in paddings):
        raise p.writer.differs(p.rel)
    else:
        padding = pair(p.get("padding"))
        pad = p.get("padding")
        if static:
            # The rows ceil_mode adds after the padding, so that the last window fits.
            extra = p.same([_ceil_extra(n, shape) for n, shape in zip(p.nodes, p.input_shapes())])
            zeros_are_safe = (kind == "max" and all(p.module.nonnegative[n.inputs[0]] for n in p.nodes)) or (
                kind == "average" and all(include) and not any(extra)
            )
            if zeros_are_safe:  # zeros never win a max over non-negative values, and count_include_pad counts them
                pads = (pad[0], pad[0] + extra[0], pad[1], pad[1] + extra[1])
                stmts = [_Stmt(out, "layers.ZeroPadding2D", [_pads(pads), p.name("_pad")], x)] if any(pads) else []
                args = [pair(pool), f"strides={pair(strides)}", p.name()]
                return [*stmts, _Stmt(out, keras_class, args, out if stmts else x)]
    callee = "PaddedMaxPooling2D" if kind == "max" else "PaddedAveragePooling2D"
    p.module.classes.add(callee)
    args = _Args([pair(pool), f"strides={pair(strides)}", f"padding={padding}"])
    args.add("ceil_mode", literal(p.get("ceil_mode")), "False")
    if kind == "average":
        args.add("count_include_pad", literal(p.get("count_include_pad")), "True")
    return [_Stmt(out, callee, [*args, p.name()], x)]


def _ceil_extra(node: Node, shape) -> tuple[int, int]:
    """The rows and columns ceil_mode adds after a pool's padding (to fit the windows the IR counted)."""
    op = node.op
    windows = zip(node.shape[1:], op.strides, op.pool_size, shape[1:], op.padding)
    return tuple(max((o - 1) * s + k - i - 2 * q, 0) for o, s, k, i, q in windows)
