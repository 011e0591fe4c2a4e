"""Target 1: `cnndsl check architectures/resnet152.cnn` as a fresh process costs at most 1.5× a bare
`python -c "import lark, pydantic"`; and that path imports no framework."""

from __future__ import annotations

import subprocess

from common import CNNDSL, PYTHON, ROOT, alternate, compile_bytecode, table

FORBIDDEN = ("torch", "tensorflow", "keras", "graphviz", "onnx")


def run() -> tuple[str, bool]:
    compile_bytecode()
    medians = alternate(
        {
            "python -c 'import lark, pydantic'": [PYTHON, "-c", "import lark, pydantic"],
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
    rows.append(["frameworks imported", ", ".join(heavy) or "none"])
    return "## Start-up (median of 15 fresh processes, alternated)\n\n" + table(["command", "time"], rows), ok


if __name__ == "__main__":
    text, ok = run()
    print(text)
