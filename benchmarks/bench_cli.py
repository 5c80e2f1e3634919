"""Benchmark: start-up time of the command line (issue target: under 0.5 s).

Usage::

    .venv/bin/python benchmarks/bench_cli.py [--repeat 7]

Each command runs in a new process, ``--repeat`` times; the median wall time is printed.
Beside it, in the same run: the bare interpreter (``python -c pass``, the floor no
command can beat) and the eager import of the whole scientific stack that ``geocluster
--help`` paid before the package facade became lazy (``import geocluster.pipeline.study,
geocluster.viz.maps, geocluster.robustness``), with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_S = 0.5


def _median_seconds(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable
    floor = _median_seconds([py, "-c", "pass"], args.repeat)
    eager = _median_seconds(
        [py, "-c", "import geocluster.pipeline.study, geocluster.viz.maps, geocluster.robustness"],
        args.repeat)
    print(f"bare interpreter: {floor:.3f} s; eager scientific import (the old --help): "
          f"{eager:.3f} s")
    for command in (["--help"], ["--version"], ["config"]):
        ours = _median_seconds([py, "-m", "geocluster", *command], args.repeat)
        verdict = "meets" if ours < TARGET_S else "MISSES"
        print(f"geocluster {' '.join(command):<9} {ours:.3f} s  ({eager / ours:.1f}x faster "
              f"than the eager import; {verdict} the {TARGET_S} s target)")


if __name__ == "__main__":
    main()
