"""Check that every name exported by ``geocluster`` is on a page of the API reference.

A name counts as documented when a page of ``docs/api/`` has a ``::: MODULE`` directive for
the module that defines it, or ``::: MODULE.NAME``. Run by ``make docs`` before the build::

    python scripts/check_api_docs.py
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import geocluster as gc

API = Path(__file__).resolve().parent.parent / "docs" / "api"
DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", flags=re.MULTILINE)


def documented_paths(folder: Path = API) -> set[str]:
    """The object paths of every ``::: path`` directive in the pages of ``folder``."""
    paths = set()
    for page in sorted(folder.glob("*.md")):
        paths.update(DIRECTIVE.findall(page.read_text(encoding="utf-8")))
    return paths


def defining_module(name: str) -> str:
    """The module that defines ``gc.NAME`` (for a module, the module itself)."""
    obj = getattr(gc, name)
    if inspect.ismodule(obj):
        return obj.__name__
    return getattr(obj, "__module__", "") or ""


def undocumented(paths: set[str]) -> list[str]:
    missing = []
    for name in sorted(gc.__all__):
        module = defining_module(name)
        candidates = {module, f"{module}.{name}"}
        # a package documented by its submodules (``geocluster.datasets`` -> ``.bundled``, ...)
        if module == f"geocluster.{name}" or inspect.ismodule(getattr(gc, name)):
            candidates |= {p for p in paths if p.startswith(module + ".")}
        if not candidates & paths:
            missing.append(f"gc.{name} (defined in {module})")
    return missing


def main() -> int:
    missing = undocumented(documented_paths())
    if missing:
        print("docs/api/ does not document these public names; add `::: MODULE` to the page of "
              "their floor:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    print(f"check_api_docs: all {len(gc.__all__)} public names of geocluster are documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
