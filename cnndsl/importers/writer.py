"""Neutral graph → .cnn text, as a person would write it.

1. The nodes are grouped by the module they come from into a tree of scopes (`layer1` → `layer1.0` →
   `layer1.0.conv1`); each module's last path component becomes its label, and numbered children (those of an
   `nn.Sequential`) are written unlabelled in order, so the compiled import has the original's state_dict keys.
2. In each scope the dataflow is written as structured statements: a chain stays a chain; a fork is closed at
   its join (its immediate post-dominator) and becomes `residual { } shortcut name { }`, `add { }`,
   `concat { }` or `multiply { }` over its branches, or `concat(label)` for a long skip (U-Net).
3. Modules of one class whose statements have the same structure become one `block`; the constants that vary
   between instances become its parameters (equal ones shared, multiples written `channels * 4`), the most
   common value a default. Runs of identical unlabelled statements become `repeat N`.
"""

from __future__ import annotations

import copy
import dataclasses
import keyword
import re
from collections import Counter
from dataclasses import dataclass, field

from ..ops import REGISTRY
from .graph import GNode, Graph, ImportRefused

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED = {
    "import", "block", "network", "repeat", "sequence", "residual", "shortcut", "output", "true", "false", "let",
    "def", "if", "else", "for", "in", "and", "or", "not", "inline", "identity",
}  # fmt: skip
_PARAM_NAMES = {"filters": "channels", "units": "units", "strides": "stride", "kernel_size": "kernel",
                "pool_size": "pool", "output_size": "size"}  # fmt: skip
_ACTIVATIONS = {"relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "relu6", "hardswish",
                "hardsigmoid"}  # fmt: skip


# --- statements ---------------------------------------------------------------------------------------


@dataclass
class Call:
    label: str | None
    name: str  # an op (`conv`) or a block
    args: dict  # name -> value, or Param/Scaled in a block body
    positional: int = 0  # how many leading args are written without their names
    number: int | None = None  # the module's name where it is a position (an nn.Sequential's child)
    fusable: bool = False  # may become the previous call's activation=


@dataclass
class Seq:
    label: str | None
    body: list
    cls: str | None = ""  # the module's class, for blocks (None: not known)
    path: str = ""
    number: int | None = None


@dataclass
class Merge:
    kind: str  # add, concat, multiply
    branches: list  # each one statement


@dataclass
class Inline:
    body: list


@dataclass
class Residual:
    main: list
    shortcut: Seq | None = None


@dataclass
class Ref:
    kind: str
    labels: list


@dataclass
class Identity:
    label: str | None


@dataclass
class Output:
    label: str | None
    stmt: object  # a Seq (written as its body) or a block Call


@dataclass
class Repeat:
    count: int
    stmt: object


@dataclass(frozen=True)
class Param:
    name: str
    factor: int = 1  # the value is name * factor
    half: bool = False  # the value is name // 2 (a kernel's padding)


# --- the scope tree -----------------------------------------------------------------------------------


@dataclass
class _Mod:
    path: str
    items: list = field(default_factory=list)  # GNode or _Mod, in execution order
    nodes: list = field(default_factory=list)  # every GNode inside, nested ones included
    entry: str = ""
    out: str = ""


def _number(path: str) -> int | None:
    last = path.rsplit(".", 1)[-1]
    return int(last) if path and last.isdigit() else None


def _positions(s) -> int | None:
    """How many positions a statement takes in its scope (None: not known here)."""
    if isinstance(s, (Call, Seq, Ref)):
        return 1
    if isinstance(s, Identity):
        return 0
    return None


