"""Who may import whom, read from the source (plain AST: nothing is imported or run).

The rule, top to bottom: ui → app (the facade service.py and its callers) → features → retrieval → ingest
→ index → base.
A module of assistant/ may import its own layer or a lower one, never a higher one; assistant/ has no
import cycles; ui/ imports only the facade and plain types. See docs/architecture.md ("Layers").

Every import counts, including those inside functions (they run too, only later). An import under
`if TYPE_CHECKING:` never runs, so it is left out of the cycle check; the layer and ui rules still count
it (a type named in an annotation is a dependency on the module that defines it).
Importing `assistant.x.y` runs the package `assistant/x/__init__.py` first: for the cycle check that is
an import of the package too (not for a module inside it, whose package is already loading); the layer
and ui rules look only at the module named.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom. A module belongs to the layer of the longest name below that is it or one of its packages.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The facade and what drives the whole product through it: the CLI, and the evaluation harness (it
    # builds an Assistant and runs `ask` over a question set, as the CLI does for one question).
    # The doors (HTTP API, MCP server, LangChain retriever) are thin layers over the facade, like the CLI.
    ("app", ("assistant.service", "assistant.service_people", "assistant.app_server", "assistant.cli", "assistant.evaluation", "assistant.doors", "assistant.integrations")),
    ("features", ("assistant.answer", "assistant.soa", "assistant.responsibilities", "assistant.actors", "assistant.feedback",
                  "assistant.llm", "assistant.users", "assistant.uploads", "assistant.documents", "assistant.api_tokens",
                  "assistant.audit", "assistant.oidc")),
    ("retrieval", ("assistant.retrieval",)),
    ("ingest", ("assistant.ingest",)),  # ingest writes the index through assistant.index
    ("index", ("assistant.index",)),
    ("base", ("assistant.registers", "assistant.register_kinds", "assistant.control_cells", "assistant.catalogue", "assistant.models", "assistant.config",
              "assistant.text", "assistant.errors", "assistant.knowledge", "assistant.database")),
)
LAYER_NAMES = " → ".join(name for name, _ in LAYERS)
# ui/ imports the facade and the plain types it hands out (a module here or one inside it), nothing else.
UI_MAY_IMPORT = ("assistant.service", "assistant.config", "assistant.models", "assistant.catalogue",
                 "assistant.errors", "assistant.answer.types", "assistant.soa.types")


@dataclass(frozen=True)
class Import:
    file: str  # path from the project root
    line: int
    target: str  # module of assistant/ it runs (a package's __init__ is the package name)
    type_only: bool  # under `if TYPE_CHECKING:`
    package_run: bool  # a package whose __init__ runs before the module named (not named itself)

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def what(self) -> str:
        return f"{self.target} (its package __init__ runs first)" if self.package_run else self.target


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / "assistant").rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted name runs: itself, or the nearest package or module above it (`a.b.Name`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`), not under its else."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for stmt in node.body:
                imports = (sub for sub in ast.walk(stmt) if isinstance(sub, ast.Import | ast.ImportFrom))
                found.update(id(sub) for sub in imports)
    return found


def _named(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]
) -> set[str]:
    """The modules of assistant/ an import statement names: `from a import b` names the module a.b when
    there is one, else a (b is a name defined in a)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:  # relative: from the importer's package, one level up per extra dot
            base = importer.split(".") if is_package else importer.split(".")[:-1]
            module = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        names = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
    return {m for name in names if name.startswith("assistant.") and (m := _resolve(name, modules))}


def _packages_run(module: str, importer: str) -> set[str]:
    """The packages whose __init__ runs before `module` (not the importer's own: they are already loading)."""
    parts = module.split(".")
    chain = {".".join(parts[:i]) for i in range(2, len(parts))}
    return {m for m in chain if not (importer == m or importer.startswith(m + "."))}


def imports_in(
    text: str, file: str, importer: str, is_package: bool, modules: dict[str, Path]
) -> list[Import]:
    """The modules of assistant/ that a file's text imports, one record per (line, module)."""
    tree = ast.parse(text, filename=file)
    type_only = _type_checking_nodes(tree)
    found: dict[tuple[int, str], Import] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        named = _named(node, importer, is_package, modules) - {importer}
        for module in named:
            found[(node.lineno, module)] = Import(file, node.lineno, module, id(node) in type_only, False)
        for package in set().union(*(_packages_run(m, importer) for m in named)) - named:
            record = Import(file, node.lineno, package, id(node) in type_only, True)
            found.setdefault((node.lineno, package), record)
    return sorted(found.values(), key=lambda i: (i.line, i.target))


