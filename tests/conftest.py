"""Session fixtures shared by the test modules (data are loaded once per session), and the
``slow`` marker, given from ``tests/slow_tests.txt`` so that test files need no edit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import geocluster as gc

TEST_DATA = Path(__file__).parent / "data"
#: One entry a line: a file (``tests/test_x.py``), a test function (``tests/test_x.py::test_f``,
#: every parametrisation of it), a method (``tests/test_x.py::TestC::test_f``) or a doctest
#: (``geocluster/mod.py::geocluster.mod.func``). ``#`` starts a comment. Regenerate from a
#: ``pytest --durations=0`` log with ``scripts/slow_tests.py``.
SLOW_TESTS = Path(__file__).parent / "slow_tests.txt"
PARAMETERS = re.compile(r"\[.*\]$")
STALE = pytest.StashKey[list]()


def read_slow_tests(path: Path = SLOW_TESTS) -> frozenset[str]:
    """The entries of the slow list (comments and blank lines removed)."""
    entries = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.add(entry)
    return frozenset(entries)


def slow_keys(nodeid: str) -> tuple[str, str]:
    """(file, test without its parametrisation) of a node id: the keys the list is matched on."""
    path, _, rest = nodeid.partition("::")
    return path, f"{path}::{PARAMETERS.sub('', rest)}" if rest else path


def stale_entries(slow: frozenset[str], nodeids: list[str], root: Path) -> list[str]:
    """Entries that match no test: their file is gone, or it was collected without them."""
    collected = {key for nodeid in nodeids for key in slow_keys(nodeid)}
    files = {nodeid.partition("::")[0] for nodeid in nodeids}
    return sorted(
        entry for entry in slow
        if entry not in collected
        and (entry.partition("::")[0] in files or not (root / entry.partition("::")[0]).exists())
    )


def pytest_collection_modifyitems(config, items):
    # node ids are relative to the rootdir, the folder of pyproject.toml (for doctests too)
    slow = read_slow_tests()
    for item in items:
        if not slow.isdisjoint(slow_keys(item.nodeid)):
            item.add_marker(pytest.mark.slow)
    config.stash[STALE] = stale_entries(slow, [item.nodeid for item in items], config.rootpath)


def pytest_terminal_summary(terminalreporter, config):
    stale = config.stash.get(STALE, [])
    if stale:
        terminalreporter.write_line(
            f"tests/slow_tests.txt: {len(stale)} entries match no test (renamed or removed? "
            "regenerate with scripts/slow_tests.py): " + ", ".join(stale), yellow=True)


@pytest.fixture(scope="session")
def columbus():
    return gc.datasets.load_columbus()


@pytest.fixture(scope="session")
def columbus_reference():
    with open(TEST_DATA / "columbus_r_spdep.json") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def counties_conus():
    return gc.datasets.load_counties("conus")
