"""Hostile input, round two (issue 14): special files under `-o`, memory bombs in check, apply, convert and
IR JSON, nothing quadratic, and the small things (a negative --max-nodes, a flat sum of 150 terms).

Each test feeds the input that exercised the problem and asserts the clean behaviour: a located error or
a usage error with a clear message (exit 1 or 2), never an internal error (exit 3), within seconds.
"""

from __future__ import annotations

import time

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.compiler import Compiler


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
    assert net.scopes[1].exprs == {"c": "((k + 1) + k) - 1"}


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
