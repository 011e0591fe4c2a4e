"""Checking a file with syntax errors costs about what checking it without them does: `cnndsl check` reports
every syntax error (the parser recovers after each one, trying the tokens that could be missing), and each
try once copied the whole file parsed so far. Target: a chain of 10,000 layers with 20 mistyped statements at
its end checks within 4 times the time of the correct chain (it took 60 times with the copies)."""

from __future__ import annotations

import time

from common import chain, table

from cnndsl.compiler import Compiler
from cnndsl.errors import CnnDslError
from cnndsl.project import check_compiled, recovered

LAYERS = 10_000
MISTAKES = 20


def check(text: str) -> tuple[int, float]:
    """(errors, seconds) of what `cnndsl check` does for a file."""
    t = time.perf_counter()
    c = Compiler(max_nodes=2_000_000)
    try:
        c.add_text(text, "chain.cnn")
        errors = check_compiled(c, "chain.cnn")[1]
    except CnnDslError as e:
        errors = recovered(c, e)
    return len(errors), time.perf_counter() - t


def run() -> tuple[str, bool]:
    valid = chain(LAYERS)
    broken = valid.removesuffix("}\n") + "    conv(16 3)\n" * MISTAKES + "}\n"  # a ',' missing in each
    check(valid)  # warm the parser's caches
    runs = [(check(valid), check(broken)) for _ in range(3)]  # alternated, so that load affects both alike
    valid_errors, valid_s = min((r[0] for r in runs), key=lambda r: r[1])
    broken_errors, broken_s = min((r[1] for r in runs), key=lambda r: r[1])
    ratio = broken_s / valid_s
    rows = [
        [f"chain of {LAYERS:,} layers", valid_errors, f"{valid_s:.3f}"],
        [f"the same with {MISTAKES} syntax errors at its end", broken_errors, f"{broken_s:.3f}"],
        ["ratio (target ≤ 4)", "", f"**{ratio:.2f}**"],
    ]
    ok = broken_errors == MISTAKES and ratio <= 4
    return "## Syntax error recovery (best of 3)\n\n" + table(["file", "errors", "check s"], rows), ok


if __name__ == "__main__":
    print(run()[0])
