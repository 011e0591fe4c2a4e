"""Small helpers that several stages share and that depend on no other cnndsl module."""

from __future__ import annotations

import functools
import gc


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


def short_call(scope, signature: dict[str, str | None] | None, repeat: int = 1) -> str:
    """A block instance's call in its short form, the one summaries and diagrams share: the leading arguments
    by position (the required ones, which the definition lists first), the others by name and only where
    they differ from their default. `conv_bn(64, 1)`, `basic(128, stride=2)`, `basic(64) ×3` for a run.
    signature: the block's parameters in order with their defaults as source text (None: required), as
    `Network.blocks` holds them; without it every argument goes by position."""
    parts, positional = [], True
    for name, value in scope.args.items():
        text = literal(value)
        if signature is None or (positional and signature.get(name) is None):
            parts.append(text)
            continue
        positional = False  # after a named or left-out argument, the rest go by name
        if text != signature.get(name):
            parts.append(f"{name}={text}")
    return f"{scope.block}({', '.join(parts)})" + (f" ×{repeat}" if repeat > 1 else "")


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
