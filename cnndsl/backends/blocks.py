"""Which instances of a block share one generated class (PyTorch) or function (Keras), and what that code
writes for each argument: the one pass both code generators follow; they only render what it decides.

1. `share`: each generator describes an instance as its steps, in order (what each computes, as far as
   telling steps apart goes: an op kind, a nested block). Instances share code when their steps are the same
   but for optional ones some of them skip: a projection shortcut (`downsample=True`), the closing residual
   steps (`residual=True`), the closing activation a word parameter chooses (`if act == "relu":`). A step
   reading a skipped one reads what the skipped one read (the identity shortcut).
2. `template`: each group is written once for all its instances. Every argument is decided across them by
   `Arguments`: the expression it was written with, in the code's parameters, where that gives every
   instance's value (`channels // 2`); else the one value they all have; else they cannot share the code
   (`Differs`), and the group is split by that value and its parts written in turn.
3. `Signature`: the parameters the code uses, their defaults (a value, or computed from the parameters before
   it), keyword-only after the first default, the flags of optional steps; and the arguments a call passes,
   those the default gives left out.

Also here: the word parameter that chooses a step where instances differ in it (`switch`), and when each value
is read last (`last_reads`). Variables stay each backend's own, as the code each imitates names them: forward
reuses `x` and `out` as it goes and saves `identity` (torchvision); a Keras function gives each branch a
variable of its own, `x`, `shortcut` or the branch's label (keras.applications).
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace

from .. import expr
from . import arith
from .base import literal


@dataclass(frozen=True)
class Step:
    """One step of a block instance, named as in every instance of the block."""

    name: Hashable  # relative to the instance: "conv1", "downsample.0" (a path tuple in PyTorch); "" or () is its input
    what: Hashable  # what it computes, as far as the generator tells steps apart (an op kind, its code)
    inputs: tuple  # the names of the steps it reads
    optional: bool = False  # may some instances skip it?


@dataclass
class Shared:
    """The instances (by index) that share code, and the steps of that code: every step of any of them."""

    steps: list[Step]
    members: list[int] = field(default_factory=list)
    optional: list = field(default_factory=list)  # the names of the steps some members skip, in order found


def share(instances: list[tuple[Hashable, list[Step]]]) -> list[Shared]:
    """Instances as (what else they must agree on, steps) grouped into shared code: each joins the first group
    it fits, in order of use, so that the groups' order and names are deterministic."""
    groups: list[tuple[Hashable, Shared]] = []
    for i, (key, steps) in enumerate(instances):
        for k, g in groups:
            if k == key and (merged := merge(g.steps, steps)) is not None:
                g.steps, skipped = merged
                g.optional += [name for name in skipped if name not in g.optional]
                break
        else:
            g = Shared(list(steps))
            groups.append((key, g))
        g.members.append(i)
    return [g for _, g in groups]


class Differs(Exception):
    """Instances meant to share code differ where no parameter tells them apart. `by` holds, for each of them
    in order, what to split them by (instances alike there stay together)."""

    def __init__(self, by: list):
        super().__init__()
        self.by = by


def template(groups: list[list], write: Callable[[list], object]) -> list[tuple[list, object]]:
    """Each group of instances written as one shared class or function by `write(group)`; a group whose
    instances differ where `write` finds (it raises Differs) is split there, and its parts written in turn,
    in order: the one loop by which both generators decide what shares code."""
    done: list[tuple[list, object]] = []
    todo = list(groups)
    while todo:
        group = todo.pop(0)
        try:
            done.append((group, write(group)))
        except Differs as d:
            split: dict[str, list] = {}
            for member, key in zip(group, d.by, strict=True):
                split.setdefault(repr(key), []).append(member)
            if len(split) == 1:  # they differ in nothing `by` shows: apart, each can only agree with itself
                split = {str(i): [member] for i, member in enumerate(group)}
            todo[:0] = list(split.values())
    return done


# --- arguments -----------------------------------------------------------------------------------------------


def gives(result, value, exact: bool = False) -> bool:
    """Python computed `result` where the compiler computed `value`: an int stands for a pair of it, an int
    for a float. `exact`: of the same types too (an argument passed on to a block must be the value its code
    was checked with)."""
    if isinstance(value, tuple):
        if type(result) is int and not exact:
            result = (result,) * len(value)
        return (
            isinstance(result, tuple)
            and len(result) == len(value)
            and all(gives(r, v, exact) for r, v in zip(result, value))
        )
    if value is None:
        return result is None
    if isinstance(value, str):  # a word: the compiler's Word is a str
        return isinstance(result, str) and result == value
    if isinstance(value, bool) or type(value) is int or exact:
        return type(result) is type(value) and result == value
    return type(result) in (int, float) and result == value


