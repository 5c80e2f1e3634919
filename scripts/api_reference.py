"""The API reference pages, generated from the facade: a MkDocs hook and a check.

A page of ``docs/api/`` holds a marker line naming the packages of its floor::

    <!-- api: geocluster.clusters geocluster.exposure -->

and the hook replaces it with a ``::: module.Name`` directive (rendered by mkdocstrings) for
every name exported by ``geocluster`` (``gc.__all__``) whose defining module is one of those
packages, grouped by module. The pages so follow the code when a name moves between modules.
Run as a script, it checks that every exported name falls on some page::

    python scripts/api_reference.py
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
from collections import defaultdict
from pathlib import Path

import geocluster as gc

API = Path(__file__).resolve().parent.parent / "docs" / "api"
MARKER = re.compile(r"^<!--\s*api:\s*([\w.\s]+?)\s*-->\s*$", flags=re.MULTILINE)
#: A Sphinx role as mkdocstrings renders it from a numpydoc docstring, ``:func:`~a.b```.
ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):<code>(~?)([^<]+)</code>")
log = logging.getLogger("mkdocs.hooks.api_reference")


def defining_module(name: str) -> str:
    """The module that defines ``gc.NAME`` (for a module, the module itself)."""
    obj = getattr(gc, name)
    if inspect.ismodule(obj):
        return obj.__name__
    return getattr(obj, "__module__", None) or ""


def _within(module: str, packages: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def public_names() -> dict[str, str]:
    """Exported name -> defining module, for every name of ``gc.__all__``."""
    return {name: defining_module(name) for name in sorted(gc.__all__)}


def directives(packages: list[str], names: dict[str, str] | None = None) -> str:
    """Markdown for the names defined under ``packages``: a heading and directives per module."""
    names = public_names() if names is None else names
    by_module: dict[str, list[str]] = defaultdict(list)
    for name, module in names.items():
        if _within(module, packages):
            by_module[module].append(name)
    blocks = []
    for module in sorted(by_module):
        blocks.append(f"## `{module}`\n")
        for name in by_module[module]:
            obj = getattr(gc, name)
            target = module if inspect.ismodule(obj) else f"{module}.{name}"
            blocks.append(f"::: {target}\n    options:\n      heading_level: 3\n")
    return "\n".join(blocks)


def floors(folder: Path = API) -> dict[str, list[str]]:
    """Page name -> the packages its marker names."""
    found = {}
    for page in sorted(folder.glob("*.md")):
        for match in MARKER.finditer(page.read_text(encoding="utf-8")):
            found[page.name] = match.group(1).split()
    return found


def unplaced(names: dict[str, str], pages: dict[str, list[str]]) -> list[str]:
    """Exported names whose module falls on no page."""
    return [
        f"gc.{name} (defined in {module})"
        for name, module in names.items()
        if not any(_within(module, packages) for packages in pages.values())
    ]


# -- the MkDocs hook ----------------------------------------------------------------------------

def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - hook signature
    return MARKER.sub(lambda m: directives(m.group(1).split()), markdown)


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, page, config, files) -> str:  # noqa: ARG001 - hook signature
    # the docstrings' Sphinx roles (:func:`~geocluster.x.f`) are shown as code (`f`)
    return ROLE.sub(_role, html)


def on_post_build(config) -> None:  # noqa: ARG001 - hook signature
    for entry in unplaced(public_names(), floors()):
        log.warning("the API reference has no page for %s: name its package in a "
                    "'<!-- api: ... -->' marker of docs/api/", entry)


def main() -> int:
    missing = unplaced(public_names(), floors())
    if missing:
        print("docs/api/ has no page for these public names; name their package in the "
              "'<!-- api: ... -->' marker of their floor's page:\n  " + "\n  ".join(missing),
              file=sys.stderr)
        return 1
    print(f"api_reference: all {len(gc.__all__)} public names of geocluster have a page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
