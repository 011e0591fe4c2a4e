"""Target 3: compiling ResNet-152 to each backend's source (and to DOT) costs less than importing that
backend's framework."""

from __future__ import annotations

import statistics
import subprocess
import time

from common import PYTHON, ROOT, table

EMIT = {
    "torch": ("cnndsl.backends.torch", "emit", "torch"),
    "keras": ("cnndsl.backends.keras", "emit", "keras"),
    "onnx": ("cnndsl.backends.onnx", "to_onnx", "onnx"),
    "dot": ("cnndsl.diagram", "render", "graphviz"),
}
CODE = """
import importlib, statistics, time, cnndsl
net = cnndsl.load("architectures/resnet152.cnn")
fn = getattr(importlib.import_module({module!r}), {function!r})
fn(net)  # warm: the framework is imported here, not in the timed runs
times = []
for _ in range(5):
    t = time.perf_counter(); fn(net); times.append(time.perf_counter() - t)
print(statistics.median(times))
"""


def import_time(module: str) -> float:
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([PYTHON, "-c", f"import {module}"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    base = statistics.median(
        [_timed([PYTHON, "-c", "pass"]) for _ in range(5)]
    )  # interpreter start-up is not the framework's
    return statistics.median(times) - base


def _timed(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def run() -> tuple[str, bool]:
    rows, ok = [], True
    for name, (module, function, framework) in EMIT.items():
        out = subprocess.run(
            [PYTHON, "-c", CODE.format(module=module, function=function)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        emit = float(out.stdout.strip().splitlines()[-1])
        imp = import_time(framework)
        ok &= emit < imp
        rows.append([name, f"{emit * 1000:.0f} ms", f"import {framework}: {imp * 1000:.0f} ms", f"{emit / imp:.2f}"])
    text = "## Emission of ResNet-152 (median of 5) vs importing the framework\n\n"
    return text + table(["backend", "emit", "framework import", "ratio (target < 1)"], rows), ok


if __name__ == "__main__":
    print(run()[0])
