"""Every ``from mmdistill... import name`` in the package, the adapters and the recipes names something that exists,
including the imports written inside functions (which importing a module does not run). Two changes merged on the
same evening once left a function-level import of a name the other had renamed: an ImportError only a run of that
path would have met."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package it is imported as
PACKAGES = {"mmdistill": "mmdistill", "modalities": "mmdistill.modalities", "recipes": "mmdistill.recipes"}


def _imports():
    """(file, line, module, name) of every import from the project's own modules."""
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            here = parts[:-1] if path.name == "__init__.py" else parts
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom):
                    continue
                if node.level:
                    base = ".".join(here[:-1] if path.name != "__init__.py" else here).split(".")
                    base = base[:len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module == "mmdistill" or module.startswith("mmdistill."):
                    for alias in node.names:
                        yield path.relative_to(ROOT), node.lineno, module, alias.name


def test_every_project_import_names_something_that_exists():
    missing = []
    for path, line, module, name in _imports():
        try:
            found = importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{path}:{line}: module {module} ({exc})")
            continue
        if name != "*" and not hasattr(found, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{path}:{line}: {module} has no {name}")
    assert not missing, "\n".join(missing)
