"""What the playground does, without the web: the served folder's files (and what may not be reached
through it), the analysis of a text as the page shows it, saves that refuse to overwrite a changed file,
and the downloads. `app.py` wires these to HTTP and a WebSocket.

Every path a request names is relative to the served folder and must stay inside it: no absolute path, no
`..`, no hidden component, no symbolic link leading out, and a `.cnn` suffix. The only work a request can
cause is the compiler's (under its node budget) and Graphviz's `dot` (under DOT_SECONDS).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..compiler import MAX_BYTES, Compiler
from ..errors import CnnDslError, CnnDslWarning, UsageError
from ..ir import Network
from ..lsp import analyse, error_range
from ..project import SUFFIX, cnn_files, network_definitions

DOT_SECONDS = 10.0  # `dot` for one drawing; the page asks for fewer nodes when it takes longer
MAX_FILES = 2000  # listed of a folder
MAX_ROWS = 5000  # of the summary table sent to the page
MAX_DRAWN = 3000  # nodes of a drawing handed to `dot` (ResNet-152 drawn layer by layer has ~520)
MAX_TEXT = MAX_BYTES  # the text of one request: the compiler's bound on a file read from disk
# The compiler's hints that name a command-line option, which the page cannot pass: what its user can do instead.
WEB_HINTS = {
    "--max-nodes": "the playground's budget is fixed: make the network smaller (fewer repeats or loop iterations), "
    "or check it on the command line with cnndsl check --max-nodes N",
    "--import-path": "the playground imports only files in this file's folder or below it: move the file there",
}
# warnings.catch_warnings changes the process's warning filters: one analysis records them at a time
_WARNINGS = threading.Lock()
_NETWORK = re.compile(r"^[ \t]*network[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


class Refused(Exception):
    """A request the playground will not carry out; `status` is its HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Options:
    """How the page asks the network to be drawn (the controls over the diagram)."""

    detail: str | None = None  # "blocks", "layers", or None: what fits a slide
    depth: int | None = None
    expand: tuple[str, ...] = ()
    rf: bool = False

    @classmethod
    def of(cls, data) -> Options:
        data = data if isinstance(data, dict) else {}
        detail = data.get("detail") if data.get("detail") in ("blocks", "layers") else None
        depth = data.get("depth")
        depth = depth if isinstance(depth, int) and not isinstance(depth, bool) and 0 <= depth <= 100 else None
        expand = data.get("expand")
        names = tuple(str(x)[:200] for x in expand[:100]) if isinstance(expand, list) else ()
        return cls(detail, depth, names, data.get("rf") is True)