def _fold(stmts: list) -> list:
    """Where a numbered module comes earlier than its position, fold the activations before it that may be
    written as `activation=` (they take no position then), as cnndsl's own PyTorch code numbers them."""
    out: list = []
    pos: int | None = 0
    pending: list[int] = []  # indexes in `out` of fusable activations since the last numbered module
    for s in stmts:
        number = getattr(s, "number", None)
        if number is not None and pos is not None:
            while pos > number and pending:
                k = pending.pop()
                act = out.pop(k)
                out[k - 1].args["activation"] = act.name
                pos -= 1
            pending = []
        if isinstance(s, Call) and s.fusable and out and isinstance(out[-1], Call) and "activation" not in out[-1].args:
            pending.append(len(out))
        out.append(s)
        step = _positions(s)
        pos = None if pos is None or step is None else pos + step
        if number is not None:
            pos = number + 1
    return out


def _label(path: str) -> str | None:
    """The label of a module named `path` (None: numbered, written unlabelled)."""
    last = path.rsplit(".", 1)[-1]
    if last.isdigit():
        return None
    if _IDENT.fullmatch(last) and not keyword.iskeyword(last) and last not in _RESERVED:
        return last
    return f'"{last}"'


class Writer:
    def __init__(self, graph: Graph):
        self.g = graph
        self.nodes = {n.name: n for n in graph.nodes}
        self.problems: list[tuple[str, str]] = []
        self.seen: set[str] = set()

    # 1. the tree of scopes
    def tree(self) -> _Mod:
        root = _Mod("")
        mods = {"": root}
        for n in self.g.nodes:
            owner = n.path.rsplit(".", 1)[0] if "." in n.path else ("" if n.path else n.scope)
            chain = [""]
            if owner:
                parts = owner.split(".")
                chain += [".".join(parts[: i + 1]) for i in range(len(parts))]
            for parent, child in zip(chain, chain[1:]):
                if child not in mods:
                    mods[child] = _Mod(child)
                    mods[parent].items.append(mods[child])
                elif mods[parent].items[-1] is not mods[child]:
                    self.problems.append(("a module called twice (shared weights) or interleaved", child))
            for p in chain:
                mods[p].nodes.append(n)
            mods[owner].items.append(n)
        for m in mods.values():
            inside = {n.name for n in m.nodes}
            entries = {i for n in m.nodes for i in n.inputs if i not in inside}
            if m.path and len(entries) != 1:
                self.problems.append((f"a module with {len(entries)} inputs", m.path))
            m.entry = next(iter(entries)) if m.path and entries else self.g.input
            used_outside = [n.name for n in m.nodes if n.name in self.g.outputs or any(
                n.name in o.inputs for o in self.g.nodes if o.name not in inside)]  # fmt: skip
            if m.path and len(used_outside) != 1:
                self.problems.append((f"a module with {len(used_outside)} outputs", m.path))
            m.out = used_outside[0] if used_outside else (m.nodes[-1].name if m.nodes else m.entry)
        return root

    def shape(self, tensor: str) -> tuple:
        return self.g.input_shape if tensor == self.g.input else self.nodes[tensor].shape

    # 2. the statements of a scope
    def scope_body(self, m: _Mod) -> list:
        outputs = set(self.g.outputs[1:]) if not m.path else set()
        exit_ = self.g.outputs[0] if not m.path else m.out
        return _fold(self.region(m.items, m.entry, exit_, outputs))

    def item_stmt(self, item) -> object:
        if isinstance(item, GNode):
            # a module called twice (a parameterless one: the frontends refuse shared weights) is labelled once
            label = _label(item.path) if item.path and item.path not in self.seen else None
            self.seen.add(item.path)
            return Call(label, item.kind, dict(item.args), number=_number(item.path), fusable=item.fusable)
        body = self.scope_body(item)
        # the module's class (None where the source does not say: ONNX)
        cls = self.g.classes.get(item.path, "") if self.g.classes else None
        return Seq(_label(item.path), body, cls, item.path, _number(item.path))

    def region(self, items: list, entry: str, exit_: str, outputs: set) -> list:
        def ins(item):
            return item.inputs if isinstance(item, GNode) else [item.entry]

        def out(item):
            return item.name if isinstance(item, GNode) else item.out

        produced = {out(it): k for k, it in enumerate(items)}
        succ: dict[int, list[int]] = {k: [] for k in range(-1, len(items))}
        for k, it in enumerate(items):
            for t in ins(it):
                src = -1 if t == entry else produced.get(t)
                if src is not None and k not in succ[src]:
                    succ[src].append(k)
        # post-dominators, EXIT = len(items)
        exit_id = len(items)
        pdom: dict[int, frozenset] = {exit_id: frozenset([exit_id])}
        for k in range(len(items) - 1, -2, -1):
            nexts = succ[k] or [exit_id]
            common = frozenset.intersection(*(pdom[s] for s in nexts))
            pdom[k] = common | {k}
        desc_cache: dict[int, set] = {}

        def descendants(k: int) -> set:
            if k not in desc_cache:
                d = set()
                for s in succ[k]:
                    d |= {s} | descendants(s)
                desc_cache[k] = d
            return desc_cache[k]

        stmts: list = []
        done: set[int] = set()
        cur = -1
        labels_used = {it.path.rsplit(".", 1)[-1] for it in items if not isinstance(it, GNode) or it.path}
        while out(items[cur]) != exit_ if cur >= 0 else entry != exit_:
            nexts = [s for s in succ[cur] if s not in done]
            # extra outputs (auxiliary heads) that leave the main path here
            for s in list(nexts):
                if out(items[s]) in outputs and len(nexts) > 1:
                    st = self.item_stmt(items[s])
                    stmts.append(Output(st.label, st))
                    st.label = None
                    done.add(s)
                    nexts.remove(s)
            if not nexts:
                self.problems.append(("a value that does not reach the output", out(items[cur]) if cur >= 0 else entry))
                break
            if len(nexts) == 1 and len(ins(items[nexts[0]])) == 1:
                s = nexts[0]
                stmts.append(self.item_stmt(items[s]))
                done.add(s)
                cur = s
                continue
            # a fork: closed at its immediate post-dominator, a merge
            join = min(pdom[cur] - {cur})
            if (
                join == exit_id
                or not isinstance(items[join], GNode)
                or items[join].kind not in ("add", "concat", "multiply")
            ):
                where = items[join].where if join < exit_id and isinstance(items[join], GNode) else exit_
                self.problems.append(("a fork that does not close in an add, concat or multiply", where))
                break
            m = items[join]
            inside = (descendants(cur) - {join}) - descendants(join)
            branches = []
            for t in m.inputs:
                if t == (entry if cur < 0 else out(items[cur])):
                    branches.append(None)
                    continue
                k = produced[t]
                anc = {j for j in inside if j == k or k in descendants(j)}
                branches.append(sorted(anc))
            flat = [j for b in branches if b for j in b]
            if len(flat) != len(set(flat)) or set(flat) != inside:
                self.problems.append(("branches that share layers (not a series-parallel graph)", m.where))
                break
            start = entry if cur < 0 else out(items[cur])
            written = [
                None if b is None else self.region([items[j] for j in b], start, m.inputs[i], set())
                for i, b in enumerate(branches)
            ]
            stmts += self.merge(m, written, branches, items, start, labels_used, stmts)
            done |= set(flat) | {join}
            cur = join
        return stmts

    def merge(self, m: GNode, written: list, branches: list, items: list, start: str, labels: set, before: list):
        kind = m.kind
        if kind == "add" and len(written) == 2 and None in written:
            main = written[1 - written.index(None)]
            return [Residual(main)]
        if kind == "add" and len(written) == 2:
            # a projection shortcut: one branch is a single module
            for i in (1, 0):
                b = branches[i]
                if len(b) == 1 and isinstance(written[i][0], Seq) and (written[i][0].label or '"').isidentifier():
                    main = written[1 - i]
                    if self.shape(m.inputs[1 - i]) != self.shape(start):
                        return [Residual(main, written[i][0])]
            # a projection of layers of the block's own (keras.applications' `0_conv`, `0_bn`): an unlabelled
            # shortcut, the shorter branch; every statement labelled, so none is numbered otherwise for it
            i = 0 if len(written[0]) < len(written[1]) else 1
            labelled = all(isinstance(s, (Call, Seq)) and s.label for w in written for s in w)
            if labelled and self.shape(m.inputs[1 - i]) != self.shape(start):
                return [Residual(written[1 - i], Seq(None, written[i]))]
        if len(written) == 2 and written[1] is None and len(written[0]) > 2 and kind == "concat":
            # a long skip (U-Net): label the fork, go on, and merge by the label
            label = self.skip_label(before, labels)
            return [*label[1], *written[0], Ref(kind, [label[0]])]
        out = []
        for w in written:
            if w is None:
                out.append(Identity(None))
            elif len(w) == 1 and not isinstance(w[0], (Residual, Ref)):
                out.append(w[0])
            else:
                out.append(Inline(w))
        return [Merge(kind, out)]

    def skip_label(self, before: list, labels: set) -> tuple[str, list]:
        if before and isinstance(before[-1], (Call, Seq)) and before[-1].label and '"' not in before[-1].label:
            return before[-1].label, []
        name, k = "skip", 1
        while name in labels:
            k += 1
            name = f"skip{k}"
        labels.add(name)
        return name, [Identity(name)]


