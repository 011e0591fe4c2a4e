"""Hostile input, round two (issue 14): special files under `-o`, memory bombs in check, apply, convert and
IR JSON, nothing quadratic, and the small things (a negative --max-nodes, a flat sum of 150 terms).

Each test feeds the input that exercised the problem and asserts the clean behaviour: a located error or
a usage error with a clear message (exit 1 or 2), never an internal error (exit 3), within seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.compiler import Compiler
from cnndsl.ir import Network


def run(argv, capsys) -> tuple[int, str, str]:
    """`cnndsl ARGV` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, text: str, name: str = "net.cnn"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- 8. small things ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-5", "0", "x"])
def test_a_max_nodes_below_one_is_a_usage_error(value, tmp_path, capsys):
    path = write(tmp_path, "network n { input(3, 8, 8); relu() }")
    code, _, err = run(["check", f"--max-nodes={value}", path], capsys)
    assert code == 2
    assert "--max-nodes" in err and "expands" not in err


@pytest.mark.parametrize("terms", [150, 5000])
def test_a_flat_sum_is_one_level_of_nesting(terms):
    net = cnndsl.loads(f"network n {{ input(3, 8, 8); conv({'+'.join(['1'] * terms)} - {terms - 4}, 3) }}")
    assert net.output_shape == (4, 6, 6)


def test_a_flat_sum_keeps_its_canonical_source_in_block_arguments():
    net = cnndsl.loads("block b(c) { conv(c, 1) }\nnetwork n(k = 2) { input(3, 8, 8); b(k + 1 + k - 1) }")
    assert {p: str(e) for p, e in net.scopes[1].exprs.items()} == {"c": "k + 1 + k - 1"}


def test_a_flat_sum_too_deep_for_the_ir_is_written_as_its_value():
    terms = " + ".join(["k"] * 5000)
    net = cnndsl.loads(f"block b(c) {{ conv(c, 1) }}\nnetwork n(k = 1) {{ input(3, 8, 8); b({terms}) }}")
    assert net.scopes[1].exprs == {} and net.output_shape == (5000, 8, 8)  # no expression: the value stands
    assert Network.from_json(net.to_json()) == net


def test_real_nesting_is_still_bounded():
    with pytest.raises(cnndsl.CnnDslError) as e:
        cnndsl.loads(f"network n {{ input(3, 8, 8); conv({'1 + (' * 120}4{')' * 120}, 3) }}")
    assert e.value.code == "E404"


# --- 7. nothing quadratic -------------------------------------------------------------------------------


def _check_networks(count: int) -> float:
    text = "\n".join(f"network n{i}{{input(1)}}" for i in range(count))
    start = time.perf_counter()
    c = Compiler()
    c.add_text(text)
    for name in c.network_names():
        c.compile(name)
    return time.perf_counter() - start


def test_many_networks_check_in_linear_time():
    small, large = _check_networks(2_000), _check_networks(8_000)
    assert large < 8 * small + 0.5  # quadratic: 16×; linear: 4×


def test_an_e210_error_names_ten_networks_and_counts_the_rest(tmp_path, capsys):
    path = write(tmp_path, "\n".join(f"network n{i}{{input(1)}}" for i in range(8_000)))
    code, _, err = run(["summary", path], capsys)
    assert code == 1 and "E210" in err and "n9 … and 7,990 more" in err and "n10," not in err
    code, _, err = run(["summary", path, "--network", "zzz"], capsys)
    assert code == 1 and "and 7,990 more" in err and len(err) < 500


# --- 2. memory bombs in check ---------------------------------------------------------------------------


def test_check_never_builds_a_fixed_kernel(monkeypatch):
    def refuse(*args):
        raise AssertionError("the checker built a kernel")

    monkeypatch.setattr(cnndsl.ops, "preset_kernel", refuse)
    for weights in ("box", "gaussian"):
        net = cnndsl.loads(f"network n {{ input(1, ?, ?); conv(1, 1000, weights={weights}) }}")
        assert net.nodes[1].buffers == 1000 * 1000


