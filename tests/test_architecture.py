"""The shape of the package (docs/architecture.md): checks that fail when the structure regresses.

The floors themselves (who may import whom) are import-linter's contracts in pyproject.toml,
run by ``make lint``; the checks here cover what a layers contract cannot see: cycles between
any two modules, module and function sizes, function-level imports, private helpers imported
across modules, and JavaScript kept in Python strings.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from functools import cache
from pathlib import Path

import grimp
import pytest

PACKAGE = "geocluster"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

MAX_MODULE_LINES = 600
MAX_FUNCTION_CODE_LINES = 100
MAX_PUBLIC_STATEMENTS = 60

#: Function-level imports of geocluster modules that are allowed, as
#: (importing module, imported module prefix). The CLI defers importing the pipeline so that
#: ``geocluster --help``, ``--version`` and ``config`` start without the scientific stack.
FUNCTION_IMPORT_ALLOWED = {
    ("geocluster.pipeline.cli", "geocluster.pipeline."),
}


# -- reading the package ------------------------------------------------------------------------

def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


@cache
def _tree(name: str) -> ast.Module:
    path = _modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _where(name: str, node: ast.AST) -> str:
    return f"{_modules()[name].relative_to(ROOT.parent)}:{node.lineno}"


def _functions(tree: ast.AST):
    """(qualified name, node) of every function and method, nested ones included."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield f"{prefix}{child.name}", child
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)
    yield from walk(tree, "")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from ... import`` statement."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _imported_modules(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    is_package = _modules()[module].name == "__init__.py"
    return [_resolve(module, is_package, node)]


# -- imports ------------------------------------------------------------------------------------

@cache
def _graph() -> grimp.ImportGraph:
    # grimp reads every import statement, also those inside functions and TYPE_CHECKING blocks
    return grimp.build_graph(PACKAGE, cache_dir=None)


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other (cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph.find_modules_directly_imported_by(module)):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                group.append(other)
                if other == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def _describe_cycle(graph: grimp.ImportGraph, group: list[str]) -> str:
    first, *others = group
    lines = []
    for other in others[:1] or [first]:
        for a, b in ((first, other), (other, first)):
            chain = graph.find_shortest_chain(importer=a, imported=b) or ()
            for importer, imported in zip(chain, chain[1:], strict=False):
                details = graph.get_import_details(importer=importer, imported=imported)
                line = details[0]["line_number"] if details else "?"
                lines.append(f"{importer} -> {imported} (l.{line})")
    return f"{', '.join(group)}: " + "; ".join(lines)


def test_the_cycle_finder_on_a_toy_graph():
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"),
                               ("p.e", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert _strongly_connected(graph) == [["p.a", "p.b", "p.c"]]


def test_imports_inside_functions_are_found_with_their_function():
    tree = ast.parse(
        "import os\n"
        "def f():\n    import geocluster.weights\n"
        "class C:\n    def m(self):\n        def inner():\n"
        "            from geocluster import errors\n        return inner\n"
        "if True:\n    from geocluster import units\n"
    )
    found = [(name, ast.unparse(node)) for name, node in _imports_in_functions(tree, None)]
    assert found == [("f", "import geocluster.weights"),
                     ("C.m.inner", "from geocluster import errors")]


def test_no_import_cycle_among_geocluster_modules():
    # function-level imports count: a cycle held together by an import inside a function is
    # still a cycle (and the facade geocluster/__init__.py is a module like any other here)
    graph = _graph()
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe_cycle(graph, g) for g in cycles)


def test_nothing_inside_the_package_imports_the_facade():
    importers = sorted(_graph().find_modules_that_directly_import(PACKAGE))
    assert not importers, (
        f"these modules import the facade `{PACKAGE}` (import the defining module instead): "
        + ", ".join(importers)
    )