# --- blocks ------------------------------------------------------------------------------------------


def _structure(stmt) -> object:
    """What two instances must share to be one block: everything but argument values and the shortcut's
    presence."""
    if isinstance(stmt, Call):
        return ("call", stmt.label, stmt.name)
    if isinstance(stmt, Seq):
        return ("seq", stmt.label, tuple(_structure(s) for s in stmt.body))
    if isinstance(stmt, Merge):
        return ("merge", stmt.kind, tuple(_structure(s) for s in stmt.branches))
    if isinstance(stmt, Inline):
        return ("inline", tuple(_structure(s) for s in stmt.body))
    if isinstance(stmt, Residual):
        return ("residual", tuple(_structure(s) for s in stmt.main))
    if isinstance(stmt, Output):
        return ("output", stmt.label, _structure(stmt.stmt))
    return (type(stmt).__name__, getattr(stmt, "label", None), tuple(getattr(stmt, "labels", ())))


def _slots(stmt, prefix=()) -> list:
    """(path, call) for every call in `stmt`, the shortcut's included."""
    if isinstance(stmt, Call):
        return [(prefix, stmt)]
    out = []
    children = []
    if isinstance(stmt, (Seq, Inline)):
        children = stmt.body
    elif isinstance(stmt, Merge):
        children = stmt.branches
    elif isinstance(stmt, Residual):
        children = stmt.main
    elif isinstance(stmt, Output):
        children = [stmt.stmt]
    for i, c in enumerate(children):
        out += _slots(c, (*prefix, i))
    if isinstance(stmt, Residual) and stmt.shortcut is not None:
        out += _slots(stmt.shortcut, (*prefix, "shortcut"))
    return out


