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


#: modules kept so that names moved out of them stay importable from them ("importable from here as before")
SHIMS = {"modalities/audio_visual/loaders.py": "mmdistill.modalities.audio_visual.loaders"}


def _names_imported_from(module: str) -> set[str]:
    """Every name imported from ``module`` by the package, the adapters, the recipes, the tests and the benchmarks
    (absolute imports, and the relative ones :func:`_imports` resolves), function-level imports included."""
    names = {name for _, _, mod, name in _imports() if mod == module}
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module == module:
                    names |= {alias.name for alias in node.names}
    return names


def test_a_shims_re_exports_each_have_an_importer():
    """audio_visual/loaders.py re-exported ``_decord_why``, ``_stream_rate``, ``_hold_out``, ``REPORT_KINDS`` and
    ``BUILT_IN`` "as before" after their importers had moved to the modules that define them (review 56 R4.2): a name
    a shim lists is one it uses itself or one something imports from it."""
    unused = []
    for rel, module in SHIMS.items():
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        imported = _names_imported_from(module)
        unused += [f"{rel}: {name}" for name in importlib.import_module(module).__all__
                   if name not in used and name not in imported]
    assert not unused, "re-exported, used by nothing: " + ", ".join(unused)