def _imports_in_functions(node: ast.AST, qualname: str | None, prefix: str = ""):
    """(innermost enclosing function, import node) of every import inside a function."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _imports_in_functions(child, f"{prefix}{child.name}",
                                             f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _imports_in_functions(child, qualname, f"{prefix}{child.name}.")
        elif isinstance(child, ast.Import | ast.ImportFrom):
            if qualname is not None:
                yield qualname, child
        else:
            yield from _imports_in_functions(child, qualname, prefix)


@cache
def _function_level_imports() -> tuple[tuple[str, str, str, ast.AST], ...]:
    found = []
    for module in _modules():
        for qualname, node in _imports_in_functions(_tree(module), None):
            for target in _imported_modules(module, node):
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    found.append((module, qualname, target, node))
    return tuple(found)


def test_no_function_level_import_of_a_geocluster_module():
    found = sorted({
        f"{_where(module, node)} {qualname}() imports {target}"
        for module, qualname, target, node in _function_level_imports()
        if not any(module == m and target.startswith(p) for m, p in FUNCTION_IMPORT_ALLOWED)
    })
    assert not found, "function-level imports of geocluster modules:\n" + "\n".join(found)


def test_the_allowed_function_level_imports_are_still_needed():
    # keep the allow-list honest: an entry nobody uses any more is removed
    used = {
        (module, prefix)
        for module, _, target, _ in _function_level_imports()
        for m, prefix in FUNCTION_IMPORT_ALLOWED
        if module == m and target.startswith(prefix)
    }
    assert used == FUNCTION_IMPORT_ALLOWED


def test_no_private_helper_imported_across_modules():
    # `from geocluster.x import _helper` in another module: promote the helper to a public
    # name (of a private module, if it is internal) or to geocluster/_base/
    found = []
    for module in _modules():
        for node in ast.walk(_tree(module)):
            if not isinstance(node, ast.ImportFrom):
                continue
            (source,) = _imported_modules(module, node)
            if source != PACKAGE and not source.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if (alias.name.startswith("_") and not alias.name.startswith("__")
                        and submodule not in _modules()):
                    found.append(f"{_where(module, node)} imports {source}.{alias.name}")
    assert not found, "private helpers imported across modules:\n" + "\n".join(sorted(found))


# -- sizes --------------------------------------------------------------------------------------

def test_no_module_over_the_line_limit():
    found = []
    for path in _modules().values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(ROOT.parent)}: {lines} lines")
    assert not found, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(sorted(found))


@cache
def _code_lines(name: str) -> frozenset[int]:
    """Line numbers that hold code: no blank, comment-only or docstring lines."""
    source = _modules()[name].read_text(encoding="utf-8")
    lines = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                lines.difference_update(range(body[0].lineno, body[0].end_lineno + 1))
    return frozenset(lines)


def function_code_lines(module: str, function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Code lines of a function, signature and nested functions included, docstrings not."""
    span = range(function.lineno, function.end_lineno + 1)
    return len(_code_lines(module).intersection(span))


def test_no_function_over_the_code_line_limit():
    found = []
    for module in _modules():
        for qualname, function in _functions(_tree(module)):
            count = function_code_lines(module, function)
            if count > MAX_FUNCTION_CODE_LINES:
                found.append(f"{_where(module, function)} {qualname}(): {count} code lines")
    assert not found, (
        f"functions over {MAX_FUNCTION_CODE_LINES} code lines:\n" + "\n".join(sorted(found))
    )


def _statements(node: ast.AST) -> int:
    """Statements in a body, counted recursively (nested function bodies count as one)."""
    count = 0
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            count += 1
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
        count += _statements(child)
    return count


def _is_public(module: str, qualname: str) -> bool:
    return not any(part.startswith("_") for part in [*module.split("."), *qualname.split(".")]
                   if not part.startswith("__"))


def test_no_public_function_body_over_the_statement_limit():
    found = []
    for module in _modules():
        for qualname, function in _functions(_tree(module)):
            if not _is_public(module, qualname):
                continue
            body = function.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            count = sum(1 + _statements(stmt) for stmt in body)
            if count > MAX_PUBLIC_STATEMENTS:
                found.append(f"{_where(module, function)} {qualname}(): {count} statements")
    assert not found, (
        f"public functions over {MAX_PUBLIC_STATEMENTS} statements:\n" + "\n".join(sorted(found))
    )


# -- JavaScript ---------------------------------------------------------------------------------

#: Signs of JavaScript source (two different ones in one long string are taken as JavaScript).
JS_SIGNS = {
    "function": re.compile(r"\bfunction\b\s*[\w$]*\s*\([^()]*\)\s*\{"),
    "declaration": re.compile(r"\b(?:var|let|const)\s+[\w$]+\s*=[^=\n]*;"),
    "arrow": re.compile(r"\)\s*=>\s*[{(\w]"),
    "dom": re.compile(r"\b(?:document|window)\.\w+"),
    "listener": re.compile(r"\.addEventListener\s*\("),
    "return": re.compile(r"\breturn\b[^\n;]*;\s*\}"),
}
#: Strings shorter than this are not looked at (a CSS selector or a `{{ this.get_name() }}`).
JS_MIN_LENGTH = 200


def looks_like_javascript(text: str) -> bool:
    """True when a string carries JavaScript source (a heuristic, see ``JS_SIGNS``)."""
    if len(text) < JS_MIN_LENGTH:
        return False
    return sum(bool(pattern.search(text)) for pattern in JS_SIGNS.values()) >= 2


def _string_constants(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            yield node, text


@pytest.mark.parametrize(("text", "expected"), [
    ("L.canvas = function (map) { var x = 1; return x; };" * 5, True),
    ("document.querySelector('#m').addEventListener('click', () => { go(); });" * 4, True),
    ("The function (f) maps a weight to a colour; it returns None when the firm has no "
     "industry. Let x be the exposure of the firm, and var(x) its variance. " * 3, False),
    (".leaflet-container { background: #fff; } .legend { font: 12px sans-serif; }" * 4, False),
])
def test_the_javascript_heuristic(text, expected):
    assert looks_like_javascript(text) is expected


def test_no_javascript_inside_python_strings():
    # the maps' runtime lives in geocluster/viz/static/*.js (linted, checked by node)
    found = [
        f"{_where(module, node)}: a {len(text)}-character string looks like JavaScript"
        for module in _modules()
        for node, text in _string_constants(_tree(module))
        if looks_like_javascript(text)
    ]
    assert not found, "JavaScript inside Python strings:\n" + "\n".join(found)
