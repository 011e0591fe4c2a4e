"""Small helpers that several stages share and that depend on no other cnndsl module."""

from __future__ import annotations

import dataclasses
import functools
import gc
import operator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .expr import Expr


def without_gc(method):
    """Run without the cyclic garbage collector: parsing, expansion, summaries and code generation allocate
    millions of small acyclic objects, and the collector's passes over them (and over the network they
    read) cost as much as the work itself on large networks."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def literal(value) -> str:
    """A value as a .cnn file writes it: `true`, `(3, 5)`, `same`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ")"
    return str(value)


def block_call(scope) -> str:
    """A block instance as a call with every argument named: `basic(channels=128, stride=2)`."""
    args = ", ".join(f"{k}={literal(v)}" for k, v in scope.args.items())
    return f"{scope.block}({args})"


def short_call(scope, signature: dict[str, Expr | None] | None, repeat: int = 1) -> str:
    """A block instance's call in its short form, the one summaries and diagrams share: the leading arguments
    by position (the required ones, which the definition lists first), the others by name and only where
    they differ from their default. `conv_bn(64, 1)`, `basic(128, stride=2)`, `basic(64) ×3` for a run.
    signature: the block's parameters in order with their defaults (cnndsl.expr expressions; None: required,
    or a default the IR has no expression for), as `Network.blocks` holds them; without it every argument
    goes by position."""
    parts, positional = [], True
    for name, value in scope.args.items():
        text = literal(value)
        default = signature.get(name) if signature is not None else None
        if signature is None or (positional and default is None):
            parts.append(text)
            continue
        positional = False  # after a named or left-out argument, the rest go by name
        if text != str(default) and not _is_default(value, default, scope.args):
            parts.append(f"{name}={text}")
    return f"{scope.block}({', '.join(parts)})" + (f" ×{repeat}" if repeat > 1 else "")


def _is_default(value, default, args: dict) -> bool:
    """Is `value` what the default gives, computed from the other arguments (`width = channels * 2`)?"""
    from .expr import evaluate  # expr imports this module

    try:
        computed = evaluate(default, args)
    except (ArithmeticError, TypeError, KeyError):  # a parameter of no value here (a word: `act = relu`), no default
        return False
    return _same(computed, value)


def _same(a, b) -> bool:
    """Equal values: numbers whatever their type (the default `c / 2` is 4.0 in Python, 4 to the compiler), a
    truth value only to a truth value, a word only to a word, tuples item by item."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    numbers = {int, float}
    if type(a) in numbers and type(b) in numbers:
        return a == b
    return type(a) is type(b) and a == b


# The extra that installs each optional package cnndsl imports; a package two extras use is named by the
# command that needed it (numpy: ONNX or `apply`).
EXTRAS = {
    "torch": "torch", "tensorflow": "keras", "keras": "keras", "onnx": "onnx", "onnxruntime": "onnx",
    "graphviz": "render", "PIL": "images", "sklearn": "images",
}  # fmt: skip


def missing_extra(error: ImportError, default: str | None = None) -> str | None:
    """The extra to install for a failed import: the one that provides the module, else `default` (what the
    command or function needs), else None (not a module an extra provides)."""
    root = (error.name or "").split(".")[0]
    return EXTRAS.get(root, default if root else None)


def extra_hint(extra: str) -> str:
    """`pip install 'cnndsl[onnx]'`; `torch,keras` for two."""
    return f"pip install 'cnndsl[{extra}]'"


def frozen_dataclass(cls=None, /, **options):
    """dataclasses.dataclass(frozen=True) for a subclass of Frozen, without the methods it would generate with
    an exec each, per class: Frozen implements __eq__, __hash__, __repr__, __setattr__ and __delattr__ once,
    and __init__ is made the first time the class is instantiated (a check of ResNet-152 builds a dozen of the
    ~60 op and IR classes). For the ops and the IR, that is ~10 ms of `cnndsl check`'s start-up."""
    options = {"repr": False, "eq": False, **options, "frozen": False, "init": False}

    def make(cls):
        cls = dataclasses.dataclass(cls, **options)
        cls.__init__ = _first_init(cls)
        return cls

    return make if cls is None else make(cls)


def _first_init(cls: type):
    def __init__(self, *args, **kwargs):
        cls.__init__ = _init(cls)  # from now on
        cls.__init__(self, *args, **kwargs)

    return __init__


def _init(cls: type):
    """The __init__ a frozen dataclass has: arguments by position (unless kw_only) or by name, defaults, then
    __post_init__; fields set with object.__setattr__, not through Frozen.__setattr__ (its check that a field
    is not set yet cost ~6 ms of checking ResNet-152). Field names are identifiers, as dataclasses requires."""
    env = {"_set": object.__setattr__, "_MISSING": dataclasses.MISSING}
    positional, keyword, body = [], [], []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            env[f"_d_{f.name}"] = f.default
            param = f"{f.name}=_d_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_f_{f.name}"] = f.default_factory
            param = f"{f.name}=_MISSING"
            body.append(f"if {f.name} is _MISSING: {f.name} = _f_{f.name}()")
        else:
            param = f.name
        (keyword if f.kw_only else positional).append(param)
        body.append(f"_set(self, {f.name!r}, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    params = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    exec(f"def __init__({params}):\n" + "".join(f"    {line}\n" for line in body or ["pass"]), env)
    env["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    return env["__init__"]


class Frozen:
    """What dataclasses generate for a class with frozen=True and eq=True, written once. A field is set once,
    by __init__ (or by pydantic, building from JSON); object.__setattr__ still sets one, as it does on a
    frozen dataclass."""

    __slots__ = ()

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        values = _compared(self.__class__)
        return values(self) == values(other)

    def __hash__(self):
        return hash(_compared(self.__class__)(self))

    def __repr__(self):
        shown = (f.name for f in dataclasses.fields(self) if f.repr)
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def __setattr__(self, name, value):
        if _is_set(self, name):
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _is_set(obj, name: str) -> bool:
    """Whether `name` already has a value on obj: in its __dict__, or in its slot."""
    values = getattr(obj, "__dict__", None)
    if values is not None and name not in getattr(type(obj), "__slots__", ()):
        return name in values
    try:
        object.__getattribute__(obj, name)
    except AttributeError:
        return False
    return True


@functools.cache
def _compared(cls: type):
    """A function from an instance to the tuple of the fields its equality compares."""
    names = tuple(f.name for f in dataclasses.fields(cls) if f.compare)
    if not names:
        return lambda obj: ()
    get = operator.attrgetter(*names)
    return get if len(names) > 1 else lambda obj: (get(obj),)
