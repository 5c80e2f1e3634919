"""Benchmark: gc.local_moran and gc.getis_ord against esda (numba) on the same Graph.

Usage::

    .venv/bin/python benchmarks/bench_local_moran.py [--n 10000,100000,1000000]
        [--permutations 999] [--repeat 1] [--out /tmp/bench_local_moran]
        [--python /tmp/bench-numba/bin/python] [--modes gc_lm,gc_gi,esda_lm,esda_gi]
        [--n-jobs 1,2] [--timeout SECONDS]

The peer (esda) should run in its fastest configuration, which needs numba; numba
is not a dependency of geocluster (and must not be installed in its environment:
esda changes its permutation path when numba is importable). Make a separate
environment once and point ``--python`` at it::

    python3 -m venv /tmp/bench-numba
    /tmp/bench-numba/bin/pip install -e . numba

What it does
------------
1. For each ``--n``: builds a hexagonal grid of about ``n`` cells (pointy-top
   hexagons whose vertices come from one integer lattice scaled by shared
   constants), a spatially autocorrelated variable ``value`` (for local Moran) and
   a positive one ``pos = exp(value / 2)`` (for Gi*), and the queen contiguity
   Graph from the lattice (each cell's six edge neighbours; hexagons have no
   corner-only neighbours). Up to 20,000 cells the lattice Graph is checked against
   ``libpysal.graph.Graph.build_contiguity`` of the polygons. Grid, Graph and the
   Gi* Graph (binary, self weight 1) are written to ``--out``.
2. Runs each contender in a *new* Python process: the process reads the data,
   imports its library, calls it once (cold: imports + first call, which includes
   esda's numba compilation: it has no on-disk cache) and again (warm). Wall and CPU
   times are reported (CPU time is less sensitive to other processes on a shared
   machine), with the load average before and after each process, and the peak
   resident memory of the calls (the peak counter is reset after the data are read,
   Linux ``/proc/self/clear_refs``, and the resident memory at that point is
   subtracted).
3. Prints, per ``n``, the speed-up of geocluster over esda (esda time / geocluster
   time: warm wall, warm CPU, cold wall), whether geocluster's p-values are
   identical for every ``--n-jobs`` and the mean absolute difference between its
   p-values and esda's (sampling error only: the data are continuous).

Contenders (999 permutations, the same seed, the same Graph):
``esda_lm``  ``esda.moran.Moran_Local(y, graph, permutations=P, seed=s, n_jobs=1,
             keep_simulations=False)``: esda's fastest configuration (``n_jobs=-1``
             gives no speed-up on 2 cores; keeping the n x P simulations costs memory
             and time)
``esda_gi``  ``esda.getisord.G_Local(y, graph_star, transform="B", star=True, ...)``
             with the same options
``gc_lm``    ``gc.local_moran(gdf, "value", weights=graph, permutations=P, seed=s,
             n_jobs=J)`` including validation, the analytic moments, cluster labels
             and LISA regions; tie-aware conditional permutation (geocluster's own
             engine, no numba)
``gc_gi``    ``gc.getis_ord(gdf, "pos", weights=graph, permutations=P, seed=s,
             n_jobs=J)`` (G*, binary weights), including the hot-spot bins

esda's numba kernel copies the n values without the focal unit for every unit
(``esda.crand._prepare_univariate``: ``z[mask]``), so its cost grows as n^2: at 1M
units one call takes many minutes. ``--timeout`` stops an esda process after that
many seconds; the calls that finished are reported, the rest as lower bounds (read
from the progress file each process appends to after every call).

The figures and their conditions are in ``docs/benchmarks/local_moran.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

WORKER = r"""
import json, resource, sys, time, warnings
mode, out, permutations, seed, n_jobs = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                         int(sys.argv[4]), int(sys.argv[5]))
import numpy as np, geopandas as gpd
from libpysal.graph import read_parquet
t0 = time.perf_counter()
gdf = gpd.read_parquet(out + "/grid.parquet")
graph = read_parquet(out + "/graph.parquet")
star = read_parquet(out + "/graph_star.parquet") if mode == "esda_gi" else None
t_data = time.perf_counter() - t0
warnings.simplefilter("ignore")
import gc as _gc
_gc.collect()


def status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])


try:  # reset the peak-RSS counter (Linux) so the peak below belongs to the calls alone
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    hwm_reset = True
except OSError:
    hwm_reset = False
rss_data = status_kb("VmRSS")
t0 = time.perf_counter()
c0 = time.process_time()
if mode == "esda_lm":
    from esda.moran import Moran_Local
    y = gdf["value"].to_numpy()
    call = lambda: Moran_Local(y, graph, permutations=permutations, seed=seed, n_jobs=1,
                               keep_simulations=False).p_sim
