"""`cnndsl lsp` end to end: a real LSP client (pytest-lsp) talks to `python -m cnndsl lsp` over stdio."""

from __future__ import annotations

import os
import re
import sys

import pytest
import pytest_lsp
from conftest import ARCH, ROOT
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "cnndsl", "lsp"], server_env=ENV),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(t.InitializeParams(capabilities=t.ClientCapabilities(), root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, path, text: str | None = None, version: int = 1) -> str:
    uri = path.as_uri()
    text = path.read_text() if text is None else text
    client.text_document_did_open(t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, "cnn", version, text)))
    return uri


def position(text: str, needle: str, offset: int = 0) -> t.Position:
    """The position of the first occurrence of `needle` (plus `offset` characters)."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return t.Position(line, index - (text.rfind("\n", 0, index) + 1))


async def diagnostics_for(client: LanguageClient, uri: str, version: int) -> list[t.Diagnostic]:
    while True:
        params = await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        if params.uri == uri and params.version == version:
            return params.diagnostics


async def hover(client: LanguageClient, uri: str, text: str, needle: str, offset: int = 0) -> str:
    result = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri), position(text, needle, offset))
    )
    assert result is not None, needle
    return result.contents.value


async def test_diagnostics_as_you_type(client: LanguageClient, tmp_path):
    path = tmp_path / "typing.cnn"
    bad = (
        "block unused(c) {\n    frob(c)\n}\nnetwork n {\n    input(3, 8, 8)\n    conv(8, 3, strids=2)\n"
        "    maxpool(2, stride=2)\n}\n"
    )
    uri = open_doc(client, path, bad)
    found = await diagnostics_for(client, uri, 1)  # every independent error at once
    assert [(d.code, d.range.start.line, d.range.start.character, d.range.end.character) for d in found] == [
        ("E200", 1, 4, 8), ("E201", 5, 15, 21), ("E201", 6, 15, 21),
    ]  # fmt: skip
    assert found[1].message == "conv has no argument 'strids'\nhint: did you mean 'strides'?"
    assert found[1].source == "cnndsl" and found[1].severity == t.DiagnosticSeverity.Error
    fixed = bad.replace("strids", "strides").replace("frob(c)", "relu()").replace("stride=", "strides=")
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [t.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    assert list(await diagnostics_for(client, uri, 2)) == []


async def test_hover_shows_shapes_parameters_and_documentation(client: LanguageClient):
    path = ARCH / "resnet34.cnn"
    text = path.read_text()
    uri = open_doc(client, path)
    conv1 = await hover(client, uri, text, "conv1:")
    assert "`conv1`: 64×112×112, 9,408 params, 118,013,952 multiply-adds, receptive field 7 (jump 2)" in conv1
    layer2 = await hover(client, uri, text, "layer2:")
    assert "`layer2` sequence: 128×28×28, 1,116,416 params" in layer2
    strides = await hover(client, uri, text, "strides=2", 1)
    assert strides == "`strides` of `conv`: default (1, 1)"
    conv = await hover(client, uri, text, "conv(64")
    assert "2-D convolution" in conv and "| `groups` | 1 |" in conv
    basic = await hover(client, uri, text, "basic(128", 2)  # a block call: each of its instances
    assert "`layer2.0` basic(channels=128, stride=2): 128×28×28" in basic

    blocks = ARCH / "blocks" / "resnet.cnn"
    btext = blocks.read_text()
    buri = open_doc(client, blocks)
    doc = await hover(client, buri, btext, "use_bias=false", 2)
    assert doc.startswith("`use_bias` of `conv`: default none") and "None: True" in doc


async def test_hover_inside_a_block_lists_its_instances(client: LanguageClient):
    path = ARCH / "googlenet.cnn"
    text = path.read_text()
    uri = open_doc(client, path)
    value = await hover(client, uri, text, "bn: batchnorm")
    assert "57 instances" in value and "`conv1.bn`: 64×112×112, 128 params" in value and "… and 45 more" in value


async def test_go_to_definition(client: LanguageClient):
    path = ARCH / "resnet34.cnn"
    text = path.read_text()
    uri = open_doc(client, path)

    async def where(needle, offset=0, in_text=text, in_uri=uri):
        result = await client.text_document_definition_async(
            t.DefinitionParams(t.TextDocumentIdentifier(in_uri), position(in_text, needle, offset))
        )
        return result.uri.removeprefix(ROOT.as_uri() + "/"), result.range.start.line, result.range.start.character

    blocks = (ARCH / "blocks" / "resnet.cnn").read_text()
    assert await where("basic(128") == ("architectures/blocks/resnet.cnn", *_line_col(blocks, "basic("))
    assert await where('"blocks/resnet.cnn"', 3) == ("architectures/blocks/resnet.cnn", 0, 0)
    assert await where("fc: dense(classes", 10) == ("architectures/resnet34.cnn", *_line_col(text, "classes"))
    unet = ARCH / "unet.cnn"
    utext = unet.read_text()
    uuri = open_doc(client, unet)
    assert await where("concat(enc2", 7, utext, uuri) == ("architectures/unet.cnn", *_line_col(utext, "enc2:"))


async def test_loop_and_generator_variables_go_to_where_they_are_bound(client: LanguageClient, tmp_path):
    text = (
        "let stages = ((8, 2), (16, 1))\n"
        "def total(rows, least) = sum(n for _, n in rows if n >= least)\n"
        "network n(depth = 1) {\n"
        "    input(4)\n"
        "    for c, n in stages {\n"
        "        fc{c}: dense(c * n)\n"
        "        for j in range(n) { dense(c + j) }\n"
        "    }\n"
        "    dense(sum(c * n for c, n in stages if c > depth) + total(stages, 2))\n"
        "}\n"
    )
    path = tmp_path / "loops.cnn"
    uri = open_doc(client, path, text)

    async def where(needle, offset=0):
        result = await client.text_document_definition_async(
            t.DefinitionParams(t.TextDocumentIdentifier(uri), position(text, needle, offset))
        )
        assert result is not None, needle
        assert result.uri == path.resolve().as_uri()
        return result.range.start.line, result.range.start.character

    loop_c, loop_n = _line_col(text, "c, n in stages {"), _line_col(text, "n in stages {")
    assert await where("dense(c * n)", 6) == loop_c and await where("dense(c * n)", 10) == loop_n
    assert await where("fc{c}", 3) == loop_c  # in a computed label
    assert await where("range(n)", 6) == loop_n  # in a nested loop's items
    assert await where("c + j", 0) == loop_c and await where("c + j", 4) == _line_col(text, "j in range")
    generator_c, generator_n = _line_col(text, "c, n in stages if"), _line_col(text, "n in stages if")
    assert await where("sum(c * n", 4) == generator_c and await where("sum(c * n", 8) == generator_n
    assert await where("if c > depth", 3) == generator_c  # in its condition
    assert await where("c, n in stages if") == generator_c  # a variable where it is bound: itself
    assert await where("sum(n for", 4) == _line_col(text, "n in rows")  # in a def
    assert await where("n >= least", 5) == _line_col(text, "least)")  # a def's parameter
    assert await where("c > depth", 4) == _line_col(text, "depth = 1")  # a network's parameter, as before

    assert await hover(client, uri, text, "dense(c * n)", 6) == "`c`: loop variable of `for c, n in stages`, line 5"
    assert await hover(client, uri, text, "if c > depth", 3) == (
        "`c`: loop variable of the generator `for c, n in stages if c > depth`, line 9"
    )
    assert await hover(client, uri, text, "n >= least", 5) == "`least`: parameter of `def total`, line 2"
    efficientnet = ARCH / "efficientnet.cnn"
    etext = efficientnet.read_text()
    euri = open_doc(client, efficientnet)
    value = await hover(client, euri, etext, "make_divisible(c * width)", 15)
    assert value.startswith("`c`: loop variable of `for s, (fused, e, k, stride, c_in, c, n) in enumerate(stages)`")


def _line_col(text: str, needle: str) -> tuple[int, int]:
    p = position(text, needle)
    return p.line, p.character


async def test_completion(client: LanguageClient, tmp_path):
    text = (
        'import "blocks/resnet.cnn"\nnetwork n {\n    input(3, 32, 32)\n'
        "    enc1: conv(8, 3, padding=same, )\n    x: relu()\n    concat()\n    \n}\n"
    )
    path = ARCH / "completion_test.cnn"  # not written: imports resolve next to the document's path
    uri = open_doc(client, path, text)

    async def labels(needle, offset):
        result = await client.text_document_completion_async(
            t.CompletionParams(t.TextDocumentIdentifier(uri), position(text, needle, offset))
        )
        return {i.label: i for i in result.items}

    arguments = await labels("same, )", 6)
    assert {"strides", "groups", "dilation"} <= arguments.keys() and "padding" not in arguments
    assert arguments["strides"].kind == t.CompletionItemKind.Property and arguments["strides"].insert_text == "strides="
    assert (await labels("concat()", 7)).keys() == {"enc1", "x"}
    anywhere = await labels("    \n}", 4)
    assert {"conv", "batchnorm", "identity", "basic", "bottleneck", "repeat", "output", "inline"} <= anywhere.keys()
    assert (
        anywhere["basic"].kind == t.CompletionItemKind.Class and anywhere["conv"].kind == t.CompletionItemKind.Function
    )


async def test_completion_of_the_family_language(client: LanguageClient):
    """Keywords as the grammar has them, built-in functions, the file's constants and functions, `in.` sizes."""
    text = (
        "let momentum = 0.01\ndef half(c) = c // 2\nblock b(c) {\n    conv(c, 3, )\n    conv(in.channels, 1)\n    \n}\n"
        "network n { input(3, 8, 8); b(8) }\n"
    )
    uri = open_doc(client, ARCH / "family_completion_test.cnn", text)

    async def labels(needle, offset):
        result = await client.text_document_completion_async(
            t.CompletionParams(t.TextDocumentIdentifier(uri), position(text, needle, offset))
        )
        return {i.label: i for i in result.items}

    anywhere = await labels("    \n}", 4)
    keywords = set(re.findall(r'^[A-Z]+: "([a-z]+)"$', (ROOT / "grammars" / "cnn.lark").read_text(), re.M))
    assert {"if", "else", "for", "in", "let", "def", "output", "and", "not"} <= keywords <= anywhere.keys()
    assert anywhere["for"].kind == t.CompletionItemKind.Keyword
    assert {"min", "max", "round", "floor", "ceil"} <= anywhere.keys()
    assert (
        anywhere["round"].kind == t.CompletionItemKind.Function and anywhere["round"].detail == "built-in, 1 argument"
    )
    assert anywhere["momentum"].kind == t.CompletionItemKind.Constant and anywhere["half"].detail == "def half"
    arguments = await labels("conv(c, 3, )", 11)
    assert {"strides", "min", "half", "momentum"} <= arguments.keys()
    sizes = await labels("conv(in.channels", 8)
    assert {"channels", "height", "width"} <= sizes.keys() and "conv" not in sizes
    assert sizes["channels"].kind == t.CompletionItemKind.Property


