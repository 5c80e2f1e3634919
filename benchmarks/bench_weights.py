"""Benchmark: ``gc.weights`` knn and distance weights against a bare scipy KD-tree query
and libpysal's builders, at 100k / 1M / 10M points.

Points: 20 Gaussian clusters over a uniform background (a quarter of the points),
400 km x 400 km, UTM metres (EPSG:32633), so no projection is timed.

Cases, each timed in a fresh subprocess (so its peak memory is its own):

* ``gc knn``: ``gc.weights(points, "knn:K")`` (row-standardised, the default), with the
  structure report (isolates, components) it always makes.
* ``bare knn``: ``scipy.spatial.KDTree(xy).query(xy, k=K + 1, workers=W)`` (build and
  query), once with the same ``workers`` as gc (every core) and once with ``workers=1``;
  ``bare knn ordered`` asks the same queries in the tree's leaf order, as gc does (the
  order is where most of gc's lead over the plain query comes from).
* ``libpysal knn``: ``Graph.build_knn(points, k=K)`` (binary; no transform).
* ``gc distance`` / ``bare distance``: ``"distance:D"`` with D chosen per size so that a
  unit has about 9 neighbours on average (measured on 20,000 sample points); the bare
  queries are ``KDTree(xy).query_pairs(D, output_type="ndarray")`` (each pair once) and
  ``KDTree(xy).sparse_distance_matrix(tree, D, output_type="ndarray")`` (both directions
  and the self pairs: the arrays a neighbour list needs).
* ``libpysal distance``: ``Graph.build_distance_band(points, D)``, only where it fits
  (``--band-peer-max``, default 1M points, and only with 12 GB free: 3.2 GB peak at 1M
  points here, so about 30 GB at 10M). ``libpysal knn`` stops at ``--knn-peer-max``
  (default 1M) for time.

Each line gives the best wall time of ``--repeat`` calls, the process CPU time of that
call (the machine is shared: CPU time is the steadier figure), the process's peak RSS
(data included; the RSS after making the data is given as ``base``), and the 1-minute
load average when the case started. Ratios are printed at the end of each size: gc over
the bare query (same run), libpysal over gc. At 100k and 1M the gc Graph is checked to
equal libpysal's (``Graph.equals`` after the same transform).

Run: ``.venv/bin/python benchmarks/bench_weights.py [--sizes 100000 1000000 10000000]
[--k 8] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

CRS = 32633
NEIGHBOURS = 9.0  # mean neighbours wanted in the distance band


def make_points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_bg = n // 4
    centres = rng.uniform(50_000, 350_000, (20, 2))
    sds = rng.uniform(2_000, 15_000, 20)
    which = rng.integers(0, 20, n - n_bg)
    clustered = centres[which] + rng.normal(size=(n - n_bg, 2)) * sds[which, None]
    background = rng.uniform(0, 400_000, (n_bg, 2))
    return np.vstack([clustered, background]) + np.array([300_000.0, 5_600_000.0])


def band_distance(xy: np.ndarray, target: float = NEIGHBOURS, sample: int = 20_000) -> float:
    """A whole number of metres giving about ``target`` neighbours per unit on average."""
    from scipy.spatial import KDTree

    tree = KDTree(xy)
    rng = np.random.default_rng(1)
    q = xy[rng.choice(len(xy), min(sample, len(xy)), replace=False)]
    lo, hi = 1.0, 50_000.0
    for _ in range(40):
        mid = (lo + hi) / 2
        mean = tree.query_ball_point(q, mid, return_length=True).mean() - 1
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return float(round(hi))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(case: str, n: int, k: int, distance: float, repeat: int, check: bool) -> dict:
    """One case in this process: best wall time, its CPU time, peak RSS."""
    import geopandas as gpd
    from libpysal.graph import Graph
    from scipy.spatial import KDTree

    import geocluster as gc

    xy = make_points(n)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    base = _rss_mb()
    spec = f"knn:{k}" if case.endswith("knn") else f"distance:{distance:g}m"

    def call():
        if case == "gc knn" or case == "gc distance":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = gc.weights(points, spec)
            return out, [str(w.message)[:160] for w in caught]
        if case == "bare knn":
            return KDTree(xy).query(xy, k=k + 1, workers=-1), None
        if case == "bare knn w1":
            return KDTree(xy).query(xy, k=k + 1, workers=1), None
        if case == "bare knn ordered":  # the queries in the tree's leaf order, as gc asks
            tree = KDTree(xy)
            return tree.query(xy[tree.indices], k=k + 1, workers=-1), None
        if case == "libpysal knn":
            return Graph.build_knn(points.geometry, k=k), None
        if case == "bare pairs":
            return KDTree(xy).query_pairs(distance, output_type="ndarray"), None
        if case == "bare sdm":
            tree = KDTree(xy)
            return tree.sparse_distance_matrix(tree, distance, output_type="ndarray"), None
        if case == "libpysal distance":
            return Graph.build_distance_band(points.geometry, distance), None
        raise SystemExit(f"unknown case {case!r}")

    load = os.getloadavg()[0]
    best = None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out, notes = call()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu)
        if _ < repeat - 1:
            del out
    result = {"case": case, "n": n, "wall": best[0], "cpu": best[1], "rss_mb": _rss_mb(),
              "base_mb": base, "load": load, "notes": notes}
    if case.startswith("gc"):
        result["edges"] = int(out.n_edges)
        result["mean_neighbours"] = float(out.cardinalities.mean())
        if check:
            ref = (Graph.build_knn(points.geometry, k=k) if case == "gc knn"
                   else Graph.build_distance_band(points.geometry, distance))
            result["equals_libpysal"] = bool(out.equals(ref.transform("R")))
    return result


def in_subprocess(case: str, n: int, k: int, distance: float, repeat: int, check: bool) -> dict:
    cmd = [sys.executable, __file__, "--one", case, "--n", str(n), "--k", str(k),
           "--distance", repr(distance), "--repeat", str(repeat)] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"case": case, "n": n, "failed": " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def free_gb() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def line(r: dict) -> str:
    if "failed" in r:
        return f"  {r['case']:18s} FAILED: {r['failed']}"
    if "skipped" in r:
        return f"  {r['case']:18s} skipped: {r['skipped']}"
    extra = ""
    if "mean_neighbours" in r:
        extra = f"  {r['mean_neighbours']:.2f} neighbours/unit"
    if "equals_libpysal" in r:
        extra += f"  equals libpysal: {r['equals_libpysal']}"
    return (f"  {r['case']:18s} {r['wall']:8.2f} s wall {r['cpu']:8.2f} s CPU  peak "
            f"{r['rss_mb'] / 1024:5.1f} GB (base {r['base_mb'] / 1024:4.1f})  load "
            f"{r['load']:4.1f}{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="calls per case (1 above 1M points)")
    ap.add_argument("--knn-peer-max", type=int, default=1_000_000,
                    help="largest size for libpysal's build_knn")
    ap.add_argument("--band-peer-max", type=int, default=1_000_000,
                    help="largest size for libpysal's build_distance_band")
    ap.add_argument("--only", choices=["knn", "distance"], default=None)
    ap.add_argument("--cases", nargs="+", default=None,
                    help="run only these cases, e.g. --cases 'gc knn' 'bare knn'")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--distance", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.one:
        print(json.dumps(run_one(args.one, args.n, args.k, args.distance, args.repeat,
                                 args.check)))
        return

    print(f"bench_weights: cores {os.cpu_count()}, free memory {free_gb():.1f} GB, "
          f"knn:{args.k}, distance band for about {NEIGHBOURS:g} neighbours")
    for n in args.sizes:
        repeat = args.repeat if n <= 1_000_000 else 1
        check = n <= 1_000_000
        distance = band_distance(make_points(n))
        print(f"\n{n:,} points (repeat {repeat}); distance band {distance:g} m", flush=True)
        rows = {}
        cases = []
        if args.only in (None, "knn"):
            cases += ["gc knn", "bare knn", "bare knn w1", "bare knn ordered", "libpysal knn"]
        if args.only in (None, "distance"):
            cases += ["gc distance", "bare pairs", "bare sdm", "libpysal distance"]
        if args.cases:
            cases = [c for c in cases if c in args.cases]
        for case in cases:
            if case == "libpysal knn" and n > args.knn_peer_max:
                rows[case] = {"case": case, "skipped": f"above --knn-peer-max "
                              f"{args.knn_peer_max:,}: for time (here 19 s CPU and 1.7 GB "
                              "at 1M points, so several minutes at 10M)"}
            elif case == "libpysal distance" and (n > args.band_peer_max or free_gb() < 12):
                rows[case] = {"case": case, "skipped": "does not fit: its peak memory "
                              "grows with the points (here 3.2 GB at 1M, 9 neighbours), so "
                              f"about 30 GB at 10M (--band-peer-max {args.band_peer_max:,}, "
                              f"free {free_gb():.1f} GB)"}
            else:
                rep = 1 if case.startswith("libpysal") and n >= 1_000_000 else repeat
                rows[case] = in_subprocess(case, n, args.k, distance, rep,
                                           check and case.startswith("gc"))
            print(line(rows[case]), flush=True)
            notes = rows[case].get("notes")
            if notes:
                print(f"    warnings: {notes}")

        def ratio(a: str, b: str, what: str = "wall", rows: dict = rows) -> str:
            ra, rb = rows.get(a, {}), rows.get(b, {})
            if what not in ra or what not in rb:
                return "-"
            return f"{ra[what] / rb[what]:.2f}x"

        print("  ratios (wall | CPU):")
        for a, b in [("gc knn", "bare knn"), ("gc knn", "bare knn w1"),
                     ("gc knn", "bare knn ordered"), ("libpysal knn", "gc knn"), ("gc distance", "bare pairs"),
                     ("gc distance", "bare sdm"), ("libpysal distance", "gc distance")]:
            if a in rows and b in rows:
                print(f"    {a} / {b}: {ratio(a, b)} | {ratio(a, b, 'cpu')}")


if __name__ == "__main__":
    main()
