"""Where the front end's time goes, per stage, for ResNet-152 and a 10,000-layer chain."""

from __future__ import annotations

import cProfile
import io
import pstats
import time

from common import ROOT, chain, table

import cnndsl  # noqa: F401  (warm imports outside the timings)
from cnndsl import syntax
from cnndsl.compiler import Compiler
from cnndsl.summary import table as summary_table


def stages(text: str, path: str) -> list:
    t0 = time.perf_counter()
    syntax.parse(text, path)
    t1 = time.perf_counter()
    c = Compiler()
    c.add_text(text, path)
    t2 = time.perf_counter()
    net = c.compile()
    t3 = time.perf_counter()
    summary_table(net)
    t4 = time.perf_counter()
    net.model_dump_json()
    t5 = time.perf_counter()
    return [f"{(t1 - t0) * 1000:.1f}", f"{(t3 - t2) * 1000:.1f}", f"{(t4 - t3) * 1000:.1f}", f"{(t5 - t4) * 1000:.1f}"]


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
    return "\n".join(line.strip()[:140] for line in keep[:8])


def run() -> tuple[str, bool]:
    resnet = (ROOT / "architectures" / "resnet152.cnn").read_text().replace('import "blocks/resnet.cnn"', "")
    resnet = (ROOT / "architectures" / "blocks" / "resnet.cnn").read_text() + resnet
    big = chain(10_000)
    stages(resnet, "resnet152.cnn")  # warm
    rows = [["resnet152", *stages(resnet, "resnet152.cnn")], ["chain of 10,000", *stages(big, "chain.cnn")]]
    header = ["network", "parse (lex + LALR + tree) ms", "expand + infer ms", "summary ms", "IR JSON ms"]
    text = "## Profile of the front end, per stage\n\n" + table(header, rows)
    text += "\n\nTop functions by own time, chain of 10,000 (cProfile):\n\n```\n" + hotspots(big) + "\n```"
    return text, True


if __name__ == "__main__":
    print(run()[0])