def alike(values: list) -> bool:
    """Do the instances all have one value (of one type: code checked with it gets exactly it)?"""
    return all(gives(v, values[0], exact=True) for v in values)


class Arguments:
    """What the code shared by some instances writes for their arguments: the expression each was written
    with, in the code's parameters, where it gives every instance's value (`/` as `//` where each divides
    exactly: a size); else the value they all have; else they cannot share the code (Differs)."""

    def __init__(self, rename: dict[str, str], envs: list[dict], words: bool = True, used: set | None = None):
        self.rename = rename  # .cnn parameter -> Python name
        self.envs = envs  # per instance: Python name -> value
        self.words = words  # may an expression hold a word (a parameter `act = relu`)?
        self.used: set[str] = set() if used is None else used  # the parameters the code has read so far

    def expression(self, e: expr.Expr | None, values: list, exact: bool = False) -> str | None:
        """`e` as Python if it gives each instance's value (`values`, one per env), else None."""
        if e is None:
            return None
        try:
            tree = expr.python(e, self.rename)
        except ValueError:
            return None  # not the arithmetic the compiler writes: the values will do
        return self.check(tree, values, exact)

    def check(self, tree: ast.expr, values: list, exact: bool = False) -> str | None:
        """A Python expression of the parameters as source, if it gives each instance's value (None for one
        without parameters: the caller writes the value)."""
        if not self.words and any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(tree)):
            return None
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        if not self.reproduces(tree, values, exact):
            tree = _floor_division(tree)
            if tree is None or not self.reproduces(tree, values, exact):
                return None
        if not names:
            return None  # arithmetic on numbers alone: the caller writes its value, as it writes values
        self.used |= names
        return ast.unparse(tree)

    def reproduces(self, tree: ast.expr, values: list, exact: bool = False) -> bool:
        """Does the tree give each instance's value?"""
        for env, value in zip(self.envs, values, strict=True):
            try:
                result = arith.evaluate(tree, env)  # walks the tree: no eval, numbers and words only
            except (ArithmeticError, TypeError, ValueError, NameError):
                return False
            if not gives(result, value, exact) or (not self.words and isinstance(result, str)):
                return False
        return True

    def same(self, values: list):
        """The one value every instance has; Differs if they have several."""
        if not alike(values):
            raise Differs(values)
        return values[0]

    def arg(self, e: expr.Expr | None, values: list, exact: bool = False, literal=literal) -> str:
        """An argument as source: its expression where that gives every value, else the one value."""
        text = self.expression(e, values, exact)
        return text if text is not None else literal(self.same(values))


