"""One op table for the whole compiler: every consumer of the IR handles every registered op kind (and every
activation function, where it handles them one by one), or refuses it with a located E500 — never a default
branch. A new op that a consumer lacks fails here."""

import dataclasses
import importlib
import re
import threading
from pathlib import Path

import pytest

import cnndsl
from cnndsl import ops
from cnndsl.dispatch import Dispatcher
from cnndsl.errors import CnnDslError
from cnndsl.ir import Network
from cnndsl.syntax import parse

ROOT = Path(__file__).resolve().parent.parent

# Every module that consumes the IR op by op. Importing them registers their Dispatcher subclasses.
CONSUMERS = {
    "cnndsl.summary": "the summary",
    "cnndsl.receptive": "receptive fields",
    "cnndsl.diagram": "diagrams",
    "cnndsl.transfer": "weight transfer",
    "cnndsl.backends.onnx": "backend onnx",
    "cnndsl.backends.torch": "backend torch",
    "cnndsl.backends.keras": "backend keras",
}


def dispatchers() -> list[type[Dispatcher]]:
    for module in CONSUMERS:
        importlib.import_module(module)
    found, stack = [], list(Dispatcher.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack += cls.__subclasses__()
    return [c for c in found if c.__module__ in CONSUMERS]


def test_every_consumer_dispatches_through_the_registry():
    """Each consumer module has at least one Dispatcher: none went back to an if/elif chain on kinds."""
    assert {c.__module__ for c in dispatchers()} == set(CONSUMERS)
    assert {c.WHAT for c in dispatchers()} == set(CONSUMERS.values())


@pytest.mark.parametrize("cls", dispatchers(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_consumer_handles_every_kind(cls):
    assert cls.missing() == []


def test_a_consumer_without_an_entry_fails_the_test_and_the_user_gets_e500():
    """Deleting one entry (here: the summary's `lrn`) shows up in `missing()`, and a network that uses the
    op gets a located error rather than a wrong or empty result."""
    from cnndsl.summary import Describe

    class Lacking(Describe):
        lrn = None

    assert Lacking.missing() == ["lrn"]
    net = cnndsl.loads("network n {\n  input(3, 8, 8)\n  lrn(3)\n}\n", path="n.cnn")
    with pytest.raises(CnnDslError) as e:
        Lacking().handler(net.nodes[1])
    assert (e.value.code, e.value.path, e.value.line, e.value.column) == ("E500", "n.cnn", 3, 3)
    assert "the summary cannot handle 'lrn' yet" in e.value.message

    class NoHardSigmoid(Dispatcher):
        TRANSFORMS = {k: None for k in ops.REGISTRY}
        ACTIVATIONS = {f: None for f in ops.ACTIVATIONS if f != "hardsigmoid"}

    assert NoHardSigmoid.missing() == ["activation hardsigmoid"]


def test_the_tables_are_derived_from_the_registry():
    assert ops.OPS == tuple(ops.REGISTRY.values())
    assert {cls for cls, _ in ops.LAYERS.values()} == set(ops.OPS)
    assert set(ops.MERGES) == {k for k, cls in ops.REGISTRY.items() if cls.merge} == {"concat", "add", "multiply"}
    for kind, cls in ops.REGISTRY.items():
        assert cls.kind_of() == kind and dataclasses.is_dataclass(cls)
    # IR JSON knows every kind: pydantic's union is built from the registry
    schema = Network.json_schema()
    kinds = set(re.findall(r'"const": "(\w+)"', str(schema).replace("'", '"')))
    assert set(ops.REGISTRY) <= kinds


def test_every_layer_and_activation_is_documented():
    """Every layer has a row in one of the tables of docs/language.md."""
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    rows = "\n".join(line for line in text.splitlines() if line.startswith("| "))
    for name in ops.LAYERS:
        assert f"`{name}" in rows, name


def test_a_merge_block_builds_the_op_of_its_kind():
    """`add { }` and `concat { }` build the merge they name (the compiler looks the kind up in the registry)."""
    src = "network n {{ input(4, 8, 8); {} {{ conv(4, 1); conv(4, 3, padding=1) }} }}"
    assert cnndsl.loads(src.format("add")).nodes[-1].op == ops.Add()
    assert cnndsl.loads(src.format("concat")).nodes[-1].op == ops.Concat()
    assert cnndsl.loads(src.format("concat")).output_shape == (8, 8, 8)


def test_parsing_is_reentrant():
    """Eight threads parsing different files at once get what parsing them one after another gives:
    every position names its own file."""
    sources = [(p.name, p.read_text()) for p in sorted((ROOT / "architectures").glob("*.cnn"))]
    expected = {name: dataclasses.astuple(parse(text, name)) for name, text in sources}
    results, errors = {}, []

    def work(chunk):
        try:
            for _ in range(3):
                for name, text in chunk:
                    tree = dataclasses.astuple(parse(text, name))
                    assert tree == expected[name], name
                    results[name] = tree
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(sources[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == expected
