"""Target 1: `cnndsl check architectures/resnet152.cnn` as a fresh process costs at most 1.5× a bare
`python -c "import lark"` (lark is the floor: pydantic is not imported on this path); and that path imports
no framework. Where the rest goes is measured in one process per run: cnndsl's modules after lark, Lark's
parser tables (loaded from its cache), and the check itself (parse, expansion, shapes, the line printed)."""

from __future__ import annotations

import subprocess

from common import CNNDSL, PYTHON, ROOT, alternate, compile_bytecode, table

FORBIDDEN = ("torch", "tensorflow", "keras", "graphviz", "onnx", "pydantic")

PARTS = """
import contextlib, io, time
import lark
t0 = time.perf_counter()
import cnndsl.cli
t1 = time.perf_counter()
from cnndsl import syntax
syntax.parser(False)
t2 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    cnndsl.cli.main(["check", "architectures/resnet152.cnn"])
print(t1 - t0, t2 - t1, time.perf_counter() - t2)
"""


def parts(runs: int = 15) -> list[float]:
    """The least time of each part over `runs` fresh processes: imports, parser tables, the check."""
    times = []
    for _ in range(runs):
        out = subprocess.run([PYTHON, "-c", PARTS], capture_output=True, text=True, cwd=ROOT, check=True).stdout
        times.append([float(x) for x in out.split()])
    return [min(t[i] for t in times) for i in range(3)]


def run() -> tuple[str, bool]:
    compile_bytecode()
    medians = alternate(
        {
            "python -c 'import lark'": [PYTHON, "-c", "import lark"],
            "cnndsl check architectures/resnet152.cnn": [*CNNDSL, "check", "architectures/resnet152.cnn"],
        }
    )
    base, check = medians.values()
    r = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "cnndsl", "check", "architectures/resnet152.cnn"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    heavy = sorted(set(FORBIDDEN) & imported)
    ratio = check / base
    ok = ratio <= 1.5 and not heavy
    rows = [[name, f"{t * 1000:.0f} ms"] for name, t in medians.items()]
    rows.append(["ratio (target ≤ 1.5)", f"**{ratio:.2f}**"])
    rows.append(["frameworks or pydantic imported", ", ".join(heavy) or "none"])
    imports, tables, checking = parts()
    rows.append(["of which: cnndsl's modules, after lark (least of 15)", f"{imports * 1000:.0f} ms"])
    rows.append(["of which: Lark's parser tables, from its cache", f"{tables * 1000:.0f} ms"])
    rows.append(["of which: the check (parse, expand, infer shapes, print)", f"{checking * 1000:.0f} ms"])
    return "## Start-up (median of 15 fresh processes, alternated)\n\n" + table(["command", "time"], rows), ok


if __name__ == "__main__":
    text, ok = run()
    print(text)
