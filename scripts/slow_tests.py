"""Write tests/slow_tests.txt from a ``pytest --durations=0`` log.

Tests are grouped by test function (every parametrisation together) and doctests by object;
a group is slow when its setup + call + teardown time adds up to ``--threshold`` seconds or
more, and further groups (slowest first) are added until what is left adds up to at most
``--budget`` seconds, so that ``make test-fast`` (``pytest -m "not slow"``) stays under a
minute on a 2-core machine::

    python -m pytest --durations=0 -q > durations.log
    python scripts/slow_tests.py durations.log            # rewrites tests/slow_tests.txt
    python scripts/slow_tests.py durations.log --dry-run  # prints what it would write

Session and module fixtures are paid by the first test that uses them, so marking that test
moves the cost to the next one: list every user of an expensive fixture by hand, below the
line ``# --- by hand ---`` of the list, which a rewrite keeps.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "slow_tests.txt"
LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s+(setup|call|teardown)\s+(\S.*?)\s*$")
PARAMETERS = re.compile(r"\[.*\]$")
BY_HAND = "# --- by hand ---"


def group_of(nodeid: str) -> str:
    """The list entry of a node id: the test function (or doctest), without parameters."""
    path, _, rest = nodeid.partition("::")
    return f"{path}::{PARAMETERS.sub('', rest)}" if rest else path


def read_durations(text: str) -> dict[str, float]:
    """Seconds per group, from the ``slowest durations`` section of a pytest log."""
    totals: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if match := LINE.match(line):
            totals[group_of(match.group(3))] += float(match.group(1))
    return dict(totals)


def choose(totals: dict[str, float], *, threshold: float, budget: float) -> list[str]:
    """The slow groups: at least ``threshold`` seconds each, then slowest first to the budget."""
    order = sorted(totals, key=lambda g: (-totals[g], g))
    slow = [g for g in order if totals[g] >= threshold]
    left = sum(totals.values()) - sum(totals[g] for g in slow)
    for group in order:
        if left <= budget:
            break
        if group not in slow:
            slow.append(group)
            left -= totals[group]
    return slow


def kept_by_hand(path: Path) -> str:
    """The section of an existing list below ``BY_HAND`` (with that line), or ''."""
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    return text[text.index(BY_HAND):] if BY_HAND in text else ""


def render(slow: list[str], totals: dict[str, float], *, threshold: float, budget: float) -> str:
    kept = sum(totals.values()) - sum(totals[g] for g in slow)
    lines = [
        "# Tests marked `slow` by tests/conftest.py (skipped by `make test-fast`, run by `make test`).",
        "# One entry a line: a file, a test function (all its parametrisations) or a doctest.",
        f"# Made by scripts/slow_tests.py (threshold {threshold:g} s, budget {budget:g} s):",
        f"# {len(slow)} of {len(totals)} groups, {sum(totals[g] for g in slow):.0f} s marked slow, "
        f"{kept:.0f} s left in the fast run.",
    ]
    for group in sorted(slow):
        lines.append(f"{group}  # {totals[group]:.1f} s")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="output of pytest --durations=0")
    parser.add_argument("--threshold", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("--budget", type=float, default=25.0, help="seconds (default 25)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    totals = read_durations(args.log.read_text(encoding="utf-8", errors="replace"))
    if not totals:
        print(f"{args.log}: no durations found (run pytest with --durations=0)", file=sys.stderr)
        return 1
    slow = choose(totals, threshold=args.threshold, budget=args.budget)
    text = render(slow, totals, threshold=args.threshold, budget=args.budget)
    text += ("\n" + kept_by_hand(args.out)) if kept_by_hand(args.out) else ""
    if args.dry_run:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out} ({len(slow)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