@pytest.mark.parametrize(
    "layer, code",
    [
        ("conv(1, 20000, weights=box)", "E406"),
        ("conv(1, (1, 9007199254740992), weights=box)", "E406"),
        ("conv(1, 4, weights=gaussian, sigma=0.01)", "E205"),
        ("conv(1, 4, weights=gaussian, sigma=1e-300)", "E205"),
        ("conv(1, 4, weights=gaussian, sigma=1e200)", "E205"),
    ],
)
def test_a_tiny_file_cannot_make_check_allocate(layer, code, tmp_path, capsys):
    path = write(tmp_path, f"network kb {{ input(1, ?, ?); {layer} }}")
    start = time.perf_counter()
    status, _, err = run(["check", path], capsys)
    assert (status, err.split("error[")[1][:4]) == (1, code)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1e6])
@pytest.mark.parametrize("size", [2, 4, 5])
def test_every_gaussian_admitted_sums_to_one(sigma, size):
    net = cnndsl.loads(f"network n {{ input(1, 9, 9); conv(1, {size}, weights=gaussian, sigma={sigma}) }}")
    kernel = net.nodes[1].op.fixed_kernel()
    assert abs(sum(map(sum, kernel)) - 1) < 1e-9


# --- 1. -o never replaces a device, FIFO or symbolic link ----------------------------------------------------

SMALL = "network small { input(3, 8, 8); conv(4, 3); relu(); flatten(); dense(2) }\n"


def test_a_character_device_is_written_through_never_replaced(tmp_path, capsys):
    cnn = write(tmp_path, SMALL)
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    devices = [link]
    if os.geteuid() == 0:  # a device node of our own, as `mknod devnull c 1 3` makes it
        node = tmp_path / "devnull"
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        devices.append(node)
    for device in devices:
        for argv in (["compile", cnn, "-b", "torch"], ["compile", cnn, "-b", "onnx"], ["render", cnn]):
            if argv[0] == "render":
                argv = [*argv, "-o", device]  # no suffix: refused as a format, before any write
                assert run(argv, capsys)[0] == 2
                continue
            assert run([*argv, "-o", device], capsys)[0] == 0
        assert stat.S_ISCHR(os.stat(device).st_mode)
    assert link.is_symlink() and os.readlink(link) == "/dev/null" and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_fifo_is_written_through_to_its_reader(tmp_path, capsys):
    cnn = write(tmp_path, SMALL)
    fifo = tmp_path / "out.py"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    time.sleep(0.2)  # the reader opens the FIFO
    code, _, err = run(["compile", cnn, "-b", "torch", "-o", fifo], capsys)
    reader.join(10)
    assert code == 0, err
    assert b"def build() -> nn.Module" in received[0]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_refused_at_once(tmp_path, capsys):
    cnn = write(tmp_path, SMALL)
    fifo = tmp_path / "out.py"
    os.mkfifo(fifo)
    start = time.perf_counter()
    code, _, err = run(["compile", cnn, "-b", "torch", "-o", fifo], capsys)
    assert (code, err.strip()) == (2, f"cnndsl: {fifo} is a FIFO that no process is reading")
    assert time.perf_counter() - start < 5 and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path, capsys):
    cnn = write(tmp_path, SMALL)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.py"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "model.py"
    link.symlink_to(target)
    assert run(["compile", cnn, "-b", "torch", "-o", link], capsys)[0] == 0
    assert link.is_symlink() and "def build()" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the file keeps its permissions
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["model.py"]


@pytest.mark.parametrize("kind", ["dangling link", "directory", "socket"])
def test_what_is_no_file_is_refused(kind, tmp_path, capsys):
    cnn = write(tmp_path, SMALL)
    out = tmp_path / "out.py"
    if kind == "dangling link":
        out.symlink_to(tmp_path / "nowhere.py")
        message = "is a symbolic link to"
    elif kind == "directory":
        out.mkdir()
        message = "is a directory"
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(out))
        message = "is a socket"
    code, _, err = run(["compile", cnn, "-b", "torch", "-o", out], capsys)
    assert code == 2 and message in err, err
    assert not (tmp_path / "nowhere.py").exists()