elif mode == "esda_gi":
    from esda.getisord import G_Local
    y = gdf["pos"].to_numpy()
    call = lambda: G_Local(y, star, transform="B", star=True, permutations=permutations,
                           seed=seed, n_jobs=1, keep_simulations=False).p_sim
elif mode == "gc_lm":
    import geocluster as gc
    call = lambda: gc.local_moran(gdf, "value", weights=graph, permutations=permutations,
                                  seed=seed, n_jobs=n_jobs)["lisa_p"].to_numpy()
elif mode == "gc_gi":
    import geocluster as gc
    call = lambda: gc.getis_ord(gdf, "pos", weights=graph, permutations=permutations,
                                seed=seed, n_jobs=n_jobs)["gi_p"].to_numpy()
else:
    raise SystemExit(f"unknown mode {mode!r}")
t_import = time.perf_counter() - t0
cpu_import = time.process_time() - c0
times, cpu = [], []
for i in range(2):
    t1, c1 = time.perf_counter(), time.process_time()
    p = call()
    times.append(time.perf_counter() - t1)
    cpu.append(time.process_time() - c1)
    with open(out + f"/progress_{mode}_{n_jobs}.json", "a") as fh:  # read on a timeout
        fh.write(json.dumps({"call": i, "import_s": t_import, "wall_s": times[-1],
                             "cpu_s": cpu[-1] + (cpu_import if i == 0 else 0.0)}) + "\n")
peak = status_kb("VmHWM") if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
np.save(out + f"/p_{mode}_{n_jobs}.npy", np.asarray(p, dtype=float))
try:
    import numba
    numba_version = numba.__version__
except ImportError:
    numba_version = None
