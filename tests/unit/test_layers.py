"""Every import points down the layers of docs/ARCHITECTURE.md, drawn from the source with ast.

    core  ->  generators  ->  database  ->  producer, consumer  ->  hospital

A package may import from its own layer's package and from any layer below, never from above;
producer and consumer share a layer and do not import each other. Every import counts: at the top
of a module, inside a function, under `if TYPE_CHECKING`, relative or absolute.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Lowest first; packages in one tuple share a layer.
LAYERS = (("core",), ("generators",), ("database",), ("producer", "consumer"), ("hospital",))
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def modules() -> list[Path]:
    return sorted(p for package in RANK for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level project package) of every import in `path`, wherever it stands."""
    package_parts = path.relative_to(ROOT).with_suffix("").parts
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = package_parts[:len(package_parts) - node.level]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name and name.split(".")[0] in RANK]
    return found


def arrows() -> list[tuple[str, int, str, str]]:
    """(module, line, from package, to package) for every import between project packages."""
    return [(str(path.relative_to(ROOT)), line, path.relative_to(ROOT).parts[0], target)
            for path in modules() for line, target in imported_packages(path)]


def test_the_layers_cover_every_package_of_the_project():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(RANK)


@pytest.mark.parametrize("package", [p for layer in LAYERS for p in layer])
def test_a_package_imports_only_from_its_own_layer_or_below(package):
    upward = [f"{module}:{line} imports {target} ({'same layer' if RANK[target] == RANK[source] else 'higher'})"
              for module, line, source, target in arrows()
              if source == package and target != source and RANK[target] >= RANK[source]]
    assert upward == []


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    module = tmp_path / "core" / "sub" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from hospital import cli\n    import producer.batch_writer\n"
                      "from .. import settings\nfrom ...hospital import run\n")
    assert sorted(imported_packages(module)) == [(2, "hospital"), (3, "producer"), (4, "core"), (5, "hospital")]


def test_the_core_imports_no_project_package_but_itself():
    assert {target for _, _, source, target in arrows() if source == "core"} <= {"core"}
