"""Target: the language server publishes the diagnostics of an edit of architectures/resnet152.cnn within
50 ms (median), measured from the client's didChange to the publishDiagnostics of that version over stdio
(`cnndsl lsp` as a subprocess, pygls' client), and reported as a ratio to a full check of the same file
in-process (read, parse, expand, infer: what `cnndsl check` does after start-up)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time

from common import PYTHON, ROOT, median_time, table

FILE = ROOT / "architectures" / "resnet152.cnn"
RUNS = 30
TARGET = 0.050  # seconds


async def _server_latencies(runs: int) -> list[float]:
    from lsprotocol import types as t
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("cnndsl-benchmark", "1")
    waiting: dict[int, asyncio.Future] = {}

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params: t.PublishDiagnosticsParams):
        future = waiting.pop(params.version, None)
        if future is not None:
            future.set_result(params.diagnostics)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    await client.start_io(PYTHON, "-m", "cnndsl", "lsp", env=env)
    await client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities()))
    client.initialized(t.InitializedParams())
    uri, text = FILE.as_uri(), FILE.read_text()
    waiting[1] = asyncio.get_running_loop().create_future()
    client.text_document_did_open(t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, "cnn", 1, text)))
    assert list(await waiting[1]) == []
    # an edit of one character: layer3's `repeat 35` becomes `repeat 34` and back (expanded anew each time)
    line = next(i for i, x in enumerate(text.splitlines()) if "repeat 35" in x)
    column = text.splitlines()[line].index("35") + 1
    times = []
    for version in range(2, runs + 2):
        digit = "4" if version % 2 == 0 else "5"
        edit = t.TextDocumentContentChangePartial(
            range=t.Range(start=t.Position(line, column), end=t.Position(line, column + 1)), text=digit
        )
        future = waiting[version] = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        client.text_document_did_change(
            t.DidChangeTextDocumentParams(t.VersionedTextDocumentIdentifier(uri=uri, version=version), [edit])
        )
        found = await future
        times.append(time.perf_counter() - start)
        assert list(found) == []
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def run() -> tuple[str, bool]:
    import sys

    sys.path.insert(0, str(ROOT))
    from cnndsl.compiler import Compiler
    from cnndsl.lsp import analyse
    from cnndsl.project import check_compiled

    def full_check():
        c = Compiler()
        c.add_file(FILE)
        check_compiled(c, str(FILE))

    text = FILE.read_text()
    full_check()  # warm: the grammar is loaded once per process, in both
    check = median_time(full_check, RUNS)
    analysis = median_time(lambda: analyse(text, str(FILE)), RUNS)
    latency = statistics.median(asyncio.run(_server_latencies(RUNS)))
    ratio = latency / check
    rows = [
        ["in-process full check (Compiler.add_file + check_compiled)", f"{check * 1000:.1f} ms", "1.00"],
        ["in-process analysis of the edited text (what the server runs)", f"{analysis * 1000:.1f} ms",
         f"{analysis / check:.2f}"],
        [f"server: didChange → publishDiagnostics over stdio (target ≤ {TARGET * 1000:.0f} ms)",
         f"**{latency * 1000:.1f} ms**", f"**{ratio:.2f}**"],
    ]  # fmt: skip
    title = f"## Language server: diagnostics after an edit of resnet152.cnn (median of {RUNS})\n\n"
    return title + table(["what", "time", "ratio to a full check"], rows), latency <= TARGET


if __name__ == "__main__":
    text, ok = run()
    print(text)
    print("target met" if ok else "target missed")
