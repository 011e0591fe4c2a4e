"""The `cnndsl` command: check, summary, compile, render, convert, apply, fmt, lsp, serve, schema.

Exit codes: 0 success, 1 errors in the input (each printed as `path:line:col: error[CODE]: ...`; a
checkpoint or IR JSON file that is not what it should be, as `cnndsl: PATH: ...`), 2 usage errors (and a
missing Graphviz program, or one that fails or outruns --timeout). Output files are written by files.py;
FILE may also be IR JSON (`compile --backend ir`), verified as Network.from_json verifies it. The backends are
imported only by the commands that
need them, and pydantic only by those that read or write IR JSON, so `check` and `summary` start fast.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import warnings
from pathlib import Path

# cnndsl uses no pydantic plugins; looking for them scans every installed distribution's entry points,
# which costs ~90 ms the first time pydantic builds a validator when torch and tensorflow are installed.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from .apply import DESCRIPTION as APPLY_DESCRIPTION  # noqa: E402
from .apply import SAMPLE  # noqa: E402
from .compiler import MAX_NODES, Compiler  # noqa: E402
from .errors import CnnDslError, CnnDslWarning, InputError, UsageError  # noqa: E402
from .files import check_output, write_atomic  # noqa: E402

BACKENDS = ("torch", "keras", "onnx", "ir")
MAX_ERRORS = 20  # per file: `check` reports every independent error, up to this many
__all__ = ["main", "UsageError", "write_atomic"]  # the last two live in errors.py and files.py


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text[:40]!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text[:40]}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse asks for the terminal's size for every argument it adds (~2 ms of start-up): once will do.
    Sub-command parsers are of the same class, so they share the width."""

    WIDTH: int | None = None

    def __init__(self, *args, **kwargs):
        if _Parser.WIDTH is None:
            import shutil

            _Parser.WIDTH = shutil.get_terminal_size().columns - 2  # as argparse.HelpFormatter computes it
        kwargs.setdefault("formatter_class", functools.partial(argparse.HelpFormatter, width=_Parser.WIDTH))
        super().__init__(*args, **kwargs)

    ONLY: str | None = None  # the command on the command line: the others' parsers need not be built

    def add_subparsers(self, **kwargs):
        action = super().add_subparsers(**kwargs)
        if _Parser.ONLY is not None:
            add = action.add_parser
            action.add_parser = lambda name, **kw: add(name, **kw) if name == _Parser.ONLY else _Unbuilt()
        return action