# A `cnndsl compile` whose write of the output stalls once the temporary file exists: the test kills it there.
STALLED_WRITE = """
import sys, time
import cnndsl.files as files
from cnndsl.cli import main

real = files._write_file


def stalled(tmp, data):
    real(tmp, data[: len(data) // 2])
    print("writing", flush=True)
    time.sleep(60)


files._write_file = stalled
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_write_leaves_no_temporary_file(signum, tmp_path):
    cnn = write(tmp_path, SMALL)
    out = tmp_path / "out.onnx"
    out.write_bytes(b"the previous output")
    script = tmp_path / "stall.py"
    script.write_text(STALLED_WRITE)
    env = {**os.environ, "PYTHONPATH": str(Path(cnndsl.__file__).parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, str(script), "compile", str(cnn), "-b", "onnx", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    assert proc.stdout.readline() == "writing\n"
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    proc.send_signal(signum)
    code = proc.wait(30)
    assert code == (-signal.SIGTERM if signum == signal.SIGTERM else 130), proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.cnn", "out.onnx", "stall.py"]
    assert out.read_bytes() == b"the previous output"


def test_a_large_onnx_export_killed_at_any_moment_leaves_no_temporary_file(tmp_path):
    """Unpatched: a 40 MB model, killed repeatedly at random moments of its export."""
    cnn = write(tmp_path, "network big { input(1024); dense(10000); dense(1000) }")
    env = {**os.environ, "PYTHONPATH": str(Path(cnndsl.__file__).parent.parent)}
    for delay in (0.3, 0.5, 0.7, 0.9):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cnndsl", "compile", str(cnn), "-b", "onnx", "-o", str(tmp_path / "big.onnx")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        time.sleep(delay)
        proc.terminate()
        proc.wait(30)
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --- 3. apply refuses what would not fit, before allocating it -------------------------------------------------

FILTERS = Path(__file__).parent.parent / "architectures" / "filters.cnn"


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that claims `width`×`height` RGB pixels in a few bytes (its pixel data is one empty stream): what
    a decompression bomb looks like to a reader that trusts the header."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def picture(tmp_path):
    from PIL import Image

    path = tmp_path / "small.png"
    Image.new("RGB", (16, 12), "gray").save(path)
    return path


@pytest.mark.parametrize("width, height", [(20_000, 20_000), (9_500, 9_500)])
def test_apply_refuses_a_huge_picture_before_decoding_it(width, height, tmp_path, capsys):
    bomb = png_header(tmp_path / "bomb.png", width, height)
    code, _, err = run(["apply", FILTERS, "--image", bomb, "-o", tmp_path / "out.png"], capsys)
    assert code == 2 and f"{width:,}×{height:,} pixels is larger than the 50,000,000" in err, err


@pytest.mark.parametrize("width", ["20000", "1000000", str(10**20), str(10**400)])
def test_apply_refuses_a_width_that_would_not_fit(width, picture, tmp_path, capsys):
    code, _, err = run(["apply", FILTERS, "--image", picture, "--width", width, "-o", tmp_path / "o.png"], capsys)
    assert code == 2 and err.startswith("cnndsl: --width: ") and ("too large" in err or "1 GiB" in err), err


def test_apply_refuses_a_network_on_too_many_values(picture, tmp_path, capsys):
    code, _, err = run(["apply", FILTERS, "--image", picture, "--width", "8000", "-o", tmp_path / "o.png"], capsys)
    assert code == 2 and "computes" in err and "more than the 268,435,456 (1 GiB)" in err, err


def test_apply_refuses_a_network_with_a_huge_fixed_input(picture, tmp_path, capsys):
    cnn = write(tmp_path, "network big { input(1, 100000, 100000); conv(1, 3, weights=box) }")
    code, _, err = run(["apply", cnn, "--image", picture, "-o", tmp_path / "o.png"], capsys)
    assert code == 2 and "the network's input: a picture of 100,000×100,000 pixels is too large" in err, err


@pytest.mark.parametrize("suffix", [".xpm", ".mpeg"])
def test_apply_refuses_a_format_pillow_cannot_write(suffix, picture, tmp_path, capsys):
    code, _, err = run(["apply", FILTERS, "--image", picture, "-o", tmp_path / f"x{suffix}"], capsys)
    assert code == 2 and "cannot write them" in err, err
    assert not (tmp_path / f"x{suffix}").exists()


def test_apply_refuses_a_broken_png_cleanly(tmp_path, capsys):
    """make fuzz: a PNG whose data chunk is cut inside, which Pillow reports as SyntaxError("broken PNG file")."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
        b"\x00\x00\x00\x00IDATx\x9cc\xd0\xa88\x01\x00\x024\x01i\x18F%\x0f\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    code, _, err = run(["apply", FILTERS, "--image", broken, "-o", tmp_path / "o.png"], capsys)
    assert code == 2 and "not an image that Pillow can read (broken PNG file" in err, err
    assert not (tmp_path / "o.png").exists()


