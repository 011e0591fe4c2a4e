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