class _Unbuilt:
    """The parser of a command that is not the one given: takes its arguments and keeps none."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


def _parser() -> argparse.ArgumentParser:
    # argparse looks each of its messages up in the translation catalogues (a file search) every time it
    # uses one: ~2 ms for the same few strings. Looked up once each, they read the same.
    if not hasattr(argparse._, "cache_info"):
        argparse._ = functools.lru_cache(maxsize=None)(argparse._)
    p = _Parser(
        prog="cnndsl", description="Describe convolutional networks as text; check, summarise and compile them."
    )
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, many=False):
        if many:
            sp.add_argument("files", nargs="+", metavar="FILE", help=".cnn files, or directories to search for them")
        else:
            sp.add_argument("file", metavar="FILE", help="a .cnn file")
            sp.add_argument("--network", "-n", metavar="NAME", help="the network to use, if the file has several")
        sp.add_argument(
            "--max-nodes", type=positive_int, default=MAX_NODES, metavar="N", help="refuse networks larger than this",
        )  # fmt: skip
        sp.add_argument(
            "--set", action="append", default=[], dest="settings", metavar="NAME=VALUE",
            help="give a network parameter a value, written as in the file (--set classes=10); repeatable",
        )  # fmt: skip
        sp.add_argument(
            "--import-path", action="append", default=[], metavar="DIR",
            help="also allow imports from DIR (by default imports stay inside the file's directory)",
        )  # fmt: skip

    sp = sub.add_parser("check", help="validate files (every .cnn file of a directory) and infer every shape")
    common(sp, many=True)
    sp.add_argument("--format", choices=("text", "github", "json"), default="text")
    sp.add_argument(
        "--with-importers", action="store_true",
        help="also check every .cnn file below --root that imports one of FILES, directly or transitively",
    )  # fmt: skip
    sp.add_argument("--root", default=".", metavar="DIR", help="where --with-importers looks (default: .)")

    sp = sub.add_parser("summary", help="a per-layer table: output shapes, parameters, multiply-adds")
    common(sp)
    sp.add_argument("--format", choices=("table", "json"), default="table")
    sp.add_argument(
        "--receptive-field", "--rf", action="store_true",
        help="add each layer's receptive field, effective stride and effective padding",
    )  # fmt: skip
    sp.add_argument("--depth", type=int, default=None, help="leave out rows nested deeper than this (0: top level)")

    sp = sub.add_parser("compile", help="emit PyTorch or Keras source, ONNX, or the IR as JSON")
    common(sp)
    sp.add_argument("--backend", "-b", choices=BACKENDS, required=True)
    sp.add_argument("-o", "--output", metavar="PATH", help="write here (atomically) instead of standard output")
    sp.add_argument("--opset", type=int, default=None, help="ONNX opset version")

    sp = sub.add_parser("render", help="draw the network with Graphviz")
    common(sp)
    sp.add_argument("-o", "--output", metavar="PATH", help="out.svg, .png, .pdf or .dot (default: NAME.svg)")
    sp.add_argument(
        "--detail", choices=("blocks", "layers"), default=None,
        help="collapse every block, or draw every layer (default: open blocks as far as a slide holds)",
    )  # fmt: skip
    sp.add_argument(
        "--timeout", type=positive_float, default=None, metavar="SECONDS",
        help="give up if Graphviz takes longer than this (default: 60)",
    )  # fmt: skip
    sp.add_argument("--direction", "--rankdir", choices=("TB", "LR", "BT", "RL"), default="TB")
    sp.add_argument("--depth", type=int, default=None, help="collapse blocks nested deeper than this")
    sp.add_argument("--no-shapes", dest="show_shapes", action="store_false", help="leave tensor shapes off the edges")
    sp.add_argument("--no-title", dest="title", action="store_false", help="leave out the name, shapes and parameters")
    sp.add_argument("--no-legend", dest="legend", action="store_false", help="leave out the legend of colours")
    sp.add_argument("--dpi", type=int, default=None, help="the resolution of a .png (default 192)")
    sp.add_argument(
        "--show", action="append", choices=("rf",), default=[],
        help="annotate each node: rf = its receptive field and jump in input pixels",
    )  # fmt: skip
    sp.add_argument(
        "--expand", action="append", default=[], metavar="NAME",
        help="draw this block instance opened whatever the depth (e.g. inception3a); repeatable",
    )  # fmt: skip

    sp = sub.add_parser("convert", help="carry a checkpoint between PyTorch (.pt) and Keras (.weights.h5)")
    common(sp)
    sp.add_argument("checkpoint", metavar="CHECKPOINT", help="a PyTorch state_dict (.pt, .pth) or Keras .weights.h5")
    sp.add_argument("-o", "--output", metavar="PATH", required=True, help="the converted checkpoint")

    sp = sub.add_parser(
        "apply", help="run a network of fixed filters on an image and write the result as an image",
        description=APPLY_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    common(sp)
    sp.add_argument("--image", metavar="PATH", help=f"the input image (default: scikit-learn's {SAMPLE})")
    sp.add_argument(
        "--width", type=int, metavar="N", help="scale the picture to N pixels wide, keeping its proportions",
    )  # fmt: skip
    sp.add_argument(
        "-o", "--output", metavar="PATH",
        help="where to write (atomically; .png, .jpg ...); default: IMAGE_NETWORK.png next to the image",
    )  # fmt: skip

    sp = sub.add_parser("fmt", help="rewrite files in the canonical layout (every .cnn file of a directory)")
    sp.add_argument("paths", nargs="+", metavar="FILE|DIR", help=".cnn files, directories, or - for standard input")
    sp.add_argument("--check", action="store_true", help="change nothing; exit 1 and name the files fmt would change")
    sp.add_argument("--diff", action="store_true", help="change nothing; print what fmt would change (exit 1 if any)")

    sp = sub.add_parser("import", help="turn a PyTorch, Keras or ONNX model into a readable .cnn file (docs/import.md)")
    sp.add_argument("source", metavar="SOURCE", help="package.module:callable, path/to/file.py:callable, "
                    "model.pt2 (torch.export), model.onnx, model.keras or keras.applications.NAME")  # fmt: skip
    sp.add_argument("-o", "--output", metavar="OUT.cnn", help="where to write (atomically); default: standard output")
    sp.add_argument("--input-shape", type=_shape, metavar="C,H,W", help="the input, without the batch (default: "
                    "the first convolution's channels at 224x224)")  # fmt: skip
    sp.add_argument("--name", help="the network's name (default: the model's class, in snake_case)")
    sp.add_argument("--weights", metavar="OUT.pt", help="also write the model's weights for the compiled .cnn "
                    "(.pt: a PyTorch state_dict; .weights.h5: Keras weights)")  # fmt: skip

    sub.add_parser("lsp", help="the language server, over standard input and output (docs/editors.md)")

    sp = sub.add_parser("serve", help="a live playground in the browser: edit, and watch the diagram and shapes change")
    sp.add_argument("path", nargs="?", default=".", metavar="DIR|FILE", help="the folder to serve (default: .)")
    sp.add_argument("--port", type=int, default=8000, help="the port to listen on (default: 8000)")
    sp.add_argument(
        "--host", default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; anyone who can reach it can edit)",
    )  # fmt: skip
    sp.add_argument("--open", action="store_true", help="open the page in the web browser")

    sub.add_parser("schema", help="print the JSON Schema of the IR")
    return p


class _Version(argparse.Action):
    """--version, as argparse's, but the version is looked up only when asked: importlib.metadata costs every
    other command ~15 ms of start-up."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help="show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"cnndsl {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cnndsl")
    except PackageNotFoundError:  # a source tree on PYTHONPATH
        from . import __version__

        return __version__


