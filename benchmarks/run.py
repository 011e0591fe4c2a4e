"""Run every benchmark and write benchmarks/results.md with the machine's details.

python benchmarks/run.py            # all
python benchmarks/run.py startup    # one of: startup scaling emission stages recovery lsp serve_latency import_speed
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ALL = ["startup", "scaling", "emission", "stages", "recovery", "lsp", "serve_latency", "import_speed"]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    import lark
    import pydantic

    return (
        f"- {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores ({cpu})\n"
        f"- lark {lark.__version__}, pydantic {pydantic.VERSION}\n"
        f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def main(names: list[str]) -> int:
    sections, failed = [f"# Benchmark results\n\n{machine()}"], []
    for name in names or ALL:
        text, ok = importlib.import_module(name).run()
        print(text + ("\n" if ok else "\n**target missed**\n"), flush=True)
        sections.append(text + ("" if ok else "\n\n**Target missed.**"))
        if not ok:
            failed.append(name)
    if not names:
        (HERE / "results.md").write_text("\n\n".join(sections) + "\n")
    print("targets missed: " + ", ".join(failed) if failed else "all targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
