"""Benchmark: the point-heavy steps on dask against plain geopandas, at 1M / 3M / 10M firms.

Data: ``gc.datasets.write_firms_dataset(folder, n, partitions=..., seed=0)`` (the
``make_firms`` process written partition by partition as GeoParquet), one folder per size
under ``--data`` (kept between runs; written once, the write timed separately).

Steps, in this order. Both paths read once and keep what they read: in memory the
GeoDataFrame, on dask the lazy frame (checked, but holding no firm), so every dask step
reads its partitions from disk again (only the columns it uses), as a run over a register
too large for memory must:

* ``read``: ``gc.read_firms(folder, engine="dask")`` and ``len()`` of it (the validation
  pass over every partition); in memory ``gc.read_firms(gpd.read_parquet(folder))``.
* ``aggregate+lq``: ``gc.aggregate(firms, counties)`` and
  ``gc.location_quotient(firms, units=counties, by="industry")`` on the bundled contiguous
  US counties (3,108 polygons).
* ``kde``: ``gc.kde(firms, bandwidth="10km", cell_size="1km", extent=counties)``, a 1 km
  grid over the contiguous US (about 4,650 x 2,900 cells).
* ``exposure``: ``gc.exposure(firms, method="count", radius="10km", crs="EPSG:5070")``
  (every firm's neighbours within 10 km), the column brought into the client.
* ``weights``: ``gc.weights(firms, "knn:8", crs="EPSG:5070")`` (row-standardised sparse
  graph).

The dask path runs on a ``LocalCluster`` of ``--workers`` worker processes (one thread each,
``--memory-limit`` each); the in-memory path runs the same public functions on a
GeoDataFrame, up to ``--memory-max`` firms. Each (size, path) runs in a fresh subprocess;
a sampler in this process reads the resident memory of that subprocess and all its
children (the dask scheduler runs in the subprocess, the workers are its children) every
0.1 s, and each step's peak is the largest sum seen between its start and end (RSS, so
pages shared between processes count once per process: an upper bound). A step that runs
longer than ``--timeout`` seconds ends the run of that size and path (reported as such).

Printed per size and step: seconds and peak GB for dask and in memory, the ratio
dask / in memory, and microseconds per firm; at the end the growth of time per firm from
the smallest to the largest size, and the targets (dask peak < 4 GB at 10M, time per firm
within 1.5x from 1M to 10M, in memory at most 1.3x faster); the row ``all steps`` adds up
a path's steps (the whole run: in memory one read, on dask each step reads its partitions).
``--json`` writes every figure.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--sizes 1000000 3000000 10000000]
[--memory-max 10000000] [--data /tmp/gc_scale] [--timeout 900] [--json scale.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

#: Distances in CONUS Albers (the in-memory automatic choice for these firms; a dask frame
#: needs its metric CRS named).
CRS = "EPSG:5070"
STEPS = ("read", "aggregate+lq", "kde", "exposure", "weights")
GB = 1024**3


# ----------------------------------------------------------------------------- child side

def _emit(record: dict) -> None:
    print("@@" + json.dumps(record), flush=True)


def _steps(folder: str, mode: str, args) -> None:
    """Run every step on ``folder`` with ``mode`` ('dask' or 'memory'), reporting each."""
    import geopandas as gpd

    import geocluster as gc

    counties = gc.datasets.load_counties("conus")
    client = None
    if mode == "dask":
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               memory_limit=args.memory_limit, dashboard_address=None,
                               processes=True)
        client = Client(cluster)

    def load():
        if mode == "dask":
            return gc.read_firms(folder, engine="dask")
        return gc.read_firms(gpd.read_parquet(folder))

    frame = None

    def firms():
        return frame if frame is not None else load()

    def areal():
        f = firms()
        counts = gc.aggregate(f, counties)
        lq = gc.location_quotient(f, units=counties, by="industry")
        return int(counts["n_firms"].sum()), len(lq)

    def density():
        surface = gc.kde(firms(), bandwidth="10km", cell_size="1km", extent=counties)
        return tuple(int(s) for s in surface.values.shape) if hasattr(surface, "values") else 0

    def exposure():
        out = gc.exposure(firms(), method="count", radius="10km", crs=CRS)
        column = out["exposure"]
        if hasattr(column, "compute"):
            column = column.compute()
        return float(column.mean())

    def graph():
        g = gc.weights(firms(), "knn:8", crs=CRS)
        return int(g.n_edges) if hasattr(g, "n_edges") else 0

    # Both paths read once and hold what they read: in memory the frame (every firm), on
    # dask the lazy frame (the checked file list and counts, no firm), whose partitions
    # each later step reads again, only the columns it uses.
    def read_once():
        nonlocal frame
        frame = load()
        return len(frame)

    fns = {"read": read_once, "aggregate+lq": areal, "kde": density, "exposure": exposure,
           "weights": graph}
    for step in args.steps:
        start = time.time()
        cpu = time.process_time()
        try:
            info = fns[step]()
            error = None
        except Exception as exc:  # noqa: BLE001 - reported, the run goes on
            info, error = None, f"{type(exc).__name__}: {str(exc)[:300]}"
        _emit({"step": step, "start": start, "end": time.time(),
               "cpu_client": time.process_time() - cpu, "info": repr(info), "error": error})
    if client is not None:
        client.close()
        cluster.close()


def _write(folder: str, n: int, partitions: int) -> None:
    import geocluster as gc

    start = time.time()
    gc.datasets.write_firms_dataset(folder, n, partitions=partitions, seed=0)
    _emit({"step": "write", "start": start, "end": time.time(), "info": None, "error": None})


# ----------------------------------------------------------------------------- parent side

def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0


def _run_child(argv: list[str], timeout: float) -> tuple[list[dict], list[tuple[float, int]],
                                                         str]:
    """Run this script as a child with ``argv``; its records, memory samples, stderr tail."""
    proc = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append((time.time(), _tree_rss(proc.pid)))
            time.sleep(0.1)

    records: list[dict] = []
    stderr: list[str] = []
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.time() + timeout
    last = time.time()
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("@@"):
            records.append(json.loads(line[2:]))
            last = time.time()
            r = records[-1]
            # each step as it ends (a run stopped later keeps these lines)
            print(f"    ({argv[1]}) {r['step']}: {r['end'] - r['start']:.1f} s, peak "
                  f"{_peak(samples, r['start'], r['end']):.2f} GB"
                  + (f", error {r['error']}" if r.get("error") else ""), flush=True)
        if time.time() > deadline:
            break
    timer = threading.Timer(max(0.0, timeout - (time.time() - last)), proc.kill)
    timer.start()
    proc.wait()
    timer.cancel()
    done.set()
    sampler.join()
    return records, samples, "".join(stderr[-20:])


def _peak(samples, start: float, end: float) -> float:
    inside = [rss for t, rss in samples if start - 0.05 <= t <= end + 0.15]
    return max(inside, default=0) / GB


def _measure(folder: str, mode: str, args) -> dict[str, dict]:
    argv = ["--child", mode, "--folder", folder, "--workers", str(args.workers),
            "--memory-limit", args.memory_limit, "--steps", *args.steps]
    records, samples, tail = _run_child(argv, args.timeout * len(args.steps))
    out = {}
    for record in records:
        out[record["step"]] = {
            "seconds": record["end"] - record["start"],
            "peak_gb": _peak(samples, record["start"], record["end"]),
            "error": record["error"], "info": record["info"],
        }
    for step in args.steps:
        if step not in out:
            out[step] = {"seconds": None, "peak_gb": None,
                         "error": f"did not finish (timeout or crash): {tail[-300:]}"}
    return out


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000,
                                                                 10_000_000])
    parser.add_argument("--memory-max", type=int, default=10_000_000,
                        help="largest size run in memory too")
    parser.add_argument("--data", default="/tmp/gc_scale")
    parser.add_argument("--rows-per-partition", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1.8GB")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per step")
    parser.add_argument("--steps", nargs="+", default=list(STEPS))
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", choices=("dask", "memory", "write"), default=None)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--n", type=int, default=None)
    args = parser.parse_args()
    if args.child == "write":
        _write(args.folder, args.n, max(1, -(-args.n // args.rows_per_partition)))
        return
    if args.child is not None:
        _steps(args.folder, args.child, args)
        return
    print(f"bench_scale: {os.cpu_count()} cores, sizes {args.sizes}, {args.workers} dask "
          f"workers x {args.memory_limit}, in memory up to {args.memory_max:,} firms",
          flush=True)
    results: dict = {}
    for n in args.sizes:
        folder = str(Path(args.data) / f"firms_{n}")
        if not (Path(folder).exists() and any(Path(folder).iterdir())):
            records, samples, tail = _run_child(["--child", "write", "--folder", folder,
                                                 "--n", str(n), "--rows-per-partition",
                                                 str(args.rows_per_partition)],
                                                args.timeout)
            if not records:
                print(f"writing {n:,} firms failed: {tail}", flush=True)
                continue
            r = records[0]
            print(f"{n:>11,} write_firms_dataset: {r['end'] - r['start']:.1f} s, peak "
                  f"{_peak(samples, r['start'], r['end']):.2f} GB", flush=True)
        results[n] = {"dask": _measure(folder, "dask", args)}
        if n <= args.memory_max:
            results[n]["memory"] = _measure(folder, "memory", args)
        _print_size(n, results[n])
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    _print_growth(results)


def _print_size(n: int, result: dict) -> None:
    print(f"\n{n:,} firms: step, dask s, dask peak GB, memory s, memory peak GB, "
          "dask/memory time, dask us/firm")
    for step, d in result["dask"].items():
        m = result.get("memory", {}).get(step, {})
        ratio = (d["seconds"] / m["seconds"] if d.get("seconds") and m.get("seconds")
                 and not d.get("error") and not m.get("error") else None)
        per = d["seconds"] / n * 1e6 if d.get("seconds") and not d.get("error") else None
        print(f"  {step:<13} {_fmt(d['seconds'], '9.1f')} {_fmt(d['peak_gb'], '6.2f')} "
              f"{_fmt(m.get('seconds'), '9.1f')} {_fmt(m.get('peak_gb'), '6.2f')} "
              f"{_fmt(ratio, '6.2f')} {_fmt(per, '8.2f')}")
        for path, r in (("dask", d), ("memory", m)):
            if r.get("error"):
                print(f"      {path} error: {r['error']}")
    totals = {path: _total(result.get(path, {})) for path in ("dask", "memory")}
    ratio = (totals["dask"] / totals["memory"] if totals["dask"] and totals["memory"]
             else None)
    print(f"  {'all steps':<13} {_fmt(totals['dask'], '9.1f')} {'':>6} "
          f"{_fmt(totals['memory'], '9.1f')} {'':>6} {_fmt(ratio, '6.2f')}   (the whole run: "
          "one read in memory, every dask step reading its partitions)")
    sys.stdout.flush()


def _total(steps: dict) -> float | None:
    """Seconds of all steps of one path, or None when a step failed or did not run."""
    if not steps or any(r.get("error") or r.get("seconds") is None for r in steps.values()):
        return None
    return sum(r["seconds"] for r in steps.values())


def _print_growth(results: dict) -> None:
    sizes = sorted(results)
    if len(sizes) < 2:
        return
    lo, hi = sizes[0], sizes[-1]
    print(f"\ntime per firm, {hi:,} over {lo:,} (target <= 1.5); dask peak GB at {hi:,} "
          "(target < 4 at 10M)")
    for step in results[lo]["dask"]:
        a, b = results[lo]["dask"][step], results[hi]["dask"][step]
        growth = (b["seconds"] / hi) / (a["seconds"] / lo) if a.get("seconds") and \
            b.get("seconds") and not a.get("error") and not b.get("error") else None
        print(f"  {step:<13} {_fmt(growth, '6.2f')}   {_fmt(b.get('peak_gb'), '6.2f')}")


if __name__ == "__main__":
    main()