def _default(op: str, arg: str):
    """The value an op's argument has when a call leaves it out (None: not an op's argument)."""
    cls = REGISTRY.get(op)
    if cls is None:
        return None
    for f in dataclasses.fields(cls):
        if f.name == arg and f.default is not dataclasses.MISSING:
            if arg == "use_bias" and f.default is None:
                return True
            return f.default
    return None


def _name_from_path(path: str) -> str:
    """A block's name where the class is not known: its first instance's label without the index
    (`inception3a` → `inception`, `denselayer1` → `denselayer`), or `block` for a numbered one."""
    last = path.rsplit(".", 1)[-1]
    stem = re.sub(r"[0-9]+[a-z]?$", "", last).rstrip("_-")
    named = stem and not last.isdigit() and _IDENT.fullmatch(stem) and stem not in _RESERVED  # not `block_block`
    return snake_name(stem, "block") if named else "unit"


# A word of a CamelCase name: an acronym (`SE`, `MB` before `Conv`), a capitalised word with the digits after
# it (`Norm2d`), or a run of two-letter halves written as one word (`NeXt` in `ConvNeXt`, `ResNeXt`).
_DIGITS = r"(?:[0-9]+[a-z]*)*"  # the digits after a word, with their unit (`2d`)
_WORD = re.compile(
    rf"(?:[A-Z][a-z](?=[A-Z][a-z]))+[A-Z][a-z](?![a-z]){_DIGITS}|[A-Z]+(?![a-z]){_DIGITS}|[A-Z]?[a-z]+{_DIGITS}|[0-9]+[a-z]*"
)


