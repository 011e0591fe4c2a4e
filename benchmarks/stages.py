"""Where the time goes, per stage, for ResNet-152 and chains of 5,000 and 50,000 layers: parse (Lark's lexer
and LALR parser with the tree built inside it), expansion with shape inference, the summary, IR JSON, and
each emitter. A quadratic stage would cost 10× per node at 50,000 layers what it costs at 5,000; the ratios
stay near 1 (what moves them is the caches and the machine, not the algorithm)."""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import time

from common import ROOT, chain, table

import cnndsl  # noqa: F401  (warm imports outside the timings)
from cnndsl.compiler import Compiler
from cnndsl.summary import table as summary_table


def stages(text: str, path: str) -> tuple[int, list[float]]:
    """(nodes, seconds per stage: parse, expand + infer, summary, IR JSON, torch, keras, DOT)."""
    from cnndsl.backends import keras, torch
    from cnndsl.diagram import render

    times = []
    t = time.perf_counter()

    def lap():
        nonlocal t
        now = time.perf_counter()
        times.append(now - t)
        t = now

    c = Compiler(max_nodes=2_000_000)
    c.add_text(text, path)  # the parse, as cnndsl.loads and the command line run it
    lap()
    net = c.compile()
    lap()
    for step in (summary_table, lambda n: n.to_json(), torch.emit, keras.emit, lambda n: render(n).source):
        step(net)
        lap()
    return len(net.nodes), times


def hotspots(text: str) -> str:
    prof = cProfile.Profile()
    prof.enable()
    c = Compiler()
    c.add_text(text)
    c.compile()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(8)
    keep = [line for line in out.getvalue().splitlines() if line.strip() and "/" in line]
    keep = [re.sub(r"\S*/(site-packages|cnndsl)/", r"\1/", line.strip()) for line in keep]  # paths from the package
    return "\n".join(line[:140] for line in keep[:8])


def run() -> tuple[str, bool]:
    resnet = (ROOT / "architectures" / "resnet152.cnn").read_text().replace('import "blocks/resnet.cnn"', "")
    resnet = (ROOT / "architectures" / "blocks" / "resnet.cnn").read_text() + resnet
    stages(resnet, "resnet152.cnn")  # warm: every module imported, grammar loaded
    rows, per_node = [], {}
    for name, text in [("resnet152", resnet), ("chain of 5,000", chain(5_000)), ("chain of 50,000", chain(50_000))]:
        runs = [stages(text, "net.cnn") for _ in range(3)]
        nodes, times = runs[0][0], [min(stage) for stage in zip(*(r[1] for r in runs))]  # each stage's best of 3
        per_node[name] = [x / nodes for x in times]
        rows.append([name, f"{nodes:,}", *(f"{x * 1000:.1f}" for x in times)])
    ratios = [b / a for a, b in zip(per_node["chain of 5,000"], per_node["chain of 50,000"])]
    rows.append(["50k / 5k per node", "", *(f"{r:.2f}" for r in ratios)])
    header = ["network", "nodes", "parse ms", "expand + infer ms", "summary ms", "IR JSON ms", "torch source ms",
              "keras source ms", "DOT ms"]  # fmt: skip
    text = "## Profile, per stage (best of 3)\n\n" + table(header, rows)
    text += "\n\nTop functions by own time, parsing and expanding the chain of 10,000 (cProfile):\n\n```\n"
    return text + hotspots(chain(10_000)) + "\n```", True


if __name__ == "__main__":
    print(run()[0])
