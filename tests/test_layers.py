"""The package's layers (docs/architecture.md): a module imports only from its own layer or lower ones, at module
level or inside a function alike."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "fastadapt"
# lowest first; packages on one line share a layer
LAYERS = [
    {"registry", "io", "stats", "cpu_memory", "seeding", "checkpoint"},
    {"text"},
    {"tasks"},
    {"nn", "rl"},
    {"learners", "optim"},
    {"configs"},
    {"presets"},
    {"train"},
    {"cli", "__main__", "__init__"},
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def imported_packages(path: Path) -> set[str]:
    """The top-level fastadapt packages ``path`` imports from (relative and absolute imports, anywhere in it)."""
    rel = path.relative_to(SRC).parts
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "fastadapt" and len(parts) > 1:
                    out.add(parts[1])
                continue
            base = list(rel[:-1])[: len(rel) - node.level]  # the package the dots climb to
            names = (node.module or "").split(".") if node.module else [a.name for a in node.names]
            target = (base + names)[0] if base + names else ""
            out.add(target.removesuffix(".py"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fastadapt" and len(parts) > 1:
                    out.add(parts[1])
    return out


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def crossings() -> set[tuple[str, str]]:
    found = set()
    for path in SRC.rglob("*.py"):
        own = package_of(path)
        assert own in LEVEL, f"{own} is in no layer; add it to LAYERS here and in docs/architecture.md"
        for target in imported_packages(path) - {own}:
            assert target in LEVEL, f"{path.relative_to(SRC)} imports {target}, which is in no layer"
            if LEVEL[target] > LEVEL[own]:
                found.add((str(path.relative_to(SRC)), target))
    return found


def test_no_module_imports_from_a_higher_layer():
    assert crossings() == set()


def test_the_import_scan_sees_function_local_and_relative_imports():
    assert "text" in imported_packages(SRC / "tasks" / "clinc150.py")  # a function-local `from ..text.encoder`
    assert {"learners", "tasks"} <= imported_packages(SRC / "configs" / "learners.py")
