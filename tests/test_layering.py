"""The package's modules form layers: what a module imports at its top level never leads back to it (so import
order never matters), only `__main__` imports the command line, and no module reaches into another's private
names. Lazy imports inside functions are allowed for what is optional (frameworks, backends) and for the
facade methods of `Network` (`net.summary()`)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnndsl"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports():
    """(importer, imported module, imported name, at top level) for every import of a cnndsl module."""
    mods = modules()
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                if not target or not target.startswith("cnndsl"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    yield name, sub if sub in mods else target, alias.name, id(node) in top
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("cnndsl"):
                        yield name, alias.name, None, id(node) in top


def test_top_level_imports_form_no_cycle():
    graph: dict[str, set[str]] = {}
    for importer, target, _, top in imports():
        if top and target != importer:
            graph.setdefault(importer, set()).add(target)
    state: dict[str, int] = {}

    def visit(node, path):
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " → ".join([*path[path.index(node) :], node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])


def test_only_the_entry_point_imports_the_command_line():
    assert {i for i, t, _, _ in imports() if t == "cnndsl.cli"} <= {"cnndsl.__main__"}


def test_no_module_imports_another_modules_private_names():
    private = [(i, t, n) for i, t, n, _ in imports() if n and n.startswith("_") and n != "__version__"]
    assert private == []
