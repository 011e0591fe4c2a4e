"""The web application of `cnndsl serve`, on Starlette (served by uvicorn).

    GET  /                the page; GET /static/... its script and style (served from here: no CDN)
    GET  /api/files       the folder's .cnn files and their networks, and the file to open first
    GET  /api/file?path=  a file's text, and the token a save of it must present
    POST /api/save        {path, text, token}: written atomically unless the file changed since (409)
    POST /api/download    {path, text, network, format, options}: PyTorch, Keras, ONNX, SVG or PNG
    WS   /ws              {id, path, text, network, options} in; the analysis (workspace.analyse) out

Only the newest text a WebSocket has sent is analysed: an edit made while one is being drawn replaces the
ones still waiting. Work runs in worker threads, at most WORKERS at once. Requests from another origin, or
to a host name other than the one served (DNS rebinding), are refused: a web page the user visits must not
read the folder through the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .workspace import DOWNLOADS, MAX_TEXT, Options, Refused, Workspace

STATIC = Path(__file__).parent / "static"
MAX_BODY = 4 * MAX_TEXT + (64 << 10)  # a request: the text as JSON (escapes may quadruple it) and options
WORKERS = 2  # analyses and downloads running at once


def create_app(root: str | Path, initial: str | None = None, hosts: list[str] | None = None) -> Starlette:
    """The application serving the folder `root`; `initial`: the file the page opens first (relative to
    root); `hosts`: the host names it answers to (None: any, as in tests)."""
    ws = Workspace(root)
    limiter = anyio.CapacityLimiter(WORKERS)

    async def work(fn, *args):
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @_guarded
    async def files(request: Request) -> Response:
        listing = await work(ws.files)
        return JSONResponse(
            {"root": ws.root.name, "files": listing, "initial": initial, "lexicon": _lexicon(),
             "downloads": list(DOWNLOADS)}
        )  # fmt: skip

    @_guarded
    async def read(request: Request) -> Response:
        return JSONResponse(await work(ws.read, request.query_params.get("path")))

    @_guarded
    async def save(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(await work(ws.save, body.get("path"), body.get("text"), body.get("token")))

    @_guarded
    async def download(request: Request) -> Response:
        b = await _json(request)
        args = (b.get("path"), b.get("text"), b.get("network"), b.get("format"), Options.of(b.get("options")))
        data, name, media = await work(ws.download, *args)
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def analysis(message: dict) -> dict:
        try:
            result = ws.analyse(
                message.get("path"), message.get("text"), message.get("network"), Options.of(message.get("options"))
            )
        except Refused as e:
            result = {"refused": e.message}
        except Exception as e:  # a bug in cnndsl: one line on the page, not a traceback
            result = {"refused": f"internal error: {type(e).__name__}: {e}; please report it"}
        return {"id": message.get("id"), **result}

    async def live(socket: WebSocket) -> None:
        if not _same_origin(socket.headers):
            await socket.close(code=1008)
            return
        await socket.accept()
        waiting: asyncio.Queue[dict] = asyncio.Queue()

        async def answer():
            while True:
                message = await waiting.get()
                while not waiting.empty():  # only the newest text matters
                    message = waiting.get_nowait()
                await socket.send_text(json.dumps(await work(analysis, message)))

        answering = asyncio.create_task(answer())
        try:
            while True:
                event = await socket.receive()
                if event["type"] == "websocket.disconnect":
                    break
                text = event.get("text") or ""
                try:
                    message = json.loads(text) if len(text) <= MAX_BODY else None
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    refusal = {"refused": "a message is one JSON object, under the size bound"}
                    await socket.send_text(json.dumps(refusal))
                    continue
                waiting.put_nowait(message)
        except WebSocketDisconnect:
            pass
        finally:
            answering.cancel()

    routes = [
        Route("/", page),
        Route("/api/files", files),
        Route("/api/file", read),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/download", download, methods=["POST"]),
        WebSocketRoute("/ws", live),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)] if hosts else []
    return Starlette(routes=routes, middleware=middleware)


def _lexicon() -> dict:
    """The words the page's highlighter knows: those of cnndsl.highlight's Pygments lexer."""
    from ..highlight import FUNCTIONS, KEYWORDS, LAYERS, SIZES

    return {"keywords": list(KEYWORDS), "layers": list(LAYERS), "sizes": list(SIZES), "functions": list(FUNCTIONS)}


def _same_origin(headers) -> bool:
    """A request from the page itself, or from no page (a script, curl): not from another site's page."""
    origin = headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == headers.get("host")


def _guarded(handler):
    """A JSON error ({"error": message}) for a refused or failed request, never a traceback; refuses requests
    from another origin."""

    async def guarded(request: Request) -> Response:
        if not _same_origin(request.headers):
            return JSONResponse({"error": "requests from another site are refused"}, status_code=403)
        try:
            return await handler(request)
        except Refused as e:
            return JSONResponse({"error": e.message}, status_code=e.status)
        except Exception as e:  # a bug in cnndsl
            print(f"cnndsl serve: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            return JSONResponse({"error": f"internal error: {type(e).__name__}: {e}"}, status_code=500)

    return guarded


async def _json(request: Request) -> dict:
    """The request's JSON object, read up to MAX_BODY bytes (413 beyond)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Refused(413, f"a request may have at most {MAX_BODY:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, f"a request may have at most {MAX_BODY:,} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise Refused(400, "the request is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the request is not a JSON object")
    return data


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def main(target: str = ".", host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False) -> int:
    """`cnndsl serve`: serve the folder `target` (or the folder of the file `target`, opened first)."""
    import uvicorn

    from ..errors import UsageError

    path = Path(target)
    if path.is_file():
        root, initial = path.resolve().parent, path.name
    elif path.is_dir():
        root, initial = path, None
    else:
        raise UsageError(f"{target}: no such file or directory")
    hosts = [*LOOPBACK, host] if host in LOOPBACK else None  # bound to the network: the user asked for it
    app = create_app(root, initial, hosts)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if host not in LOOPBACK:
        print(f"cnndsl serve: warning: {host} is reachable from other machines; anyone there can edit the files")
    print(f"cnndsl serve: {Path(root).resolve()} at {url} (Ctrl-C stops)", flush=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [url]).start()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ws_max_size=MAX_BODY)
    uvicorn.Server(config).run()
    return 0
