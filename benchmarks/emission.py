"""Target 3: compiling ResNet-152 to each backend's source (and to DOT) costs less than importing that
backend's framework."""

from __future__ import annotations

import statistics
import subprocess
import time

from common import PYTHON, ROOT, table

# backend: (module, the call that emits, given `net` and `fn`; the framework whose import it is compared with)
EMIT = {
    "torch": ("cnndsl.backends.torch", "emit", "fn(net)", "torch"),
    "keras": ("cnndsl.backends.keras", "emit", "fn(net)", "keras"),
    # ONNX holds the weights: packing ResNet-152's 60 M of them (240 MB) is part of emitting; drawing them
    # is not (as instantiating the PyTorch model is not part of emitting its source): see INIT.
    "onnx": ("cnndsl.backends.onnx", "to_onnx", "fn(net, weights=weights)", "onnx"),
    "dot": ("cnndsl.diagram", "render", "fn(net)", "graphviz"),
}
CODE = """
import importlib, statistics, time, cnndsl
net = cnndsl.load("architectures/resnet152.cnn")
fn = getattr(importlib.import_module({module!r}), {function!r})
if {module!r} == "cnndsl.backends.onnx":
    weights = importlib.import_module({module!r}).initial_weights(net)
{call}  # warm: the framework is imported here, not in the timed runs
times = []
for _ in range(5):
    t = time.perf_counter(); {call}; times.append(time.perf_counter() - t)
print(statistics.median(times))
"""
# Reported, with no target: drawing ResNet-152's initial weights for `cnndsl compile --backend onnx`.
INIT = ("cnndsl.backends.onnx", "initial_weights", "fn(net)", "onnx")


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


def emit_time(module: str, function: str, call: str) -> float:
    out = subprocess.run(
        [PYTHON, "-c", CODE.format(module=module, function=function, call=call)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def run() -> tuple[str, bool]:
    rows, ok = [], True
    for name, (module, function, call, framework) in EMIT.items():
        emit = emit_time(module, function, call)
        imp = import_time(framework)
        ok &= emit < imp
        rows.append([name, f"{emit * 1000:.0f} ms", f"import {framework}: {imp * 1000:.0f} ms", f"{emit / imp:.2f}"])
    init = emit_time(*INIT[:3])
    rows.append(["onnx: drawing the 60 M initial weights (no target)", f"{init * 1000:.0f} ms", "", ""])
    text = "## Emission of ResNet-152 (median of 5) vs importing the framework\n\n"
    return text + table(["backend", "emit", "framework import", "ratio (target < 1)"], rows), ok


if __name__ == "__main__":
    print(run()[0])
