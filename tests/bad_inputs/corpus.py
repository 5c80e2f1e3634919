"""Shared checks of the bad-input corpus (``tests/bad_inputs/test_bad_*.py``).

Every case of the corpus asserts four things: the error class, words that name the problem
and words that name the remedy, that its inputs are unchanged (bytes and modification time),
and that no partial output is left behind. :func:`untouched` and :func:`assert_no_output`
are the shared pieces of the last two; :func:`raises_clearly` of the first two. Test files
import them with ``from corpus import raises_clearly, untouched, assert_no_output``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest


def _fingerprint(path: Path) -> tuple[str, int] | None:
    if not path.exists():
        return None
    if path.is_dir():
        entries = sorted(p for p in path.rglob("*") if p.is_file())
        digest = hashlib.sha256()
        for entry in entries:
            digest.update(str(entry.relative_to(path)).encode())
            digest.update(entry.read_bytes())
        return digest.hexdigest(), max([path.stat().st_mtime_ns, *(e.stat().st_mtime_ns for e in entries)])
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@contextlib.contextmanager
def untouched(*paths: str | os.PathLike) -> Iterator[None]:
    """Assert that the files or folders ``paths`` keep their bytes and mtimes inside the block."""
    paths = tuple(Path(p) for p in paths)
    before = [_fingerprint(p) for p in paths]
    yield
    after = [_fingerprint(p) for p in paths]
    for path, old, new in zip(paths, before, after, strict=True):
        assert old == new, f"{path} was modified"


def assert_no_output(folder: str | os.PathLike, *, allowed: set[str] = frozenset()) -> None:
    """Assert that ``folder`` holds nothing but the names in ``allowed`` (no partial output, no temp folders)."""
    folder = Path(folder)
    if not folder.exists():
        return
    left = sorted(p.name for p in folder.iterdir() if p.name not in allowed)
    assert not left, f"left behind in {folder}: {left}"


def raises_clearly(error: type[BaseException], *patterns: str):
    """``pytest.raises(error)`` whose message must match every regular expression in ``patterns``.

    Use one pattern for the words that name the problem and one for the remedy.
    """

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(error)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._ctx.__exit__(*exc)
            if handled:
                message = str(self.info.value)
                for pattern in patterns:
                    assert re.search(pattern, message, flags=re.IGNORECASE | re.DOTALL), (
                        f"{pattern!r} not in message: {message}"
                    )
            return handled

    return _Check()