class Workspace:
    """The folder `cnndsl serve` serves."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"{root} is not a directory")

    # --- paths ------------------------------------------------------------------------------------

    def resolve(self, rel, must_exist: bool = True) -> Path:
        """The file that `rel` (a path relative to the folder, with `/`) names; Refused if it leads out of the
        folder or is not a `.cnn` file."""
        if not isinstance(rel, str) or not rel or len(rel) > 1000 or "\x00" in rel or "\\" in rel:
            raise Refused(400, "a file is named by its path inside the served folder")
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or any(part.startswith(".") for part in p.parts):
            raise Refused(403, f"'{rel}' is outside the served folder")
        if p.suffix != SUFFIX:
            raise Refused(403, f"'{rel}' is not a {SUFFIX} file")
        real = Path(os.path.realpath(self.root / p))  # symbolic links followed
        if not real.is_relative_to(self.root):
            raise Refused(403, f"'{rel}' leads outside the served folder")
        if must_exist and not real.is_file():
            raise Refused(404, f"no file '{rel}' in the served folder")
        return real

    def files(self) -> list[dict]:
        """The folder's `.cnn` files (those inside it, through links too) and the networks each defines."""
        out = []
        for path in cnn_files([self.root])[:MAX_FILES]:
            rel = Path(path).relative_to(self.root).as_posix()
            try:
                real = self.resolve(rel)
                with open(real, encoding="utf-8", errors="replace") as f:
                    text = f.read(MAX_TEXT)
            except (Refused, OSError):
                continue
            out.append({"path": rel, "networks": _NETWORK.findall(text)})
        return out

    def read(self, rel) -> dict:
        """A file's text and the token a save of it must present."""
        real = self.resolve(rel)
        if real.stat().st_size > MAX_TEXT:
            raise Refused(413, f"'{rel}' is larger than {MAX_TEXT:,} bytes")
        raw = real.read_bytes()
        return {"path": rel, "text": raw.decode("utf-8", errors="replace"), "token": token(raw)}

    def save(self, rel, text, expected) -> dict:
        """Write `text` to the file atomically, if the file on disk is still the one whose token the page
        holds (409 otherwise: it changed since it was loaded)."""
        from ..files import write_atomic

        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise Refused(413, f"the text is larger than {MAX_TEXT:,} characters")
        real = self.resolve(rel, must_exist=False)
        current = token(real.read_bytes()) if real.is_file() else None
        if current != expected:
            raise Refused(409, f"'{rel}' changed on disk since it was loaded: reload it, or copy your text first")
        raw = text.encode("utf-8")
        try:
            write_atomic(str(real), raw, [])
        except UsageError as e:  # a directory where the file would go, a folder that does not exist
            raise Refused(409, f"cannot write '{rel}': {e}") from None
        except OSError as e:
            raise Refused(409, f"cannot write '{rel}': {e.strerror or e}") from None
        return {"path": rel, "token": token(raw)}

    # --- the analysis the page shows --------------------------------------------------------------

    def analyse(self, rel, text, network: str | None, options: Options) -> dict:
        """Errors, networks, and for the chosen network (or the first) its drawing as SVG, the links from
        the drawing's nodes to the source, and its summary. "diagram" is missing when the network has an
        error: the page keeps the last one."""
        real = self.resolve(rel, must_exist=False)
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise Refused(413, f"the text is larger than {MAX_TEXT:,} characters")
        source = _name(real)
        with _WARNINGS, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CnnDslWarning)
            a = analyse(text, source)
        found = {(w.message.line, w.message.column, w.message.message): w.message for w in caught}
        lines = text.splitlines()
        names = [d.name for d in network_definitions(a.compiler)] if a.compiler else []
        out: dict = {
            "errors": [self._error(e, source, lines) for e in a.errors],
            "warnings": [self._error(w, source, lines) for w in found.values() if isinstance(w, CnnDslWarning)],
            "networks": names,
        }
        compiled = {n.name: n for n in a.networks}
        name = network if network in names else names[0] if names else None
        out["network"] = name
        net = compiled.get(name)
        if net is None:
            return out
        out["summary"] = summary(net, options.rf, source)
        out.update(draw(net, options, source))
        return out

    def _error(self, e: CnnDslError | CnnDslWarning, source: str, lines: list[str]) -> dict:
        """An error or warning for the page: where, what, and the characters to underline."""
        here = e.path == source
        if isinstance(e, CnnDslError):
            d = {**e.to_dict(), "severity": "error"}
        else:
            d = {"line": e.line, "column": e.column, "code": "warning", "message": e.message, "hint": e.hint}
            d["severity"] = "warning"
        d.update(path=self._shown(e.path), here=here)
        if isinstance(e, CnnDslError):  # `file:network`, the file named as the page names it
            d["networks"] = [f"{self._shown(path)}:{name}" for path, name in e.networks]
        d["hint"] = next((instead for option, instead in WEB_HINTS.items() if option in (e.hint or "")), e.hint)
        if here and e.line:
            line, start, end = error_range(e, lines)
            d["range"] = [line + 1, start + 1, end + 1]  # 1-based line, columns [start, end)
        return d

    def _shown(self, path: str) -> str:
        """A path the compiler names, as the page names files: relative to the served folder."""
        p = Path(os.path.abspath(path))
        return p.relative_to(self.root).as_posix() if p.is_relative_to(self.root) else path

    # --- downloads --------------------------------------------------------------------------------

    def compile(self, rel, text, network: str | None) -> Network:
        real = self.resolve(rel, must_exist=False)
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise Refused(413, f"the text is larger than {MAX_TEXT:,} characters")
        c = Compiler()
        try:
            c.add_text(text, _name(real))
            names = c.network_names()
            return c.compile(network if network in names else None)
        except CnnDslError as e:
            raise Refused(422, f"{self._shown(e.path)}:{e.line}:{e.column}: error[{e.code}]: {e.message}") from None

    def download(self, rel, text, network, fmt: str, options: Options) -> tuple[bytes, str, str]:
        """(data, file name, media type) of the network as PyTorch or Keras source, ONNX, SVG or PNG."""
        if fmt not in DOWNLOADS:
            raise Refused(400, f"no download '{str(fmt)[:40]}': one of {', '.join(DOWNLOADS)}")
        net = self.compile(rel, text, network)
        suffix, media = DOWNLOADS[fmt]
        try:
            if fmt == "torch":
                from ..backends.torch import emit

                data = emit(net).encode()
            elif fmt == "keras":
                from ..backends.keras import emit

                data = emit(net).encode()
            elif fmt == "onnx":
                from ..backends.onnx import to_onnx

                data = to_onnx(net).SerializeToString()
            else:
                data = _diagram(net, options).pipe(fmt, timeout=DOT_SECONDS)
        except CnnDslError as e:  # an op this backend cannot write
            raise Refused(422, f"error[{e.code}]: {e.message}") from None
        except ImportError as e:
            from ..util import extra_hint, missing_extra

            extra = missing_extra(e, "onnx")
            raise Refused(501, f"{fmt} needs the [{extra}] extra: {extra_hint(extra)}") from None
        return data, f"{net.name}{suffix}", media