def _compiler(args, path: str) -> Compiler:
    c = Compiler(args.max_nodes, tuple(args.import_path))
    c.add_file(path)
    return c


def _settings(args) -> list[tuple[str, str]]:
    """`--set NAME=VALUE` as (name, value text) pairs; the compiler parses and checks each value."""
    out = []
    for text in getattr(args, "settings", None) or ():  # a Namespace built by hand may lack it
        name, eq, value = text.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--set takes NAME=VALUE, got '{text}'")
        out.append((name.strip(), value))
    return out


MAX_IR_BYTES = 256 << 20  # an IR JSON file: ResNet-152's is 0.6 MB; 1,000,000 nodes take ~400 MB


def _load(args):
    """The network of FILE: compiled from .cnn text, or read from IR JSON (`compile --backend ir`) and
    verified as `Network.from_json` verifies it (InputError, exit 1, naming what is wrong)."""
    if not args.file.endswith(".json"):
        return _compiler(args, args.file).compile(args.network, settings=_settings(args))
    if getattr(args, "settings", None):
        raise UsageError("--set gives values to the parameters of a .cnn network; an IR file has them fixed")
    from .ir import Network

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file" if not path.exists() else f"{args.file}: not a regular file")
    if path.stat().st_size > MAX_IR_BYTES:
        raise InputError(f"{args.file}: more than the {MAX_IR_BYTES:,} bytes an IR file may have")
    try:
        net = Network.from_json(path.read_bytes())
    except ValueError as e:
        lines = str(e).splitlines()
        reason = " ".join(line.strip() for line in lines[:3])[:500]
        raise InputError(f"{args.file}: not a valid cnndsl IR: {reason}") from None
    if len(net.nodes) > args.max_nodes:
        raise InputError(f"{args.file}: {len(net.nodes):,} nodes are more than the budget of {args.max_nodes:,}")
    if args.network is not None and args.network != net.name:
        raise InputError(f"{args.file}: holds network {net.name}, not {args.network}")
    return net


