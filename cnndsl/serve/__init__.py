"""`cnndsl serve`: a live architecture playground in the browser (the [serve] extra: Starlette and uvicorn).

    cnndsl serve architectures/          # then open http://127.0.0.1:8000/

The page lists the folder's `.cnn` files and their networks; the text typed in its editor is checked as
`cnndsl check` checks a file, and the chosen network is drawn as `cnndsl render` draws it, with its summary
table, a moment after each change. `app.py` holds the web application, `static/` the page (no CDN: every
script and style is served from here, so it works offline).
"""

from __future__ import annotations

from .app import create_app, main

__all__ = ["create_app", "main"]
