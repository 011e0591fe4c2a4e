"""Target: importing ResNet-152 (`cnndsl.from_torch`: trace, write the .cnn text, compile it) takes under 1 s
beyond importing the framework.

Each run is a fresh process that imports torch and cnndsl and builds the model from
architectures/resnet152.cnn (none of which is timed), then times the first `from_torch` call: it pays for
importing torch.fx and cnndsl's importers too, as `cnndsl import` does once. The median over the runs is the
result; the warm time (a second call in the same process) shows the import's own work.

The ONNX case times `cnndsl.from_onnx` of ConvNeXt-Tiny (28 M parameters, written by cnndsl's ONNX backend,
not timed): a second call, once onnx is loaded. Its shape inference runs on a copy without the weights' data,
which took most of the time when it serialised them (1.3 s before).
"""

from __future__ import annotations

import statistics
import subprocess

from common import PYTHON, ROOT

SCRIPT = """
import time
import torch
import cnndsl
net = cnndsl.load("architectures/resnet152.cnn")
model = cnndsl.to_torch(net)
t0 = time.perf_counter()
imported = cnndsl.from_torch(model, net.input_shape, name="resnet152")
t1 = time.perf_counter()
cnndsl.from_torch(model, net.input_shape, name="resnet152")
t2 = time.perf_counter()
assert imported.params == net.params
print(t1 - t0, t2 - t1, len(imported.to_cnn().splitlines()))
"""

ONNX_SCRIPT = """
import time
import torch
import cnndsl
from cnndsl.backends.onnx import onnx_from_torch
net = cnndsl.load("architectures/convnext.cnn", "convnext_tiny")
model = onnx_from_torch(net, cnndsl.to_torch(net).eval())
cnndsl.from_onnx(model, name="convnext_tiny")
t0 = time.perf_counter()
imported = cnndsl.from_onnx(model, name="convnext_tiny")
assert imported.params == net.params
print(time.perf_counter() - t0)
"""


def run(runs: int = 5) -> tuple[str, bool]:
    cold, warm = [], []
    for _ in range(runs):
        out = subprocess.run([PYTHON, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, check=True).stdout
        first, second, lines = out.split()
        cold.append(float(first))
        warm.append(float(second))
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    onnx_s = statistics.median(
        float(subprocess.run([PYTHON, "-c", ONNX_SCRIPT], capture_output=True, text=True, cwd=ROOT, check=True).stdout)
        for _ in range(3)
    )
    ok = cold_s < 1.0
    text = (
        "## Import speed (`cnndsl.from_torch`, ResNet-152)\n\n"
        f"Target: under 1 s beyond importing torch. Median of {runs} fresh processes.\n\n"
        "| | seconds |\n|---|---|\n"
        f"| first import in a process (torch.fx and cnndsl.importers loaded) | {cold_s:.3f} |\n"
        f"| a second import (trace, write, compile) | {warm_s:.3f} |\n"
        f"| `from_onnx`, ConvNeXt-Tiny (median of 3 processes, a second import) | {onnx_s:.3f} |\n\n"
        f"The written file has {lines} lines."
    )
    return text, ok


if __name__ == "__main__":
    print(run()[0])