def cmd_check(args) -> int:
    from .project import check_compiled, cnn_files, distinct, importers, recovered

    files = cnn_files(args.files)
    if args.with_importers:
        files = cnn_files([*files, *importers(files, args.root)])
    results, errors, libraries, omitted = [], [], [], []
    settings = _settings(args)
    for path in files:
        c = Compiler(args.max_nodes, tuple(args.import_path))
        try:
            c.add_file(path)
            shown = next(iter(c.sources))
            networks, found, unused = check_compiled(c, shown, settings)
            results += networks
            if not networks and not found:
                libraries.append((shown, [d.name for d in unused]))
        except CnnDslError as e:
            found = recovered(c, e)
        if len(found) > MAX_ERRORS:
            omitted.append((path, len(found) - MAX_ERRORS))
            found = found[:MAX_ERRORS]
        errors += found
    errors = distinct(errors)  # a library's error, found by each file that imports it, once
    if args.format == "json":
        out = {
            "networks": [
                {"network": n.name, "source": n.source, "input": list(n.input_shape), "output": list(n.output_shape),
                 "params": n.params, "buffers": n.buffers, "macs": n.macs}
                for n in results
            ],
            "blocks": [{"source": path, "blocks": names} for path, names in libraries],
            "errors": [e.to_dict() for e in errors],
            "omitted": [{"path": path, "errors": n} for path, n in omitted],
        }  # fmt: skip
        _print_json(out)
    else:
        for n in results:
            print(n)
        for path, names in libraries:
            print(f"{path}: blocks {', '.join(names)} (no network)")
        for e in errors:
            if args.format == "github":
                message = e.message + e.found_in + (f" ({e.hint})" if e.hint else "")
                where = f"file={_gh_property(e.path)}" + (f",line={e.line},col={e.column}" if e.line else "")
                where += f",title={e.code}"
                print(f"::error {where}::{_gh_escape(message)}")
            else:
                print(e.format(), file=sys.stderr)
        for path, n in omitted:
            print(f"{path}: … and {n} more error{'s' if n > 1 else ''}", file=sys.stderr)
    return 1 if errors else 0


