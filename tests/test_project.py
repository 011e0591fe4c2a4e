"""Projects of files: directories, importers, block libraries checked without an input, --version."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import ARCH, ROOT

import cnndsl
from cnndsl.cli import main
from cnndsl.compiler import Compiler
from cnndsl.project import check_blocks, cnn_files, importers, imports_of

DOC_EXAMPLES = [
    text
    for doc in ("language.md", "lecture.md")
    for text in re.findall(r"```cnn\n(.*?)```", (ROOT / "docs" / doc).read_text(), re.S)
]


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"cnndsl {cnndsl.__version__}"


def test_block_library_checks_cleanly(capsys):
    assert main(["check", str(ARCH / "blocks" / "resnet.cnn")]) == 0
    assert "blocks basic, bottleneck (no network)" in capsys.readouterr().out


def test_an_empty_file_is_still_an_error(tmp_path, capsys):
    (tmp_path / "empty.cnn").write_text("# nothing here\n")
    assert main(["check", str(tmp_path / "empty.cnn")]) == 1
    assert "error[E210]: no network is defined" in capsys.readouterr().err


def test_directory_is_checked_recursively_in_a_stable_order(tmp_path, capsys):
    assert main(["check", str(ARCH)]) == 0
    out = capsys.readouterr().out.splitlines()
    files = list(ARCH.rglob("*.cnn"))
    expected = 0  # a line per network (a family file holds several), one for a file of blocks
    for f in files:
        c = Compiler()
        c.add_file(f)
        expected += len(c.network_names()) or 1
    assert len(out) == expected
    names = [line.split(":")[0] for line in out]
    assert names[0] == "alexnet" and names.index("resnet50") < names.index("vgg19")
    assert out[-1].startswith(str(ARCH / "blocks" / "resnet.cnn"))
    files = cnn_files([ARCH])
    assert files == cnn_files([ARCH]) and str(ARCH / "blocks" / "resnet.cnn") in files
    # a file named twice (directly and through its directory) is checked once
    assert cnn_files([ARCH / "lenet5.cnn", ARCH]).count(str(ARCH / "lenet5.cnn")) == 1


def test_block_errors_without_an_input(tmp_path, capsys):
    lib = tmp_path / "lib.cnn"
    lib.write_text(
        "block a(c, s = 1) {\n"
        "    conv(c, 3, strids=s)\n"  # 2:16 E201
        "    frob(c)\n"  # 3:5 E200
        "    concat(x)\n"  # 4:12 E209
        "    e: relu(); e: relu()\n"  # 5:16 E208
        "    b(c, 3)\n"  # 6:10 E203
        "    conv(chanels, 3, padding=same)\n"  # 7:10 E206
        "    conv(8, 3, strides=0)\n"  # 8:24 E205: constant arguments are checked
        "    conv(c, 3, padding=sme)\n"  # 9:24 E206 'did you mean same'
        "}\n"
        "block b(c) { relu() }\n"
        "block r(c) { q(c) }\nblock q(c) { r(c) }\n"  # E402 for each
    )
    assert main(["check", str(lib)]) == 1
    err = capsys.readouterr().err
    located = re.findall(r"lib\.cnn:(\d+):(\d+): error\[(E\d+)\]", err)
    assert located == [
        ("2", "16", "E201"), ("3", "5", "E200"), ("4", "12", "E209"), ("5", "16", "E208"), ("6", "10", "E203"),
        ("7", "10", "E206"), ("8", "24", "E205"), ("9", "24", "E206"), ("12", "7", "E402"), ("13", "7", "E402"),
    ]  # fmt: skip
    assert "did you mean 'same'?" in err and "r → q → r" in err


def test_unused_blocks_of_a_network_file_are_checked(tmp_path, capsys):
    f = tmp_path / "net.cnn"
    f.write_text("block unused(c) { conv(c, 3, strids=2) }\nnetwork n { input(3, 8, 8); relu() }\n")
    assert main(["check", str(f)]) == 1
    assert "net.cnn:1:30: error[E201]: conv has no argument 'strids'" in capsys.readouterr().err


def compiler_of(text: str, path: str = "<string>") -> Compiler:
    c = Compiler()
    c.add_text(text, path)
    return c


@pytest.mark.parametrize("text", DOC_EXAMPLES + [p.read_text() for p in sorted(ARCH.rglob("*.cnn"))])
def test_no_false_alarms_on_valid_blocks(text):
    """Every block of the library and of the docs, checked without an input, is clean."""
    c = compiler_of(text, str(ARCH / "x.cnn"))
    assert check_blocks(c, list(c.blocks.values())) == []


def test_importers_transitively(tmp_path):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "base.cnn").write_text("block base(c) { conv(c, 3) }\n")
    (tmp_path / "blocks" / "mid.cnn").write_text('import "base.cnn"  # the base\nblock mid(c) { base(c) }\n')
    (tmp_path / "top.cnn").write_text(
        '# import "nothing.cnn"\nimport "blocks/mid.cnn"\nnetwork t { input(3, 8, 8); mid(4) }\n'
    )
    (tmp_path / "other.cnn").write_text('network o { input(3, 8, 8); relu() }  # "import" "blocks/base.cnn"\n')
    assert imports_of(tmp_path / "top.cnn") == ["blocks/mid.cnn"]
    assert imports_of(tmp_path / "other.cnn") == []
    found = importers([tmp_path / "blocks" / "base.cnn"], tmp_path)
    assert found == [str(tmp_path / "blocks" / "mid.cnn"), str(tmp_path / "top.cnn")]
    assert importers([tmp_path / "top.cnn"], tmp_path) == []


def test_check_with_importers_fails_when_only_a_library_breaks(tmp_path, capsys, monkeypatch):
    shutil.copytree(ARCH, tmp_path / "arch")
    lib = tmp_path / "arch" / "blocks" / "resnet.cnn"
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--with-importers", "arch/blocks/resnet.cnn"]) == 0
    out = capsys.readouterr().out
    assert "resnet34:" in out and "resnet152:" in out and "lenet5" not in out
    # a shortcut that no longer matches the main path: fine on its own, fatal for every importer
    lib.write_text(lib.read_text().replace("conv(channels * 4, 1, strides", "conv(channels * 2, 1, strides"))
    assert main(["check", "arch/blocks/resnet.cnn"]) == 0
    capsys.readouterr()
    assert main(["check", "--with-importers", "arch/blocks/resnet.cnn"]) == 1
    err = capsys.readouterr().err
    # found in resnet.cnn's 8 bottleneck networks, resnet101.cnn, resnet152.cnn and resnet50.cnn (keras/resnet50.cnn
    # has blocks of its own), located in the library, and printed once for each distinct message: the call's
    # arguments differ for ResNeXt and Wide ResNet
    assert err.count("arch/blocks/resnet.cnn:28:5: error[E300]") == 5
    call = "bottleneck(channels=64, stride=1, groups=1, width_per_group=64, width=64)"
    # found through several files, whose networks share names: each named with its file
    assert f"(in layer1.0: {call}) (in ./arch/resnet.cnn:resnet50 and 5 other networks)\n" in err
    assert "width_per_group=128, width=128)) (in wide_resnet50_2 and wide_resnet101_2)\n" in err
    assert "groups=32, width_per_group=4, width=128))\n" in err  # resnext50_32x4d's, found once
    assert main(["check", "--format", "json", "--with-importers", "arch/blocks/resnet.cnn"]) == 1
    errors = json.loads(capsys.readouterr().out)["errors"]
    family = "./arch/resnet.cnn:"  # the file as each network's "source" names it, then the network
    assert [e["networks"] for e in errors] == [
        [f"{family}resnet50", f"{family}resnet101", f"{family}resnet152", "./arch/resnet101.cnn:resnet101",
         "./arch/resnet152.cnn:resnet152", "./arch/resnet50.cnn:resnet50"],
        [f"{family}resnext50_32x4d"], [f"{family}resnext101_32x8d"], [f"{family}resnext101_64x4d"],
        [f"{family}wide_resnet50_2", f"{family}wide_resnet101_2"],
    ]  # fmt: skip


# --- every error at once ------------------------------------------------------------------------------

THREE = """\
network a {
    input(3, 32, 32)
    conv(16, 3, strids=2)
    relu()
    dense(10, activaton=relu)
}