def _floor_division(tree: ast.expr) -> ast.expr | None:
    """`channels / 2` as `channels // 2` (None without a `/`): a size the compiler took as the integer it
    is, wanted as an int. The caller checks it gives every value."""
    floor = ast.parse(ast.unparse(tree), mode="eval").body  # a copy to rewrite
    divisions = [n for n in ast.walk(floor) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
    for n in divisions:
        n.op = ast.FloorDiv()
    return floor if divisions else None


def merge(template: list[Step], steps: list[Step]) -> tuple[list[Step], list] | None:
    """`template` extended to serve `steps` too, and the steps one has and the other lacks; None if they
    differ in more than optional steps."""
    mine, theirs = {s.name for s in template}, {s.name for s in steps}
    extra_t = [s for s in template if s.name not in theirs]
    extra_s = [s for s in steps if s.name not in mine]
    if not all(s.optional for s in extra_t + extra_s):
        return None
    if skipping(template, extra_t) != skipping(steps, extra_s):
        return None
    skipped = [s.name for s in extra_t + extra_s]
    merged, i, j = [], 0, 0
    while i < len(template) or j < len(steps):
        if i < len(template) and template[i].name in skipped:
            merged.append(template[i])
            i += 1
        elif j < len(steps) and steps[j].name in skipped:
            merged.append(steps[j])
            j += 1
        else:  # the same step: it reads what either reads through a skippable step
            a, b = template[i], steps[j]
            inputs = tuple(y if y in skipped else x for x, y in zip(a.inputs, b.inputs, strict=True))
            merged.append(replace(a, inputs=inputs))
            i, j = i + 1, j + 1
    return merged, skipped


def closing(steps: list[Step], output, start, readers, projection: bool = True) -> tuple[Hashable, list[Step]]:
    """A block instance's steps with those that close it marked optional, as other instances may skip them or
    a word parameter choose them; and what it returns without them. They are the closing activation
    (`if act == "relu":`), or the add of the block's input (`start`), or of an optional one-step projection of
    it where `projection`, with the stochastic depth before it read by it alone (`residual=True`)."""
    last = steps[-1] if steps and steps[-1].name == output else None
    if last is not None and last.what == "activation":
        return last.inputs[0], [*steps[:-1], replace(last, optional=True)]
    if last is None or last.what != "add" or len(last.inputs) != 2:
        return output, steps
    shortcut = next((s for s in steps if s.name == last.inputs[1]), None)
    projected = projection and shortcut is not None and shortcut.optional and shortcut.inputs == (start,)
    if last.inputs[1] != start and not projected:
        return output, steps
    k = len(steps) - 1
    while k > 0 and steps[k - 1].what == "stochastic_depth":
        if steps[k].inputs[0] != steps[k - 1].name or readers(steps[k - 1].name) != 1:
            break
        k -= 1
    return steps[k].inputs[0], [*steps[:k], *(replace(s, optional=True) for s in steps[k:])]


def skipping(steps: list[Step], skipped: list[Step]) -> list[Step]:
    """The steps without the skipped ones, whose readers read what the skipped ones read instead."""
    through = {s.name: s.inputs[0] for s in skipped}

    def resolve(name):
        while name in through:
            name = through[name]
        return name

    return [replace(s, inputs=tuple(resolve(n) for n in s.inputs)) for s in steps if s.name not in through]


def last_reads(steps, start: int = 0) -> dict:
    """When each value is read last, as the index of the last step that reads it (its own index where none
    does), for steps as (name, the names they read) numbered from `start`: how long a variable must hold the
    value. Each backend names its variables its own way, from these lifetimes."""
    end: dict = {}
    for t, (name, inputs) in enumerate(steps, start):
        end.setdefault(name, t)
        for ref in inputs:
            end[ref] = max(end.get(ref, t), t)
    return end


def defaults(signature: dict, rename: dict[str, str], first: dict) -> dict[str, ast.expr]:
    """The defaults of a shared class's or function's parameters, by Python name (`rename`): an expression of
    the parameters before it, as the compiler computes it (checked with the first instance's values, `first`),
    or a bare word (`act = none`) as that string. A parameter whose default is neither is required."""
    out: dict[str, ast.expr] = {}
    earlier: dict = {}
    for p, e in signature.items():
        if e is not None:
            try:
                tree = expr.python(e, rename)
                arith.evaluate(tree, earlier)  # walks the tree: no eval, numbers and words only
                out[rename[p]] = tree
            except (ValueError, ArithmeticError, TypeError, NameError):
                word = e.name if isinstance(e, expr.Param) else e.value if isinstance(e, expr.Const) else None
                if isinstance(word, str) and word.isidentifier() and word not in rename:
                    out[rename[p]] = ast.Constant(word)
        earlier[rename[p]] = first.get(p)
    return out


def unparse(tree: ast.expr) -> str:
    """A default as source: a word as ruff quotes it, an expression as Python writes it."""
    return literal(tree.value) if isinstance(tree, ast.Constant) else ast.unparse(tree)


def switch(params, cases: list[tuple[dict, Hashable]]) -> str | None:
    """The first parameter whose value, a word in every instance, tells which variant of a step each instance
    has (`if act == relu { relu() } else if act == hardswish { hardswish() }`), as (arguments, variant) pairs;
    None if none does. Both generators write the step under `if act == "relu": ...` then."""
    for p in params:
        table: dict = {}
        if all(isinstance(args.get(p), str) and table.setdefault(args[p], v) == v for args, v in cases):
            return p
    return None


def parameters_used(used: set[str], defaults: dict[str, ast.AST | None]) -> set[str]:
    """The parameters a shared class or function takes: those its code uses, and those the defaults of these
    are computed from (`padding=None`, then `padding = kernel // 2`)."""
    out, todo = set(), list(used)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            if defaults.get(p) is not None:
                todo += [n.id for n in ast.walk(defaults[p]) if isinstance(n, ast.Name)]
    return out


@dataclass
class Signature:
    """The parameters of a shared class or function, as both generators write them: those its code uses, in
    the block's order, each required or with a default (a value; `None` where the default is computed from
    the parameters before it, first thing in the body); keyword-only after the first default; then the values
    lifted to parameters (keyword-only); then the flags that turn optional steps on (`downsample=False`).

    A lifted parameter holds what the instances pass a nested block where they differ and no parameter gives
    it (`squeeze_excitation(x, expanded, squeeze)` where each computes `squeeze` with a function): the callers
    pass it (`squeeze=24`), as keras.applications' blocks take `se_ratio`, rather than the code being split."""

    names: dict[str, str]  # .cnn parameter -> Python name, for the parameters the code uses
    defaults: dict[str, ast.expr | None]  # Python name -> default (None: required)
    flags: list[str] = field(default_factory=list)
    lifted: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, signature: dict, rename: dict[str, str], first: dict, used: set[str], flags=(), lifted=()) -> Signature:
        """The parameters the code uses (`used`, Python names) and those their defaults are computed from; their
        defaults as the block wrote them (`signature`: .cnn name -> expression), checked with `first`'s values."""
        found = defaults(signature, rename, first)
        used = parameters_used(used, found)
        names = {p: py for p, py in rename.items() if py in used}
        return cls(names, {py: found.get(py) for py in names.values()}, list(flags), list(lifted))

    def parameters(self) -> list[tuple[str, str | None]]:
        """(name, its default as source or None where required), with ("*", None) before a required parameter
        that follows a default; the flags last."""
        out: list[tuple[str, str | None]] = []
        keyword_only = star = False
        for py, default in self.defaults.items():
            if default is None:
                if keyword_only and not star:
                    out.append(("*", None))
                    star = True
                out.append((py, None))
            else:
                keyword_only = True
                out.append((py, "None" if _uses_names(default) else unparse(default)))
        if self.lifted and not star:
            out.append(("*", None))
        out += [(py, None) for py in self.lifted]
        return out + [(flag, "False") for flag in self.flags]

    def computed(self) -> list[tuple[str, str]]:
        """The defaults computed first thing in the body: `if padding is None: padding = kernel // 2`."""
        return [(py, ast.unparse(d)) for py, d in self.defaults.items() if d is not None and _uses_names(d)]

    def arguments(
        self,
        here: Arguments,
        exprs: dict,
        values: dict[str, list],
        lifted: dict[str, list] | None = None,
        lift=None,
        sources: dict[str, str] | None = None,
    ) -> list[str] | None:
        """What a call passes for the instances calling this code, in order: each argument as the caller wrote
        it (`exprs`, .cnn name -> expression) where that gives every instance's value (`values`) in the caller's
        parameters (`here`); else their one value, left out where the default gives it; by position up to the
        first default; then the lifted parameters' values (`lifted`, by Python name). Where the instances pass
        different values no parameter gives, `lift(name, values)` names the caller's own parameter to pass
        instead; None if it gives none (or there is no `lift`): the instances cannot share the caller's code.
        `sources`, a dict if given, gets each parameter's argument by Python name, those left out too, up to
        where the instances cannot share the code."""
        callee = Arguments(
            self.names, [{py: values[p][i] for p, py in self.names.items()} for i in range(len(here.envs))]
        )
        out: list[str] = []
        keyword = False
        for p, py in self.names.items():
            keyword = keyword or self.defaults[py] is not None
            source = here.expression(exprs.get(p), values[p], exact=True)
            if source is None and not alike(values[p]):
                source = lift(py, values[p]) if lift else None
                if source is None:
                    return None
            elif source is None:
                source = literal(values[p][0])
                default = self.defaults[py]
                if default is not None and callee.reproduces(default, values[p], exact=True):
                    source = None  # left out
            if sources is not None:
                sources[py] = source or literal(values[p][0])
            if source is not None:
                out.append(f"{py}={source}" if keyword else source)
        for py in self.lifted:
            given = (lifted or {})[py]
            source = literal(given[0]) if alike(given) else None
            source = source or (lift(py, given) if lift else None)
            if source is None:
                return None
            out.append(f"{py}={source}")
        return out


def _uses_names(tree: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) for n in ast.walk(tree))


def flag_name(label: str, taken) -> str:
    """The parameter that turns an optional step on, named after its label (`downsample=True`; `projection`
    for a step known by its position), with a `_` where it would hide a name the code uses."""
    name = label.replace("-", "_") if label and not label.isdigit() else "projection"  # block1-0: block1_0
    while name in taken or keyword.iskeyword(name):
        name += "_"
    return name
