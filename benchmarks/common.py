"""Helpers shared by the benchmarks: generated networks, timing, and a markdown table."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The console script pip installs beside the interpreter (a plain `cnndsl` for users), else `python -m cnndsl`.
_SCRIPT = Path(PYTHON).with_name("cnndsl")
CNNDSL = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "cnndsl"]


def compile_bytecode() -> None:
    """Write cnndsl's .pyc files first, as pip does on install: an editable checkout run with
    PYTHONDONTWRITEBYTECODE would otherwise compile every module on every start."""
    import compileall

    compileall.compile_dir(ROOT / "cnndsl", quiet=1)


def chain(layers: int) -> str:
    """A plain chain of conv / batchnorm / relu layers."""
    unit = "    conv(16, 3, padding=1, use_bias=false)\n    batchnorm()\n    relu()"
    body = "\n".join(unit for _ in range(layers // 3))
    return f"network chain {{\n    input(16, 32, 32)\n{body}\n}}\n"


def residual_stack(layers: int) -> str:
    """A deep stack of residual blocks (6 nodes each: conv, bn, relu, conv, bn, add), written with repeat."""
    return (
        "block unit(c) {\n    residual {\n        conv(c, 3, padding=1, use_bias=false); batchnorm(); relu()\n"
        "        conv(c, 3, padding=1, use_bias=false); batchnorm()\n    }\n}\n"
        f"network stack {{\n    input(16, 32, 32)\n    body: sequence {{ repeat {layers // 6} unit(16) }}\n}}\n"
    )


def median_time(fn, runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def alternate(commands: dict[str, list[str]], runs: int = 15) -> dict[str, float]:
    """Median wall time of each command as a fresh process, the commands alternated run by run."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