def _gh_escape(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(s: str) -> str:
    """A property of a workflow command (a file name): a `,` or `:` in it would end the property."""
    return _gh_escape(s).replace(":", "%3A").replace(",", "%2C")


def _print_json(data) -> None:
    import json  # only the --format json outputs need it

    print(json.dumps(data, indent=2))


def cmd_summary(args) -> int:
    from .summary import table, terminal_width, to_dict

    if args.depth is not None and args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    net = _load(args)
    if args.format == "json":
        _print_json(to_dict(net))
    else:
        print(table(net, args.receptive_field, args.depth, terminal_width()))
    return 0


def cmd_compile(args) -> int:
    if args.output:
        check_output(args.output, [args.file])  # said before the work, as after it
    net = _load(args)
    if args.backend == "ir":
        data: str | bytes = net.to_json() + "\n"
    elif args.backend == "torch":
        from .backends.torch import emit

        data = emit(net)
    elif args.backend == "keras":
        from .backends.keras import emit

        data = emit(net)
    else:
        from .backends.onnx import to_onnx

        if not args.output:
            raise UsageError("ONNX is binary: give an output file with -o model.onnx")
        try:
            data = to_onnx(net, opset=args.opset).SerializeToString()
        except ValueError as e:  # an opset out of range, or one too old for a pool of this network
            raise UsageError(str(e)) from None
    if args.output:
        write_atomic(args.output, data, [args.file])
    else:
        sys.stdout.write(data)
    return 0


def cmd_render(args) -> int:
    from .diagram import DOT_TIMEOUT, GraphvizFailed, GraphvizMissing, render

    net = _load(args)
    output = args.output or f"{net.name}.svg"
    try:
        diagram = render(
            net, detail=args.detail, direction=args.direction, depth=args.depth, show_shapes=args.show_shapes,
            show_rf="rf" in args.show, expand=args.expand, title=args.title, legend=args.legend,
            **({"dpi": args.dpi} if args.dpi is not None else {}),
        )  # fmt: skip
    except ValueError as e:  # an unknown --expand name, a negative --depth or --dpi
        raise UsageError(str(e)) from None
    suffix = Path(output).suffix.lower()
    if suffix == ".dot" or suffix == ".gv":
        write_atomic(output, diagram.source, [args.file])
        return 0
    if suffix not in (".svg", ".png", ".pdf"):
        raise UsageError(f"cannot render to '{suffix}': use .svg, .png, .pdf or .dot")
    try:
        data = diagram.pipe(suffix[1:], timeout=args.timeout or DOT_TIMEOUT)
    except GraphvizFailed as e:
        raise UsageError(
            f"{e}: draw fewer nodes (--detail blocks, --depth 1), or write the DOT text (-o {net.name}.dot)"
        ) from None
    except GraphvizMissing:
        dot_path = str(Path(output).with_suffix(".dot"))
        write_atomic(dot_path, diagram.source, [args.file])
        print(
            f"cnndsl: wrote {dot_path}; the Graphviz 'dot' program is needed for {suffix}: "
            "install it with 'apt-get install graphviz' (or 'brew install graphviz')",
            file=sys.stderr,
        )
        return 2
    write_atomic(output, data, [args.file])
    return 0


def cmd_convert(args) -> int:
    """A PyTorch state_dict (.pt, .pth) becomes Keras weights (.weights.h5) for the network of FILE, or the
    reverse; written atomically, as `compile` writes."""
    from .transfer import convert, direction

    direction(args.checkpoint, args.output)  # said before the network is compiled
    check_output(args.output, [args.file, args.checkpoint])
    convert(_load(args), args.checkpoint, args.output, [args.file, args.checkpoint])
    return 0


def cmd_apply(args) -> int:
    from .apply import apply, check_network, default_output, image_format

    net = _load(args)
    check_network(net)
    output = args.output or default_output(args.image, net.name)
    inputs = [args.file, *([args.image] if args.image else [])]
    fmt = image_format(output)
    check_output(output, inputs)
    data, what = apply(net, args.image, args.width, fmt)
    write_atomic(output, data, inputs)
    print(f"wrote {output} ({what})")
    return 0


def cmd_fmt(args) -> int:
    import difflib

    from .fmt import format_text
    from .project import cnn_files

    if args.paths == ["-"]:
        sys.stdout.write(format_text(sys.stdin.read(), "<stdin>"))
        return 0
    status = 0
    for path in cnn_files(args.paths):
        if not os.path.isfile(path):  # a FIFO would block the read
            what = "it is a directory" if os.path.isdir(path) else "not a regular file"
            print(f"cnndsl: cannot read '{path}': {what}", file=sys.stderr)
            status = 1
            continue
        try:
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
            formatted = format_text(text, path)
        except CnnDslError as e:
            print(e.format(), file=sys.stderr)
            status = 1
            continue
        except UnicodeDecodeError:
            print(f"{path}: not UTF-8 text", file=sys.stderr)
            status = 1
            continue
        if formatted == text:
            continue
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(True), formatted.splitlines(True), f"{path}", f"{path} (formatted)"
                )
            )
        if args.check or args.diff:
            if args.check:
                print(f"would reformat {path}")
            status = 1
            continue
        write_atomic(path, formatted, [])  # in place: the same permissions, through a symbolic link
        print(f"reformatted {path}", file=sys.stderr)
    return status