network b {
    input(3, 8, 8)
    maxpool(2)
    frob()
}
"""


def located(err: str) -> list[tuple[int, int, str]]:
    return [(int(a), int(b), c) for a, b, c in re.findall(r"\.cnn:(\d+):(\d+): error\[(E\d+)\]", err)]


def check_text(tmp_path, capsys, text: str) -> str:
    """`cnndsl check` on a file holding `text`, which must fail: what it printed on stderr."""
    f = tmp_path / "f.cnn"
    f.write_text(text)
    assert main(["check", str(f)]) == 1
    return capsys.readouterr().err


def test_three_independent_mistakes_give_three_located_errors(tmp_path, capsys):
    err = check_text(tmp_path, capsys, THREE)
    assert located(err) == [(3, 17, "E201"), (5, 15, "E201"), (11, 5, "E200")]
    assert "did you mean 'strides'?" in err and "did you mean 'activation'?" in err
    assert "        dense(10, activaton=relu)\n" + " " * 18 + "^" in err  # each with its line and caret


def test_no_error_follows_from_another(tmp_path, capsys):
    """After a shape error the later shapes are unknown: only what needs no shape is checked past it."""
    err = check_text(
        tmp_path, capsys, "network n {\n    input(3, 4, 4)\n    conv(16, 7)\n    conv(16, 3)\n    enc: relu()\n"
        "    concat(enc)\n    concat(nope)\n    maxpool(2, stride=2)\n}\n",
    )  # fmt: skip
    assert located(err) == [(3, 14, "E301"), (7, 12, "E209"), (8, 16, "E201")]


def test_syntax_errors_recover_at_the_next_statement(tmp_path, capsys):
    err = check_text(
        tmp_path, capsys, "network tiny {\n    input(3, 32, 32)\n    features = conv(16, 3)\n    relu()\n"
        "    conv(16 3)\n    dense(10,, 3)\n}\nnetwork b { input(3, 8, 8); conv(3, 3}\n"
        "network c { input(3, 8, 8); relu() @ }\n",
    )  # fmt: skip
    assert located(err) == [(3, 14, "E100"), (5, 13, "E100"), (6, 14, "E100"), (8, 38, "E100"), (9, 36, "E101")]
    assert "a label is written 'name: layer(...)', not 'name = layer(...)'" in err


def test_an_error_in_a_shared_block_is_printed_once(tmp_path, capsys):
    family = "block unit(c) {\n    conv(c, 3, strids=1)\n}\n" + "".join(
        f"network n{k} {{ input(3, 8, 8); unit({k}) }}\n" for k in range(3)
    )  # fmt: skip
    err = check_text(tmp_path, capsys, family + "network odd { input(3, 8, 8); conv(4, 3, strids=1) }\n")
    assert located(err) == [(2, 16, "E201"), (7, 42, "E201")]
    assert "conv has no argument 'strids' (in n0 and 2 other networks)\n" in err
    assert "7:42: error[E201]: conv has no argument 'strids'\n" in err  # found in one network: said as before
    err = check_text(tmp_path, capsys, family.replace("network n2 { input(3, 8, 8); unit(2) }\n", ""))
    assert located(err) == [(2, 16, "E201")] and "'strids' (in n0 and n1)\n" in err


def test_errors_are_capped(tmp_path, capsys):
    f = tmp_path / "many.cnn"
    f.write_text("network n {\n    input(3, 8, 8)\n" + "    frob()\n" * 30 + "}\n")
    assert main(["check", str(f)]) == 1
    err = capsys.readouterr().err
    assert len(located(err)) == 20 and err.rstrip().endswith(f"{f}: … and 10 more errors")
    assert main(["check", "--format", "json", str(f)]) == 1
    data = __import__("json").loads(capsys.readouterr().out)
    assert len(data["errors"]) == 20 and data["omitted"] == [{"path": str(f), "errors": 10}]