print(json.dumps({
    "mode": mode, "n_jobs": n_jobs, "data_s": t_data, "import_s": t_import,
    "first_s": times[0], "warm_s": times[1], "cold_s": t_import + times[0],
    "cold_cpu_s": cpu_import + cpu[0], "first_cpu_s": cpu[0], "warm_cpu_s": cpu[1],
    "peak_rss_mb": peak / 1024, "hwm_reset": hwm_reset,
    "rss_after_data_mb": rss_data / 1024, "call_rss_mb": (peak - rss_data) / 1024,
    "n_sig": int((np.asarray(p) <= 0.05).sum()), "numba": numba_version,
    "python": sys.executable,
}))
"""

PEER = {"gc_lm": "esda_lm", "gc_gi": "esda_gi"}
LABEL = {"gc_lm": "local Moran", "gc_gi": "Gi*"}


def hex_grid(n_target: int, size: float = 1000.0):
    """About ``n_target`` pointy-top hexagons (vertices from one integer lattice)."""
    import geopandas as gpd
    import numpy as np
    import shapely

    ncol = int(round(np.sqrt(n_target)))
    nrow = int(np.ceil(n_target / ncol))
    rows, cols = np.divmod(np.arange(nrow * ncol), ncol)
    # vertex lattice: x in units of size*sqrt(3)/2, y in units of size/2
    cx = 2 * cols + (rows % 2)  # centre, in x-units
    cy = 3 * rows  # centre, in y-units
    dx = np.array([0, 1, 1, 0, -1, -1])
    dy = np.array([2, 1, -1, -2, -1, 1])
    ix = cx[:, None] + dx[None, :]
    iy = cy[:, None] + dy[None, :]
    ux, uy = size * np.sqrt(3) / 2, size / 2
    coords = np.stack([ix * ux, iy * uy], axis=-1)  # integer * shared constant
    coords = np.concatenate([coords, coords[:, :1]], axis=1)
    polys = shapely.polygons(coords)
    gdf = gpd.GeoDataFrame({"row": rows, "col": cols}, geometry=polys, crs="EPSG:3857")
    rng = np.random.default_rng(0)
    x, yv = cx * ux, cy * uy
    field = np.sin(x / (40 * size)) + np.cos(yv / (30 * size))
    gdf["value"] = field + rng.normal(0, 0.8, len(gdf))
    gdf["pos"] = np.exp(gdf["value"] / 2)
    return gdf, nrow, ncol


def hex_queen(nrow: int, ncol: int):
    """Queen (= edge) contiguity of the :func:`hex_grid` lattice as a binary Graph."""
    import numpy as np
    from libpysal.graph import Graph

    rows, cols = np.divmod(np.arange(nrow * ncol), ncol)
    odd = rows % 2
    # same row: col +-1; rows +-1: cols (c - 1, c) from an even row, (c, c + 1) from an odd one
    dr = np.array([0, 0, -1, -1, 1, 1])
    dc_even = np.array([-1, 1, -1, 0, -1, 0])
    dc_odd = np.array([-1, 1, 0, 1, 0, 1])
    r2 = rows[:, None] + dr[None, :]
    c2 = cols[:, None] + np.where(odd[:, None] == 1, dc_odd[None, :], dc_even[None, :])
    ok = (r2 >= 0) & (r2 < nrow) & (c2 >= 0) & (c2 < ncol)
    focal = np.repeat(np.arange(nrow * ncol), 6).reshape(-1, 6)[ok]
    neighbour = (r2 * ncol + c2)[ok]
    order = np.lexsort((neighbour, focal))
    return Graph.from_arrays(focal[order], neighbour[order], np.ones(len(focal)))


def prepare(n: int, out: Path) -> dict:
    import numpy as np
    from libpysal.graph import Graph

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    gdf, nrow, ncol = hex_grid(n)
    graph = hex_queen(nrow, ncol)
    t_build = time.perf_counter() - t0
    if len(gdf) <= 20_000:
        ref = Graph.build_contiguity(gdf, rook=False)
        a, b = ref.sparse.tocsr(), graph.sparse.tocsr()
        if (a != b).nnz or not np.array_equal(ref.unique_ids, graph.unique_ids):
            raise RuntimeError("lattice Graph differs from build_contiguity")
    gdf.to_parquet(out / "grid.parquet")
    graph.to_parquet(out / "graph.parquet")
    graph.transform("B").assign_self_weight(1.0).to_parquet(out / "graph_star.parquet")
    card = graph.cardinalities
    print(
        f"\n=== {len(gdf):,} hex cells ({nrow} x {ncol}), queen Graph from the lattice in "
        f"{t_build:.1f} s (neighbours: mean {card.mean():.3f}, max {card.max()}, "
        f"isolates {len(graph.isolates)})"
        + ("; equals build_contiguity" if len(gdf) <= 20_000 else "")
    )
    return {"n_units": len(gdf)}


def run_worker(mode: str, out: Path, permutations: int, seed: int, n_jobs: int,
               python: str, timeout: float | None = None) -> dict:
    load_before = os.getloadavg()
    progress = out / f"progress_{mode}_{n_jobs}.json"
    progress.unlink(missing_ok=True)
    try:
        proc = subprocess.run(
            [python, "-c", WORKER, mode, str(out), str(permutations), str(seed), str(n_jobs)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        # stopped after `timeout` s: what finished is in the progress file; the rest is a
        # lower bound (the call that was running took longer than the time left)
        done = [json.loads(line) for line in progress.read_text().splitlines()] \
            if progress.exists() else []
        r = {"mode": mode, "n_jobs": n_jobs, "timeout_s": timeout, "numba": "?",
             "load_before": load_before[0], "load_after": os.getloadavg()[0]}
        elapsed = sum(d["wall_s"] for d in done) + (done[0]["import_s"] if done else 0.0)
        if done:
            r.update(cold_s=done[0]["import_s"] + done[0]["wall_s"],
                     cold_cpu_s=done[0]["cpu_s"])
        else:
            r.update(cold_s_more_than=timeout)
        # the warm call is bounded only once the cold one finished
        r["warm_s_more_than"] = max(timeout - elapsed, 0.0) if done else None
        return r
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} worker failed:\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["load_before"] = load_before[0]
    r["load_after"] = os.getloadavg()[0]
    return r


def summarise(n_units: int, results: list, out: Path, n_jobs: list) -> None:
    import numpy as np

    def best(mode, key, jobs=None):
        vals = [r[key] for r in results if r["mode"] == mode and r.get(key) is not None
                and (jobs is None or r["n_jobs"] == jobs)]
        return min(vals) if vals else None

    for mode, peer in PEER.items():
        if best(mode, "warm_s") is None:
            continue
        ps = [np.load(out / f"p_{mode}_{j}.npy") for j in n_jobs]
        same = all(np.array_equal(ps[0], p, equal_nan=True) for p in ps[1:])
        line = (f"{LABEL[mode]:11s} {n_units:>9,} units: p-values identical for n_jobs="
                f"{','.join(map(str, n_jobs))}: {same}")
        if best(peer, "warm_s") is not None:
            q = np.load(out / f"p_{peer}_1.npy")
            line += f"; mean |p_gc - p_esda| = {np.nanmean(np.abs(ps[0] - q)):.4f}"
        print(line)
        if best(peer, "warm_s") is None:
            # esda stopped by --timeout: lower bounds on the speed-up
            warm_gt = best(peer, "warm_s_more_than")
            cold = best(peer, "cold_s") or best(peer, "cold_s_more_than")
            if warm_gt is None and cold is None:
                continue
            for j in n_jobs:
                parts = []
                if warm_gt:
                    parts.append(f"warm wall > {warm_gt / best(mode, 'warm_s', j):.1f}x")
                if cold:
                    exact = best(peer, "cold_s") is not None
                    parts.append(f"cold wall {'' if exact else '> '}"
                                 f"{cold / best(mode, 'cold_s', j):.1f}x")
                print(f"    speed-up over esda (stopped by --timeout), n_jobs={j}: "
                      + "  ".join(parts))
            continue
        for j in n_jobs:
            print(
                f"    speed-up over esda (esda time / geocluster time), n_jobs={j}: "
                f"warm wall {best(peer, 'warm_s') / best(mode, 'warm_s', j):5.1f}x  "
                f"warm cpu {best(peer, 'warm_cpu_s') / best(mode, 'warm_cpu_s', j):5.1f}x  "
                f"cold wall {best(peer, 'cold_s') / best(mode, 'cold_s', j):5.1f}x  "
                f"(memory of the calls: geocluster +{best(mode, 'call_rss_mb', j):.0f} MB, "
                f"esda +{best(peer, 'call_rss_mb'):.0f} MB)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="100000", help="comma-separated unit counts")
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all contenders")
    parser.add_argument("--out", default="/tmp/bench_local_moran")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the esda contenders (a venv with numba: esda's fastest path)",
    )
    parser.add_argument("--gc-python", default=sys.executable,
                        help="interpreter for the geocluster contenders")
    parser.add_argument("--modes", default="gc_lm,gc_gi,esda_lm,esda_gi",
                        help="comma-separated contenders")
    parser.add_argument("--n-jobs", default="1,2", help="geocluster n_jobs values to run")
    parser.add_argument(
        "--timeout", type=float, default=None,
        help="stop an esda process after this many seconds and report lower bounds "
        "(esda copies all n values for every unit, O(n^2): hours at 1M units)",
    )
    args = parser.parse_args()
    modes = args.modes.split(",")
    n_jobs = [int(j) for j in args.n_jobs.split(",")]
    print(f"esda python: {args.python}\ngeocluster python: {args.gc_python}")
    print(f"cores: {len(os.sched_getaffinity(0))}; load average at start: {os.getloadavg()}")
    seed = 12345
    everything = []
    for n in [int(x) for x in args.n.split(",")]:
        out = Path(args.out) / f"n{n}"
        info = prepare(n, out)
        results = []
        for round_ in range(args.repeat):
            for mode in modes:
                esda = mode.startswith("esda")
                for jobs in [1] if esda else n_jobs:
                    r = run_worker(mode, out, args.permutations, seed, jobs,
                                   args.python if esda else args.gc_python,
                                   args.timeout if esda else None)
                    r.update(round=round_, n_units=info["n_units"])
                    results.append(r)
                    tag = mode + ("" if esda else f" n_jobs={jobs}")
                    if "timeout_s" in r:
                        cold = (f"cold {r['cold_s']:.2f} s (cpu {r['cold_cpu_s']:.2f})"
                                if "cold_s" in r else
                                f"cold > {r['cold_s_more_than']:.0f} s")
                        warm = (f"warm > {r['warm_s_more_than']:.0f} s"
                                if r["warm_s_more_than"] is not None else "warm not reached")
                        print(f"[{round_}] {tag:15s} stopped after --timeout {r['timeout_s']:.0f}"
                              f" s: {cold}, {warm}  load "
                              f"{r['load_before']:.1f}->{r['load_after']:.1f}", flush=True)
                        continue
                    print(
                        f"[{round_}] {tag:15s} cold {r['cold_s']:7.2f} s (import "
                        f"{r['import_s']:.2f} + first call {r['first_s']:.2f}; cpu "
                        f"{r['cold_cpu_s']:.2f})  warm {r['warm_s']:7.2f} s (cpu "
                        f"{r['warm_cpu_s']:.2f})  +{r['call_rss_mb']:.0f} MB  "
                        f"p<=0.05: {r['n_sig']}  numba={r['numba']}  "
                        f"load {r['load_before']:.1f}->{r['load_after']:.1f}",
                        flush=True,
                    )
                    if esda and r["numba"] is None:
                        print("    (no numba in this interpreter: esda ran its numpy "
                              "fallback, not its fastest path; see --python)")
        summarise(info["n_units"], results, out, n_jobs)
        everything += results
    print(f"load average at end: {os.getloadavg()}")
    (Path(args.out) / "results.json").write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