async def test_document_symbols(client: LanguageClient):
    uri = open_doc(client, ARCH / "googlenet.cnn")
    result = await client.text_document_document_symbol_async(t.DocumentSymbolParams(t.TextDocumentIdentifier(uri)))
    assert [(s.name, s.kind) for s in result] == [
        ("conv_bn", t.SymbolKind.Function), ("inception", t.SymbolKind.Function),
        ("inception_aux", t.SymbolKind.Function), ("googlenet", t.SymbolKind.Class),
    ]  # fmt: skip
    inception = result[1]
    assert [c.name for c in inception.children] == ["branch1", "branch2", "branch3", "branch4"]
    assert inception.range.end.line > inception.range.start.line
    assert [c.name for c in result[3].children][:3] == ["conv1", "maxpool1", "conv2"]
    assert {"aux1", "aux2"} <= {c.name for c in result[3].children}  # labels under `if aux_logits { }`


async def test_statements_inside_loops_have_hovers_and_outline(client: LanguageClient):
    """A `for` runs its statements in the enclosing scope (a labelled one is a sequence of its own), as `if`."""
    path = ARCH / "densenet.cnn"
    text = path.read_text()
    uri = open_doc(client, path)
    value = await hover(client, uri, text, "denselayer{j + 1}:")
    assert "`features.denseblock1.denselayer1` dense_layer(growth=32, bn_size=4): 96×56×56, 45,440 params" in value
    value = await hover(client, uri, text, "transition()")
    assert "`features.transition1` transition(channels=128): 128×28×28" in value
    result = await client.text_document_document_symbol_async(t.DocumentSymbolParams(t.TextDocumentIdentifier(uri)))
    features = next(s for s in result if s.name == "features")
    assert [c.name for c in features.children] == [
        "conv0", "norm0", "relu0", "pool0", "denseblock{i + 1}", "transition{i + 1}", "norm5",
    ]  # fmt: skip
    block = features.children[4]
    assert [c.name for c in block.children] == ["denselayer{j + 1}"]
    start = _line_col(text, "denseblock{")[0]
    assert (block.range.start.line, block.range.end.line) == (start, start + 2)  # to the loop's `}`


async def test_formatting(client: LanguageClient, tmp_path):
    messy = "network n { input(3,8,8) ; relu( )  # act\n}\n"
    uri = open_doc(client, tmp_path / "messy.cnn", messy)
    edits = await client.text_document_formatting_async(
        t.DocumentFormattingParams(t.TextDocumentIdentifier(uri), t.FormattingOptions(tab_size=4, insert_spaces=True))
    )
    assert len(edits) == 1 and edits[0].range.start == t.Position(0, 0)
    assert edits[0].new_text == "network n {\n    input(3, 8, 8)\n    relu()  # act\n}\n"
