"""The import structure of the two packages: no circle anywhere, and majora-lite's layers read top to bottom.

The graph is built from the source with ``ast``, so an import inside a function counts as much as one at
the top of a module (hiding an import in a function does not break a circle, it only delays it), and a
string naming a ``majora_lite`` module (Django's dotted settings, ``python -m``) counts as an import too.

majora-lite's layers, top first; a module may import its own layer and the ones below it:
ops (CLI, admin, seeding, harness) -> server (settings, URLs, WSGI, serve) -> web (login pages, OAuth
validator, middleware) -> api (Majora's API and its serialisation) -> majora2 (the Django app: models
as data). The plugin package ``snakemake_majora`` does not import majora-lite, but for the CLI's
``server`` delegation and the demo.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("majora_lite", "snakemake_majora", "snakemake_storage_plugin_majora")
#: majora-lite's layers, bottom first.
LAYERS = (
    "majora_lite.majora2",
    "majora_lite.api",
    "majora_lite.web",
    "majora_lite.server",
    "majora_lite.ops",
)
#: The plugin's modules allowed to start majora-lite: the ``server`` subcommand and the demo.
PLUGIN_USES_LITE = {"snakemake_majora.cli", "snakemake_majora.demo"}
_DOTTED = re.compile(r"^majora_lite(\.\w+)+")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module ``name`` starts with (``a.b.func`` -> ``a.b``), or None."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported_names(module: str, path: Path) -> list[tuple[str, str | None]]:
    """(name, module it is imported from) for every import statement of ``module``, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(f"{base}.{alias.name}", base) for alias in node.names]
    return out


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module ``module`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports pkg.mod when it is a module, else a name from pkg.
            names = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED.match(node.value):
            # A dotted string is an import when it names a module (settings, ``python -m``), not when it
            # names a package or nothing (a logger's name); the packages' __init__ files import nothing.
            target = _resolve(_DOTTED.match(node.value).group(0), modules)
            if target is not None and modules[target].name != "__init__.py":
                names = [target]
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _sources()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int | None:
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return index
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_project_import_names_a_module() -> None:
    """``from a.b import c`` needs module a.b; ``import a.b`` needs a.b (so the graph misses nothing)."""
    modules = _sources()
    dangling = []
    for name, path in modules.items():
        for imported, base in _imported_names(name, path):
            wanted = base if base is not None else imported
            if wanted.split(".")[0] in PACKAGES and wanted not in modules:
                dangling.append(f"{name}: {imported}")
    assert dangling == []


def test_no_import_circle_in_either_package() -> None:
    assert _cycles(_graph()) == []


def test_majora_lite_imports_run_down_its_layers() -> None:
    graph = _graph()
    upward = [
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)
    ]
    assert upward == []
    # Every module sits in a layer, but the package's docstring-only __init__ and ``python -m``'s entry.
    unplaced = [m for m in graph if m.startswith("majora_lite") and _layer(m) is None]
    assert sorted(unplaced) == ["majora_lite", "majora_lite.__main__"]


def test_packages_import_each_other_only_where_allowed() -> None:
    graph = _graph()
    lite_to_plugin = [f"{a} -> {b}" for a, t in graph.items() if a.startswith("majora_lite")
                      for b in t if not b.startswith("majora_lite")]
    assert lite_to_plugin == [], "majora-lite imports nothing from the plugin"
    plugin_to_lite = {a for a, t in graph.items() if not a.startswith("majora_lite")
                      and any(b.startswith("majora_lite") for b in t)}
    assert plugin_to_lite <= PLUGIN_USES_LITE


def test_package_inits_import_nothing() -> None:
    """Package ``__init__`` files are docstrings: importing a layer's module loads nothing else."""
    graph = _graph()
    for name, path in _sources().items():
        if path.name == "__init__.py" and name.startswith("majora_lite"):
            assert graph[name] == set(), name


def test_the_models_import_no_endpoint_code() -> None:
    graph = _graph()
    models = graph["majora_lite.majora2.models"]
    assert not any(_layer(m) != 0 for m in models), models


def test_importing_the_plugin_does_not_load_majora_lite() -> None:
    """The storage plugin, the client and the CLI module load without majora-lite (or Django)."""
    code = (
        "import sys\n"
        "import snakemake_storage_plugin_majora, snakemake_majora.plugin, snakemake_majora.client\n"
        "import snakemake_majora.credentials, snakemake_majora.cli, snakemake_majora.fetch\n"
        "import snakemake_majora.queries, snakemake_majora.login, snakemake_majora.ocarina\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('majora_lite', 'django')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