def imports_of(path: Path, modules: dict[str, Path]) -> list[Import]:
    return imports_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), module_name(path),
                      path.name == "__init__.py", modules)


def layer_of(module: str) -> int | None:
    """Index in LAYERS (0 = top), by the longest listed name that is the module or a package of it."""
    best: tuple[int, int] | None = None  # (length of the listed name, layer)
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return best[1] if best else None


@cache
def package_imports() -> dict[str, list[Import]]:
    modules = package_modules()
    return {m: imports_of(p, modules) for m, p in modules.items() if m != "assistant"}


def layer_violations() -> list[str]:
    out = []
    for module, imports in package_imports().items():
        own = layer_of(module)
        for imp in imports:
            if imp.package_run:
                continue
            theirs = layer_of(imp.target)
            if own is not None and theirs is not None and theirs < own:
                out.append(f"{imp.where()} imports {imp.target} (layer {LAYERS[theirs][0]}) from layer "
                           f"{LAYERS[own][0]}: a module may import only its own layer or a lower one "
                           f"({LAYER_NAMES})")
    return out


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for child in graph.get(todo.pop(), set()) - seen:
            seen.add(child)
            todo.append(child)
    return seen


def _cycle_groups(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (one group per cycle knot)."""
    reach = {m: _reachable(m, graph) for m in graph}
    groups = {frozenset({m} | {n for n in reach[m] if m in reach[n]}) for m in graph if m in reach[m]}
    return sorted(sorted(group) for group in groups)


def _shortest_cycle(start: str, group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """start → … → start inside one group (breadth first, so the shortest)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & group):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return [start]


def import_cycles() -> list[str]:
    runtime = {m: [i for i in imps if not i.type_only] for m, imps in package_imports().items()}
    graph = {m: {i.target for i in imps} - {m} for m, imps in runtime.items()}
    out = []
    for group in _cycle_groups(graph):
        path = _shortest_cycle(group[0], set(group), graph)
        steps = []
        for here, there in zip(path, path[1:], strict=False):
            edge = [i for i in runtime[here] if i.target == there]
            first = min(edge, key=lambda i: (i.package_run, i.line))  # a named import before a package run
            steps.append(f"{first.where()} imports {first.what()}")
        out.append(f"import cycle among {', '.join(group)}: " + "; ".join(steps))
    return out


def ui_violations() -> list[str]:
    modules = package_modules()
    out = []
    for path in sorted((ROOT / "ui").rglob("*.py")):
        for imp in imports_of(path, modules):
            allowed = any(imp.target == ok or imp.target.startswith(ok + ".") for ok in UI_MAY_IMPORT)
            if not imp.package_run and not allowed:
                out.append(f"{imp.where()} imports {imp.target}: ui/ may import only "
                           f"{', '.join(UI_MAY_IMPORT)} (the facade and plain types)")
    return out


def test_every_module_has_a_layer() -> None:
    missing = [f"{path.relative_to(ROOT)} ({module}) is in no layer: add it to LAYERS in "
               "tests/test_layers.py and to the table in docs/architecture.md"
               for module, path in package_modules().items()
               if module != "assistant" and layer_of(module) is None]
    assert not missing, "\n".join(missing)


def test_imports_go_down_the_layers() -> None:
    found = layer_violations()
    assert not found, f"{len(found)} upward import(s):\n" + "\n".join(found)


def test_no_import_cycles_in_the_package() -> None:
    found = import_cycles()
    assert not found, f"{len(found)} import cycle(s) (imports inside functions count):\n" + "\n".join(found)


def test_ui_imports_only_the_facade_and_plain_types() -> None:
    found = ui_violations()
    assert not found, f"{len(found)} import(s) of package internals in ui/:\n" + "\n".join(found)


def test_the_reader_sees_imports_in_functions_relative_and_type_only() -> None:
    """The checks above are only as good as this reader of import statements."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import lexical\n"
        "from ..answer import units\n"
        "if TYPE_CHECKING:\n"
        "    from assistant.service import Assistant\n"
        "else:\n"
        "    import assistant.config\n"
        "def later():\n"
        "    from assistant.soa.draft import SoADraft\n"
    )
    # as if it were assistant/index/store.py
    found = {(i.line, i.target, i.type_only, i.package_run)
             for i in imports_in(source, "probe.py", "assistant.index.store", False, package_modules())}
    assert found == {
        (2, "assistant.index.lexical", False, False),  # its own package assistant.index is already loading
        (3, "assistant.answer.units", False, False), (3, "assistant.answer", False, True),
        (5, "assistant.service", True, False),
        (7, "assistant.config", False, False),
        (9, "assistant.soa.draft", False, False), (9, "assistant.soa", False, True),
    }