DOWNLOADS = {
    "torch": (".py", "text/x-python"),
    "keras": ("_keras.py", "text/x-python"),
    "onnx": (".onnx", "application/octet-stream"),
    "svg": (".svg", "image/svg+xml"),
    "png": (".png", "image/png"),
}


def _name(real: Path) -> str:
    """A file as the compiler is given it, and so as messages and emitted code name it: as `cnndsl` run
    here would, relative to the working directory where the file is below it."""
    rel = os.path.relpath(real)
    return str(real) if rel.startswith("..") else rel


def token(raw: bytes) -> str:
    """What a file held when the page loaded it: a save is refused once the file on disk differs."""
    return hashlib.sha256(raw).hexdigest()


def _diagram(net: Network, options: Options):
    from ..diagram import GraphvizFailed, GraphvizMissing, render

    try:
        return render(net, detail=options.detail, depth=options.depth, expand=options.expand, show_rf=options.rf)
    except ValueError as e:  # an --expand name that is no block instance
        raise Refused(422, str(e)) from None
    except (GraphvizFailed, GraphvizMissing) as e:
        raise Refused(422, str(e)) from None


def draw(net: Network, options: Options, path: str) -> dict:
    """The network drawn as `cnndsl render` draws it: {"diagram": SVG text, "links": DOT node id -> where it
    was written} or {"diagram_error": why not}."""
    from ..diagram import GraphvizFailed, GraphvizMissing

    try:
        diagram = _diagram(net, options)
        drawn = len(set(diagram.drawn_as))
        if drawn > MAX_DRAWN:
            why = f"{drawn:,} nodes are more than {MAX_DRAWN:,} to draw: choose detail: blocks, or a depth"
            return {"diagram_error": why}
        svg = diagram.pipe("svg", timeout=DOT_SECONDS).decode("utf-8", errors="replace")
    except Refused as e:
        return {"diagram_error": e.message}
    except GraphvizFailed as e:
        return {"diagram_error": f"{e}: draw fewer nodes (detail: blocks, or a smaller depth)"}
    except GraphvizMissing as e:
        return {"diagram_error": str(e)}
    return {"diagram": svg[svg.find("<svg") :], "links": links(net, diagram.drawn_as, path)}


def links(net: Network, drawn_as: list[str], path: str) -> dict[str, dict]:
    """For each node of the drawing: "at", the [line, column] of the statement it stands for (a collapsed
    block instance: its call), and "lines", every line of `path` written for what it draws (its layers, and
    the calls and sequences around them), so that the cursor on any of them picks it."""
    names = {n.name: n for n in net.nodes}
    scopes = {s.name: s for s in net.scopes if s.kind == "block"}
    out: dict[str, dict] = {}
    seen_scopes: dict[str, set[int]] = {}
    for n, key in zip(net.nodes, drawn_as):
        lines = out.setdefault(key, {"at": None, "lines": set()})["lines"]
        if n.span.path == path:
            lines.add(n.span.line)
        done = seen_scopes.setdefault(key, set())
        sid = n.scope
        while sid and sid not in done:  # the network itself (0) is not a statement
            done.add(sid)
            s = net.scopes[sid]
            if s.span.path == path:
                lines.add(s.span.line)
            sid = s.parent
    for key, link in out.items():
        where = scopes[key].span if key in scopes and key not in names else names[key].span if key in names else None
        link["at"] = [where.line, where.column] if where is not None and where.path == path else None
        link["lines"] = sorted(link["lines"])
    return out


def summary(net: Network, rf: bool, path: str) -> dict:
    """The rows of `cnndsl summary` (with receptive fields when asked) and its totals; "at": where in `path`
    each row's layer, block call or sequence was written (None: in another file)."""
    from ..summary import rows, totals_lines

    table = rows(net, rf)
    shown = table[:MAX_ROWS]
    spans = {s.name: s.span for s in net.scopes} | {n.name: n.span for n in net.nodes}
    at = [spans[r[1]] for r in shown]
    return {
        "network": net.name,
        "params": net.params,
        "macs": net.macs,
        "rows": [list(r) for r in shown],
        "at": [[s.line, s.column] if s.path == path else None for s in at],
        "more": len(table) - len(shown),
        "totals": totals_lines(net),
    }
