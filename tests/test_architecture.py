"""The core's shape: one direction of imports, no module over ~400 lines, no adapter hooks found by name."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "mmdistill"
#: the one core module allowed to import the recipes: the CLI's registry of recipe names
REGISTRY_IMPORTERS = {"mmdistill.cli", "mmdistill.saved_cli"}  # the command line: it finds recipes by name


def _module_name(path: Path) -> str:
    rel = path.relative_to(CORE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``mmdistill`` module ``path`` imports, at module level or inside a function."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("mmdistill"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("mmdistill"):
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def test_core_imports_have_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep.startswith(node + "."):  # a package re-exporting its own submodule
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import cycle in mmdistill/: " + " -> ".join(cycle))
            if state.get(dep) is None:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)


def test_core_does_not_import_adapters_or_recipes():
    offenders = []
    for path in CORE.rglob("*.py"):
        name = _module_name(path)
        for imported in _imports(path):
            if imported.startswith(("mmdistill.modalities", "mmdistill.recipes")) and not (
                    name in REGISTRY_IMPORTERS and imported.startswith("mmdistill.recipes")):
                offenders.append(f"{name} imports {imported}")
    assert not offenders, offenders


def test_core_modules_are_small_and_find_no_hook_by_name():
    too_long, lookups = [], []
    for path in CORE.rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 420:
            too_long.append(f"{path.name}: {text.count(chr(10))} lines")
        for lineno, line in enumerate(text.splitlines(), 1):
            if "hasattr(modality" in line or "hasattr(ctx.modality" in line:
                lookups.append(f"{path.name}:{lineno}")
    assert not too_long, too_long
    assert not lookups, lookups


#: the folders whose modules' ``__all__`` is the public API
#: (the rule: typed public APIs; docstrings that state shapes and units)
PUBLIC_ROOTS = [CORE, CORE.parent / "modalities", CORE.parent / "recipes"]


def _public_defs(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """The module-level functions and classes named in the module's ``__all__`` (none without one)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if (any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
                    and isinstance(node.value, (ast.List, ast.Tuple))):
                names.update(e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return [node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names]


def _unannotated(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The parameters of ``fn`` (but self and cls) without an annotation, and ``return`` when it has none."""
    a = fn.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []), *([a.kwarg] if a.kwarg else [])]
    missing = [p.arg for p in params if p.annotation is None and p.arg not in ("self", "cls")]
    return missing + (["return"] if fn.returns is None else [])


def test_public_names_have_docstrings_and_annotations():
    undocumented, untyped = [], []
    for root in PUBLIC_ROOTS:
        for path in sorted(root.rglob("*.py")):
            where = path.relative_to(CORE.parent)
            for node in _public_defs(ast.parse(path.read_text())):
                if not ast.get_docstring(node):
                    undocumented.append(f"{where}:{node.lineno}:{node.name}")
                if not isinstance(node, ast.ClassDef) and _unannotated(node):
                    untyped.append(f"{where}:{node.lineno}:{node.name} ({', '.join(_unannotated(node))})")
    assert not undocumented and not untyped, (
        f"{len(undocumented)} public names (in __all__) without a docstring: {', '.join(undocumented) or 'none'}; "
        f"{len(untyped)} public functions (in __all__) without full annotations: {', '.join(untyped) or 'none'}")
