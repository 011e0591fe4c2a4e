"""Target: `cnndsl serve` answers an edit of architectures/resnet50.cnn with the updated diagram within
300 ms (median), measured from the page's message carrying the edited text to the analysis that holds the
new SVG, over a real WebSocket to `cnndsl serve` running as a subprocess (uvicorn); reported as a ratio to
what `cnndsl render` does for the file after start-up, in-process (compile, draw, `dot -Tsvg`). The page
sends its text DEBOUNCE_MS after the last key typed: a person sees the diagram that much later again."""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import time

from common import PYTHON, ROOT, median_time, table

FILE = ROOT / "architectures" / "resnet50.cnn"
RUNS = 20
TARGET = 0.300  # seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _latencies(runs: int) -> list[float]:
    from websockets.sync.client import connect

    port = _free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "cnndsl", "serve", str(FILE.parent), "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        text = FILE.read_text()
        # an edit of one character: layer3's `repeat 5` becomes `repeat 4` and back (the diagram changes each time)
        edits = [text, re.sub(r"repeat 5 bottleneck", "repeat 4 bottleneck", text, count=1)]
        assert edits[0] != edits[1]
        times = []
        with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            for i in range(runs + 2):
                start = time.perf_counter()
                ws.send(json.dumps({"id": i + 1, "path": FILE.name, "text": edits[i % 2], "options": {}}))
                answer = json.loads(ws.recv())
                elapsed = time.perf_counter() - start
                assert answer["id"] == i + 1 and answer["diagram"].startswith("<svg"), answer.get("errors")
                if i >= 2:  # the first two warm the server (the grammar, the imports)
                    times.append(elapsed)
        return times
    finally:
        server.terminate()
        server.wait(timeout=10)


def run() -> tuple[str, bool]:
    import sys

    sys.path.insert(0, str(ROOT))
    import cnndsl
    from cnndsl.diagram import render

    page = (ROOT / "cnndsl" / "serve" / "static" / "app.js").read_text()
    debounce = int(re.search(r"DEBOUNCE_MS = (\d+)", page)[1])

    def render_svg():
        render(cnndsl.load(FILE)).pipe("svg")

    render_svg()  # warm: the grammar is loaded once per process
    direct = median_time(render_svg, RUNS)
    latency = statistics.median(_latencies(RUNS))
    rows = [
        ["in-process `cnndsl render` work (load, draw, dot -Tsvg)", f"{direct * 1000:.1f} ms", "1.00"],
        [f"server: edited text → new diagram over a WebSocket (target ≤ {TARGET * 1000:.0f} ms)",
         f"**{latency * 1000:.1f} ms**", f"**{latency / direct:.2f}**"],
        ["the page's debounce after the last key, before it sends the text", f"{debounce} ms", ""],
    ]  # fmt: skip
    title = f"## cnndsl serve: the diagram after an edit of resnet50.cnn (median of {RUNS})\n\n"
    return title + table(["what", "time", "ratio to render's work"], rows), latency <= TARGET


if __name__ == "__main__":
    text, ok = run()
    print(text)
    print("target met" if ok else "target missed")