def cmd_lsp(args) -> int:
    from .lsp import main as serve  # pygls: the [lsp] extra

    return serve()


def cmd_serve(args) -> int:
    from .serve.app import main as serve  # starlette and uvicorn: the [serve] extra

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    return serve(args.path, args.host, args.port, args.open)


def cmd_schema(args) -> int:
    from .ir import Network

    _print_json(Network.json_schema())
    return 0


def _shape(text: str) -> tuple[int, ...]:
    """An argparse type: C,H,W (or N) of whole numbers of at least 1."""
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        dims = ()
    if not dims or len(dims) not in (1, 3) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W or N (whole numbers), not {text!r}")
    return dims


def cmd_import(args) -> int:
    """A PyTorch, Keras or ONNX model as .cnn text; with --weights, its weights for the compiled network too."""
    from .importers import import_text

    if args.name is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", args.name):
        raise UsageError(f"--name must be a letter then letters, digits and _, not {args.name!r}")
    for path in (args.output, args.weights):
        if path:
            check_output(path, [])
    if args.weights and not args.weights.endswith((".pt", ".pth", ".weights.h5")):
        raise UsageError("--weights must end in .pt, .pth or .weights.h5")
    text, save_weights = import_text(args.source, args.input_shape, args.name)
    if args.weights:
        save_weights(args.weights)
    if args.output:
        write_atomic(args.output, text, [])
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = {
    "import": cmd_import,
    "check": cmd_check, "summary": cmd_summary, "compile": cmd_compile, "render": cmd_render,
    "convert": cmd_convert, "apply": cmd_apply, "schema": cmd_schema, "fmt": cmd_fmt,
    "lsp": cmd_lsp, "serve": cmd_serve,
}  # fmt: skip


def _command_extra(args) -> str | None:
    """The extra a command needs, for a missing module several extras share (numpy)."""
    if args.command == "compile":
        return {"torch": "torch", "keras": "keras", "onnx": "onnx"}.get(args.backend)
    if args.command == "import":
        from .importers import framework

        return framework(args.source)
    return {"render": "render", "apply": "images", "convert": "torch,keras", "serve": "serve"}.get(args.command)


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
    """A .cnn warning as errors are printed (path:line:col, the line, a caret, the hint); others as Python does."""
    if isinstance(message, CnnDslWarning):
        print(message.format(), file=file or sys.stderr)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program itself, not a call from Python
        # Python's last garbage collection at exit walks every object left (the parser, the network ...):
        # ~10 ms of `cnndsl check`. Frozen objects are skipped, and nothing runs after this.
        import atexit
        import gc

        atexit.register(gc.freeze)
    warnings.showwarning = _show_warning
    words = sys.argv[1:] if argv is None else argv
    _Parser.ONLY = words[0] if words and words[0] in COMMANDS else None  # else all, for the help
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CnnDslError as e:
        print(e.format(), file=sys.stderr)
        return 1
    except InputError as e:
        print(f"cnndsl: {e}", file=sys.stderr)
        return 1
    except UsageError as e:
        print(f"cnndsl: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # `cnndsl summary x | head` is not an error
        return 0
    except ImportError as e:
        from .util import extra_hint, missing_extra

        extra = missing_extra(e, _command_extra(args))
        if extra is None:
            print(f"cnndsl: {e.name or e} is not installed", file=sys.stderr)
        else:
            print(f"cnndsl: {args.command} needs the [{extra}] extra: {extra_hint(extra)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"cnndsl: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug in cnndsl: say so in one line rather than with a traceback
        print(f"cnndsl: internal error: {type(e).__name__}: {e}; please report it", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
