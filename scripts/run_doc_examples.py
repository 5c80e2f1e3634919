"""Run the Python examples of the user guide (``docs/guide/*.md``) as written.

Each page's ```` ```python ```` blocks run in order in one namespace, in a temporary folder;
a failing block is reported with its page and line and the script exits non-zero. Run by
``make docs`` before the site is built::

    python scripts/run_doc_examples.py [PAGE.md ...]
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide"
BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)


def blocks(page: Path) -> list[tuple[int, str]]:
    """(first line number, code) of every Python block of a page."""
    text = page.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


def run_page(page: Path) -> str | None:
    """None when every block of the page runs, else the error with its place."""
    namespace: dict = {"__name__": "__docs__"}
    for line, code in blocks(page):
        # line numbers of tracebacks match the page
        source = "\n" * (line - 1) + code
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(source, str(page), "exec"), namespace)  # noqa: S102 - our own docs
        except Exception:  # noqa: BLE001 - report any failure of an example
            return traceback.format_exc(limit=-3)
    return None


def main(argv: list[str]) -> int:
    pages = [Path(p).resolve() for p in argv] or sorted(GUIDE.glob("*.md"))
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        start = os.getcwd()
        os.chdir(folder)
        try:
            for page in pages:
                if not blocks(page):
                    continue
                began = time.perf_counter()
                error = run_page(page)
                took = time.perf_counter() - began
                name = page.relative_to(GUIDE.parent.parent)
                if error:
                    failed += 1
                    print(f"FAILED {name} ({took:.1f} s)\n{error}", file=sys.stderr)
                else:
                    print(f"ok     {name} ({took:.1f} s)")
        finally:
            os.chdir(start)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