def snake_words(name: str) -> str:
    """`name` in snake_case, an acronym or `NeXt` kept one word: `ConvNeXtBlock` → `conv_next_block`,
    `SEBlock` → `se_block`, `LayerNorm2d` → `layer_norm2d`, `resnet34` as it is."""
    return "_".join(w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part))


def snake_name(name: str, kind: str) -> str:
    """`name` (a class, a file's stem) as the name of a `kind` ("block", "model"): in snake_case, which must
    start with a letter: `kind_` before one that starts with a digit (`block_1x_1`), `kind` for one without a
    word (`_`)."""
    s = snake_words(name)
    return s if s[:1].isalpha() else f"{kind}_{s}" if s else kind


class Blocks:
    """Turns the module instances of one class and structure into calls of one block."""

    def __init__(self):
        self.defs: dict[str, tuple[list, dict, list]] = {}  # name -> (params, defaults, body)
        self.taken = set(REGISTRY) | _ACTIVATIONS | _RESERVED | {"global_avgpool", "global_maxpool"}

    def make(self, instances: list[Seq], cls: str) -> None:
        """Replace each instance (in place) by a call of a new block."""
        first = instances[0]
        name = snake_name(cls, "block") if cls is not None else _name_from_path(first.path)
        if name == "unit" and first.body and isinstance(first.body[0], Residual):
            name = "residual_unit"
        if name in self.taken:  # an op's or the language's word: `conv_block`; `block` is the body of one
            name += "_body" if name == "block" else "_block"
        base, k = name, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        # the body with the most calls (a shortcut included) is the template
        template = max(instances, key=lambda s: len(_slots(s)))
        tslots = _slots(template)
        per = [{p: c for p, c in _slots(s)} for s in instances]
        params: list[Param] = []
        values: dict[str, list] = {}  # param -> value per instance
        body_args: dict[tuple, dict] = {}
        for path, call in tslots:
            exprs = {}
            names = list(dict.fromkeys(a for p in per if path in p for a in p[path].args))
            for arg in names:
                vec = [p[path].args.get(arg, self.default(call.name, arg)) if path in p else None for p in per]
                known = [v for v in vec if v is not None]
                if all(v == known[0] for v in known):
                    # constant where it is given (a shortcut only some instances have): a parameter it equals
                    # reads better than the number
                    shared = self.param_for(arg, vec, params, values, create=False) if None in vec else None
                    if shared is None:
                        call.args.setdefault(arg, known[0])
                        continue
                    exprs[arg] = shared
                    continue
                exprs[arg] = self.param_for(arg, vec, params, values)
            body_args[path] = exprs
        # defaults: the most common value, where it is that of most instances
        defaults = {}
        for p in params:
            counts = Counter(v for v in values[p.name] if v is not None)
            value, count = counts.most_common(1)[0]
            widths = p.name.rstrip("0123456789") in ("channels", "units")  # a width is a block's own choice
            if count * 2 > len(instances) and len(instances) > 1 and p is not params[0] and not widths:
                defaults[p.name] = value
        ordered = [p.name for p in params if p.name not in defaults] + [p.name for p in params if p.name in defaults]
        body = _substitute(template, body_args)
        self.defs[name] = (ordered, defaults, body.body)
        for i, s in enumerate(instances):
            args = {}
            for pname in ordered:
                v = values[pname][i]
                if v is None:
                    v = defaults.get(pname, next(x for x in values[pname] if x is not None))
                if pname in defaults and v == defaults[pname]:
                    continue
                args[pname] = v
            npos = 0
            for pname in ordered:
                if pname in args and pname not in defaults:
                    npos += 1
                else:
                    break
            label = s.label
            s.__class__ = Call  # the instance becomes a call in place, keeping its label
            s.__dict__.clear()
            s.__dict__.update(label=label, name=name, args=args, positional=npos, number=None, fusable=False)

    def default(self, name: str, arg: str):
        if name in self.defs:
            return self.defs[name][1].get(arg)
        return _default(name, arg)

    def param_for(self, arg: str, vec: list, params: list, values: dict, create: bool = True):
        for p in params:
            pv = values[p.name]
            pairs = [(a, b) for a, b in zip(vec, pv, strict=True) if a is not None and b is not None]
            if not pairs:
                continue
            if all(a == b for a, b in pairs):
                for i, a in enumerate(vec):
                    if pv[i] is None and a is not None:
                        pv[i] = a
                return Param(p.name)
            ints = all(isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and b for a, b in pairs)
            if ints and all(a == pairs[0][0] // pairs[0][1] * b for a, b in pairs) and pairs[0][0] % pairs[0][1] == 0:
                factor = pairs[0][0] // pairs[0][1]
                if factor > 1:
                    return Param(p.name, factor)
            halves = [(_scalar(a), _scalar(b)) for a, b in pairs]
            kernel = arg == "padding" and p.name.rstrip("0123456789") in ("kernel", "pool")
            if kernel and all(isinstance(a, int) and isinstance(b, int) and b >= 1 and a == b // 2 for a, b in halves):
                return Param(p.name, half=True)
        if not create:
            return None
        base = _PARAM_NAMES.get(arg, arg)
        name, k = base, 1
        while name in values:
            k += 1
            name = f"{base}{k}"
        values[name] = list(vec)
        params.append(Param(name))
        return Param(name)


def _substitute(stmt, body_args: dict):
    """A copy of `stmt` with the varying arguments replaced by parameters."""
    out = copy.deepcopy(stmt)
    for path, call in _slots(out):
        for arg, expr in body_args.get(path, {}).items():
            call.args[arg] = expr
    return out


# --- rendering ----------------------------------------------------------------------------------------


def _scalar(v):
    """A square pair as the one number the .cnn text writes for it."""
    return v[0] if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] else v


def _value(v) -> str:
    if isinstance(v, Param):
        if v.half:
            return f"{v.name} // 2"
        return v.name if v.factor == 1 else f"{v.name} * {v.factor}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        text = repr(v)
        return text if "e" in text or "." in text else text + ".0"
    if isinstance(v, tuple):
        if len(v) == 2 and v[0] == v[1] and not isinstance(v[0], tuple):
            return _value(v[0])
        return "(" + ", ".join(_value(x) for x in v) + ")"
    return str(v)


def _positional(name: str) -> tuple:
    op = REGISTRY.get(name)
    if name in _ACTIVATIONS:
        return ("alpha",)
    return getattr(op, "positional", ()) if op is not None else ()


def _field_order(name: str) -> list[str]:
    cls = REGISTRY.get(name)
    return [f.name for f in dataclasses.fields(cls)] if cls is not None else ["alpha"]


def _call(c: Call) -> str:
    if c.name in REGISTRY or c.name in _ACTIVATIONS:  # the op's own order of arguments
        fields = _field_order(c.name)
        c = Call(
            c.label, c.name, dict(sorted(c.args.items(), key=lambda kv: fields.index(kv[0]) if kv[0] in fields else 99))
        )
    order = _positional(c.name)
    parts, positional = [], True
    for i, key in enumerate(order if c.name in REGISTRY or c.name in _ACTIVATIONS else []):
        if positional and key in c.args and (i == 0 or c.name in ("conv", "conv_transpose")) and i < 2:
            parts.append(_value(c.args[key]))
        else:
            positional = False
    done = len(parts)
    keys = [k for k in c.args if k not in order[:done]] if done else list(c.args)
    if c.name not in REGISTRY and c.name not in _ACTIVATIONS:  # a block call: leading required args unnamed
        keys = list(c.args)
        parts = [_value(c.args[k]) for k in keys[: c.positional]]
        keys = keys[c.positional :]
    parts += [f"{k}={_value(c.args[k])}" for k in keys]
    return f"{c.name}({', '.join(parts)})"


def _numbered(label: str | None) -> tuple[tuple[str, str], int] | None:
    """A label as (its text around its last number, that number): `denselayer12` → (("denselayer", ""), 12),
    `"block2-0"` → (('"block2-', '"'), 0); None without a number (or one written with a leading zero)."""
    parts = re.split(r"([0-9]+)", label or "")
    numbers = parts[1::2]
    if not numbers or any(n != str(int(n)) for n in numbers):
        return None
    return ("".join(parts[:-2]), parts[-1]), int(numbers[-1])


def _loop_run(stmts: list, i: int) -> int:
    """The end of the run of block calls from `i` that differ only in a label numbered one more each time
    (`denselayer1: dense_layer()`, `denselayer2: dense_layer()` ...): `i` when there is none of two or more."""
    s = stmts[i]
    if not (isinstance(s, Call) and s.name not in REGISTRY and s.name not in _ACTIVATIONS and _numbered(s.label)):
        return i
    stem, n = _numbered(s.label)
    j = i + 1
    while j < len(stmts):
        t = stmts[j]
        if not isinstance(t, Call) or _numbered(t.label) != (stem, n + j - i) or _call(t) != _call(s):
            break
        j += 1
    return j if j - i > 1 else i


def _loop(s: Call, count: int, pad: str) -> list[str]:
    """`for i in range(count) { label{i + first}: call }`, the label's number computed."""
    (head, tail), first = _numbered(s.label)
    number = "{i}" if first == 0 else f"{{i + {first}}}"
    label = head + number + tail
    return [f"{pad}for i in range({count}) {{", f"{pad}    {label}: {_call(s)}", f"{pad}}}"]


def render_stmts(stmts: list, indent: int) -> list[str]:
    pad = "    " * indent
    lines: list[str] = []
    texts = [(s, render_stmt(s, indent)) for s in stmts]
    i = 0
    while i < len(texts):
        s, text = texts[i]
        j = _loop_run(stmts, i)
        if j > i:
            lines += _loop(s, j - i, pad)
            i = j
            continue
        j = i + 1
        repeatable = (
            isinstance(s, (Call, Seq)) and s.label is None and text[0].startswith(pad) and (not isinstance(s, Seq))
        )
        while repeatable and j < len(texts) and texts[j][1] == text:
            j += 1
        if j - i > 1:
            lines.append(f"{pad}repeat {j - i} {text[0].strip()}")
            lines += text[1:]
        else:
            lines += text
        i = j
    return lines


def _prefix(label) -> str:
    return f"{label}: " if label else ""


def render_stmt(s, indent: int) -> list[str]:
    pad = "    " * indent
    if isinstance(s, Call):
        return [f"{pad}{_prefix(s.label)}{_call(s)}"]
    if isinstance(s, Seq):
        return [f"{pad}{_prefix(s.label)}" + ("sequence {" if s.label else "{"), *render_stmts(s.body, indent + 1),
                f"{pad}}}"]  # fmt: skip
    if isinstance(s, Inline):
        return [f"{pad}inline {{", *render_stmts(s.body, indent + 1), f"{pad}}}"]
    if isinstance(s, Merge):
        return [f"{pad}{s.kind} {{", *render_stmts(s.branches, indent + 1), f"{pad}}}"]
    if isinstance(s, Identity):
        return [f"{pad}{_prefix(s.label)}identity()"]
    if isinstance(s, Ref):
        return [f"{pad}{s.kind}({', '.join(s.labels)})"]
    if isinstance(s, Residual):
        lines = [f"{pad}residual {{", *render_stmts(s.main, indent + 1)]
        if s.shortcut is None:
            return [*lines, f"{pad}}}"]
        name = s.shortcut.label or "inline"  # (inline: its layers are the block's)
        return [*lines, f"{pad}}} shortcut {name} {{", *render_stmts(s.shortcut.body, indent + 1),
                f"{pad}}}"]  # fmt: skip
    if isinstance(s, Output):
        inner = s.stmt
        if isinstance(inner, Call):
            return [f"{pad}{_prefix(s.label)}output {_call(inner)}"]
        return [f"{pad}{_prefix(s.label)}output {{", *render_stmts(inner.body, indent + 1), f"{pad}}}"]
    raise TypeError(s)


# --- the whole --------------------------------------------------------------------------------------


def write(graph: Graph, source: str = "") -> str:
    """The .cnn text of `graph`: its block definitions, then the network."""
    w = Writer(graph)
    root = w.tree()
    if w.problems:
        raise ImportRefused(w.problems, graph.name)
    body = w.scope_body(root)
    if w.problems:
        raise ImportRefused(w.problems, graph.name)
    blocks = Blocks()
    _make_blocks(body, blocks)
    lines = []
    if source:
        lines += [f"# Imported by `cnndsl import` from {source}."]
        lines += ["# Labels are the original's module names: the compiled network loads its weights.", ""]
    for name, (params, defaults, bbody) in blocks.defs.items():
        head = ", ".join(f"{p} = {_value(defaults[p])}" if p in defaults else p for p in params)
        lines += [f"block {name}({head}) {{", *render_stmts(bbody, 1), "}", ""]
    shape = ", ".join(str(d) if isinstance(d, int) else "?" for d in graph.input_shape)
    lines += [f"network {graph.name} {{", f"    input({shape})", *render_stmts(body, 1), "}"]
    return "\n".join(lines) + "\n"


def _walk_seqs(stmts: list, out: list) -> int:
    """(height, Seq) for every module scope under `stmts`, where a scope's height is one more than the
    highest scope inside it; returns the highest height found (0: none)."""
    highest = 0
    for s in stmts:
        children = []
        if isinstance(s, (Seq, Inline)):
            children = s.body
        elif isinstance(s, Merge):
            children = s.branches
        elif isinstance(s, Residual):  # the shortcut stays a sequence: `shortcut name { ... }`
            children = s.main + (s.shortcut.body if s.shortcut is not None else [])
        elif isinstance(s, Output):
            children = [s.stmt]
        inner = _walk_seqs(children, out)
        if isinstance(s, Seq):
            out.append((inner + 1, s))
            inner += 1
        highest = max(highest, inner)
    return highest


_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", ""}


def _is_stage(s: Seq) -> bool:
    """A sequence of calls of one block (a ResNet stage): kept a sequence where the class is not known."""
    return (
        all(isinstance(x, Call) for x in s.body)
        and len({x.name for x in s.body}) == 1
        and (s.body[0].name not in REGISTRY and s.body[0].name not in _ACTIVATIONS)
    )


def _make_blocks(body: list, blocks: Blocks) -> None:
    """Blocks for the module scopes of one class and structure with two or more instances, the lowest first
    (those that hold no other scope), so that the scopes holding them compare by the blocks they call."""
    seqs: list[tuple[int, Seq]] = []
    _walk_seqs(body, seqs)
    for level in sorted({d for d, _ in seqs}):
        order: list[tuple] = []
        groups: dict[tuple, list[Seq]] = {}
        for d, s in seqs:
            if d != level or not isinstance(s, Seq) or (s.cls is not None and s.cls in _CONTAINERS):
                continue
            if s.cls is None and _is_stage(s):
                continue
            key = (s.cls, tuple(_structure(x) for x in s.body))
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(s)
        for key in order:
            instances = groups[key]
            if len(instances) < 2:
                continue
            blocks.make(instances, key[0])