def test_apply_still_writes_a_picture(picture, tmp_path, capsys):
    code, out, err = run(["apply", FILTERS, "--image", picture, "--width", "40", "-o", tmp_path / "o.png"], capsys)
    assert code == 0, err
    assert out.strip().endswith("from 3×30×40)")


# --- 4. convert says what a bad checkpoint is ---------------------------------------------------------------


class Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (a .pt file that is no state_dict, what the error must say)."""
    import pickle

    import torch

    files = {}
    for name, protocol in (("payload2", 2), ("payload4", 4)):
        path = tmp_path / f"{name}.pt"
        path.write_bytes(pickle.dumps(Payload(), protocol=protocol))
        files[name] = (path, "a pickle that calls posix.system")
    files["torch-payload"] = (tmp_path / "torch-payload.pt", "a pickle that calls posix.system")
    torch.save(Payload(), files["torch-payload"][0])
    files["whole-model"] = (tmp_path / "whole.pt", "container.Sequential (code, or a whole model)")
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), files["whole-model"][0])
    files["tensor"] = (tmp_path / "tensor.pt", "holds a tensor of shape 3×4, not a state_dict")
    torch.save(torch.zeros(3, 4), files["tensor"][0])
    files["none"] = (tmp_path / "none.pt", "holds None, not a state_dict")
    torch.save(None, files["none"][0])
    files["empty"] = (tmp_path / "empty.pt", "not a PyTorch checkpoint (the file is empty)")
    files["empty"][0].write_bytes(b"")
    files["garbage"] = (tmp_path / "garbage.pt", "not a PyTorch checkpoint")
    files["garbage"][0].write_bytes(bytes(range(256)) * 8)
    # a pickle opcode whose 4-byte argument is missing (found by tests/test_fuzz.py's long profile)
    files["cut-opcode"] = (tmp_path / "cut.pt", "not a PyTorch checkpoint (the file is cut short)")
    files["cut-opcode"][0].write_bytes(b"j")
    # a torch archive whose pickle names its storage by an int, where torch's safe unpickler asserts (make fuzz)
    files["bad-storage-id"] = (tmp_path / "bad-id.pt", "not a PyTorch checkpoint (saved_id must be a tuple")
    with zipfile.ZipFile(files["bad-storage-id"][0], "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02K\x05Q.")  # BININT1 5, BINPERSID
        z.writestr("archive/version", b"3\n")
    return files


def test_convert_says_what_a_bad_checkpoint_is(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cnn = write(tmp_path, SMALL)
    for name, (path, message) in checkpoints(tmp_path).items():
        code, _, err = run(["convert", cnn, path, "-o", tmp_path / "out.weights.h5"], capsys)
        assert code == 1, (name, err)
        assert message in err and "expected a state_dict saved with torch.save" in err, (name, err)
        assert "weights_only" not in err and "internal error" not in err, (name, err)
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "out.weights.h5").exists()


# --- 5. IR JSON is re-inferred as if compiled from text ----------------------------------------------------


def _ir(edit) -> str:
    data = json.loads(cnndsl.loads(SMALL).to_json())
    edit(data)
    return json.dumps(data)


def _set(*path_and_value):
    *path, key, value = path_and_value

    def edit(data):
        for p in path:
            data = data[p]
        data[key] = value

    return edit


FORGED = [
    (_set("nodes", 1, "shape", [4, 7, 7]), "node 1 ('0', conv): shape is 4×7×7, but its op gives 4×6×6"),
    (_set("nodes", 1, "op", "filters", 5), "shape is 4×6×6, but its op gives 5×6×6"),
    (_set("nodes", 1, "params", 10**30), "params is 1000000000000000000000000000000, but its op gives 112"),
    (_set("nodes", 1, "params", -5), "params is -5, but its op gives 112"),
    (_set("nodes", 1, "buffers", 3), "buffers is 3, but its op gives 0"),
    (_set("nodes", 1, "macs", 1), "macs is 1, but its op gives 3888"),
    (_set("nodes", 1, "op", "kernel_size", [100000, 100000]), "100000×100000 kernel has more than 1,048,576"),
    (_set("nodes", 4, "op", "units", 10**12), "(error[E406])"),
    (_set("nodes", 4, "op", "units", 3), "shape is 2, but its op gives 3"),
    (_set("nodes", 3, "inputs", [1, 2]), "takes one input, not 2"),
    (_set("nodes", 4, "shape", [2, "H"]), "shape is 2×H, but its op gives 2"),
    # names the backends cannot place (make fuzz: the PyTorch backend's ValueError on an IR that was accepted)
    (_set("scopes", 0, "name", "0"), "the network's scope is named '0'; it must have no name"),
    (_set("nodes", 2, "name", "x.y"), "node 2 ('x.y') is not named inside its scope ('')"),
    # numbers JSON cannot hold (make fuzz: an argument of Infinity was accepted, then written back as null)
    (_set("args", "classes", float("inf")), "finite number"),
    (_set("scopes", 0, "args", "rate", float("nan")), "finite number"),
]


@pytest.mark.parametrize("edit, message", FORGED)
def test_an_ir_that_contradicts_itself_is_refused(edit, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Network.from_json(_ir(edit))


def test_an_unedited_ir_reads_back_equal():
    net = cnndsl.load(FILTERS)
    assert Network.from_json(net.to_json()) == net


@pytest.mark.parametrize("edit, message", FORGED[:3])
def test_the_cli_reads_ir_json_and_reports_a_forgery_cleanly(edit, message, tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(cnndsl.loads(SMALL).to_json())
    code, out, _ = run(["summary", good], capsys)
    assert code == 0 and "112" in out
    bad = tmp_path / "bad.json"
    bad.write_text(_ir(edit))
    for argv in (["summary", bad], ["compile", bad, "-b", "onnx", "-o", tmp_path / "x.onnx"]):
        code, out, err = run(argv, capsys)
        assert (code, out) == (1, "") and err.startswith(f"cnndsl: {bad}: not a valid cnndsl IR: ") and message in err
    assert not (tmp_path / "x.onnx").exists()


def test_ir_json_that_is_no_json_is_an_input_error(tmp_path, capsys):
    bad = write(tmp_path, '{"name": ', "bad.json")
    code, _, err = run(["summary", bad], capsys)
    assert code == 1 and "not a valid cnndsl IR" in err and "internal error" not in err


# --- 6. ONNX reserves its own names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", ["input: relu()", "input: conv(4, 3, activation=relu); input_2: relu(); concat { a: {}; b: {} }"]
)
def test_a_layer_labelled_input_gives_a_valid_onnx_model(body):
    import numpy as np
    import onnx
    import onnxruntime as ort

    net = cnndsl.loads(f"network n {{ input(3, 9, 9); {body} }}")
    model = cnndsl.to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input"]
    assert {i.name for i in model.graph.initializer} == set(onnx_backend_parameters(net))  # state_dict keys
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    (y,) = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})
    assert y.shape == (2, *net.output_shape)
    if body == "input: relu()":
        assert np.array_equal(y, np.maximum(x, 0))


def onnx_backend_parameters(net) -> list[str]:
    from cnndsl.backends.onnx import parameter_shapes

    return list(parameter_shapes(net))


def test_the_cli_compiles_a_layer_labelled_input_to_onnx(tmp_path, capsys):
    import onnx

    cnn = write(tmp_path, "network n { input(3,9,9); input: relu() }")
    assert run(["compile", cnn, "-b", "onnx", "-o", tmp_path / "n.onnx"], capsys)[0] == 0
    onnx.checker.check_model(onnx.load(tmp_path / "n.onnx"), full_check=True)


# --- 7. render: `dot` under a time bound, its crash a clear error ------------------------------------------------


@pytest.mark.parametrize(
    "script, message",
    [
        ("kill -SEGV $$", "Graphviz 'dot' crashed (SIGSEGV) laying out the diagram"),
        ("exec sleep 30", "Graphviz 'dot' took longer than 0.5 s to lay out the diagram"),
        ("echo 'Error: trouble in layout' >&2; exit 1", "Graphviz 'dot' failed: Error: trouble in layout"),
    ],
)
def test_a_dot_that_crashes_hangs_or_fails_is_a_clear_error(script, message, tmp_path, capsys, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dot").write_text(f"#!/bin/sh\ncat > /dev/null\n{script}\n")
    (bin_dir / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cnn = write(tmp_path, SMALL)
    start = time.perf_counter()
    code, _, err = run(["render", cnn, "-o", tmp_path / "small.svg", "--timeout", "0.5"], capsys)
    assert code == 2 and err.startswith(f"cnndsl: {message}: draw fewer nodes"), err
    assert "(-o small.dot)" in err and time.perf_counter() - start < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "net.cnn"]


def test_a_4000_branch_concat_is_stopped_at_the_time_bound(tmp_path, capsys):
    branches = "; ".join(f"b{i}: relu()" for i in range(4000))
    cnn = write(tmp_path, f"network wide {{ input(3, 8, 8); concat {{ {branches} }} }}")
    start = time.perf_counter()
    code, _, err = run(["render", cnn, "-o", tmp_path / "wide.svg", "--timeout", "1"], capsys)
    assert code == 2 and "took longer than 1 s" in err, err
    assert time.perf_counter() - start < 15


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_a_timeout_that_is_no_positive_number_is_a_usage_error(value, tmp_path, capsys):
    cnn = write(tmp_path, SMALL)
    code, _, err = run(["render", cnn, f"--timeout={value}"], capsys)
    assert code == 2 and "--timeout" in err


@pytest.mark.parametrize(
    "edit", [_set("scopes", 0, "output", None), _set("scopes", 0, "output", 2), _set("scopes", 0, "input", 0)]
)
def test_an_ir_whose_network_scope_is_not_the_network_is_refused(edit):
    """Found by the fuzzing: the torch backend read the network scope's output (None) as a node index."""
    with pytest.raises(ValueError, match=re.escape("scope 0 ('') does not say which nodes it takes and gives")):
        Network.from_json(_ir(edit))


def test_a_device_that_refuses_the_write_is_named(tmp_path, capsys):
    cnn = write(tmp_path, SMALL)
    code, _, err = run(["compile", cnn, "-b", "ir", "-o", "/dev/full"], capsys)
    assert (code, err.strip()) == (2, "cnndsl: No space left on device: /dev/full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
