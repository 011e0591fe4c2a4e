"""Writing an output file (`-o PATH`) whole or not at all, and never in place of something that is not a file.

What `PATH` may be, and what happens:

- missing, or a regular file: the data goes to a temporary file in the same directory, which is then renamed
  over `PATH`, so a reader sees the old file or the new one, never half of one (an existing file keeps its
  permission bits, a new one gets 0644);
- a character device (`/dev/null`, a terminal) or a FIFO: written through, in place; the node itself is never
  replaced (renaming a file over `/dev/null` as root would destroy it). A FIFO that no process is reading is
  refused rather than waited on;
- a symbolic link: followed; what it points at is treated as above (the link stays a link, a regular file at
  its end is replaced whole). A link that points nowhere is refused;
- a directory, a block device, a socket: refused.

An input of the command (by the same file, through any link) is never overwritten. A temporary file does not
outlive the command: it is removed when the write fails, and on SIGTERM, SIGINT or SIGHUP, after which the
signal takes its ordinary course (the process ends as that signal ends it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
_KINDS = {stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a directory"}


class _Signalled(BaseException):
    """A signal arrived while a temporary file existed: unwinds to the cleanup, then the signal is re-raised."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def check_output(path: str, inputs: list[str]) -> tuple[Path, bool]:
    """Where to write `path` and whether to write through (a device or FIFO) rather than replace; UsageError
    for what may not be written. Commands call it before their work too, to fail early."""
    try:
        st = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        if os.path.islink(path):
            raise UsageError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist") from None
        st = None
    except NotADirectoryError:
        raise UsageError(f"directory {Path(path).parent} does not exist") from None
    if st is None:
        target = Path(path)
        directory = target.parent if str(target.parent) else Path(".")
        if not directory.is_dir():
            raise UsageError(f"directory {directory} does not exist")
        return target, False
    for test, kind in _KINDS.items():
        if test(st.st_mode):
            raise UsageError(f"{path} is {kind}: -o takes a file, a character device (/dev/null) or a FIFO")
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return Path(path), True
    for source in inputs:
        with contextlib.suppress(OSError):
            if os.path.samefile(source, path):
                raise UsageError(f"refusing to overwrite the input file {path}")
    return Path(os.path.realpath(path)), False


@contextlib.contextmanager
def output_path(path: str, inputs: list[str], suffix: str = ".tmp") -> Iterator[str]:
    """`with output_path(PATH, inputs) as tmp:` write the output to the file `tmp` (which exists, empty);
    when the block ends without an exception, it becomes PATH as the module docstring says. `suffix` ends
    the temporary file's name, for writers that judge a file by its name (Keras' `.weights.h5`)."""
    target, through = check_output(path, inputs)
    mode = None
    if not through and target.exists():
        mode = stat.S_IMODE(target.stat().st_mode)
    with _signals_unwind() as signalled:
        tmp = None
        try:
            directory = None if through else (target.parent if str(target.parent) else Path("."))
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=directory)
            os.close(fd)
            yield tmp
            if through:
                _write_through(path, tmp)
                os.unlink(tmp)
            else:
                os.chmod(tmp, 0o644 if mode is None else mode)
                os.replace(tmp, target)
            tmp = None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    if signalled:
        signal.raise_signal(signalled[0])


def write_atomic(path: str, data: str | bytes, inputs: list[str]) -> None:
    """Write all of `data` (text is written as UTF-8 with `\\n` line ends) to `path`, or nothing."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with output_path(path, inputs) as tmp:
        _write_file(tmp, raw)


def _write_file(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _write_through(path: str, source: str) -> None:
    """Copy the file `source` into the device or FIFO `path`, which is opened without being created or truncated."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise UsageError(f"{path} is a FIFO that no process is reading") from None
        raise
    try:
        os.set_blocking(fd, True)
        with open(source, "rb") as f:
            while chunk := f.read(1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
    except OSError as e:  # /dev/full, a reader gone: name the output in the message
        raise OSError(e.errno, e.strerror, path) from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[list[int]]:
    """Turn SIGTERM, SIGINT and SIGHUP into an exception while the block runs, so that its cleanup runs; the
    list yielded receives the signal, for the caller to re-raise after the cleanup. Signal handlers can only
    be set in the main thread: elsewhere the block runs as it is."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        raise _Signalled(signum)

    # a signal ignored (nohup, a shell's background job) stays ignored
    previous = {s: signal.signal(s, handler) for s in _SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield caught
    except _Signalled as e:
        caught.append(e.signum)
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)
