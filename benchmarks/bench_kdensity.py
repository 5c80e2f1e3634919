"""Benchmark: Duranton-Overman K-density, geocluster vs a naive pdist implementation.

Data: ``gc.datasets.make_firms(20_000, seed=1)`` (synthetic firms on real US ZIP
locations); the industry is ``pharma`` (about 3,000 firms) among all 20,000 sites.
Both implementations do the same work: the median of all 2 x 10^8 site-to-site
distances (default ``max_distance``), Silverman's bandwidth on the industry's
distances, the K-density and 99 random relocations, local and global bands.

The peer is what one writes with scipy directly: ``scipy.spatial.distance.pdist``
holding every distance vector (1.6 GB for the site median), ``np.median``, ``np.histogram``
on the same fine bins and the same dense kernel smoothing. An exact per-pair Gaussian
sum (no binning) is also timed for one density and extrapolated to 100 densities.

Usage: ``python benchmarks/bench_kdensity.py [--sites 20000] [--industry pharma]
[--simulations 99] [--repeat 1] [--no-peer] [--no-exact]``. Time is wall clock; memory is the
peak of Python-tracked allocations (``tracemalloc``, which sees numpy buffers).
"""

from __future__ import annotations

import argparse
import math
import os
import time
import tracemalloc

import numpy as np
from scipy.spatial.distance import pdist

import geocluster as gc


def naive_k_density(xy_all, mask, *, simulations, seed, grid_points=201, alpha=0.05):
    """The textbook version: full pdist vectors, np.median, np.histogram, dense smoothing."""
    dmax = float(np.median(pdist(xy_all)))
    xy = xy_all[mask]
    d = pdist(xy)
    iqr = np.subtract(*np.percentile(d, [75, 25]))
    h = 0.9 * min(d.std(), iqr / 1.34) * len(d) ** -0.2
    del d
    grid = np.linspace(0, dmax, grid_points)
    width = min(h / 50, dmax / 1000)
    edges = np.arange(0, dmax + 6 * h + width, width)
    centres = 0.5 * (edges[1:] + edges[:-1])
    kernel = (
        np.exp(-0.5 * ((grid[:, None] - centres) / h) ** 2)
        + np.exp(-0.5 * ((grid[:, None] + centres) / h) ** 2)
    ) / (h * math.sqrt(2 * math.pi))

    def density(points):
        dist = pdist(points)
        hist, _ = np.histogram(dist, bins=edges)
        return kernel @ hist / dist.size * 1000

    k = density(xy)
    rng = np.random.default_rng(seed)
    n = int(mask.sum())
    sims = np.array(
        [density(xy_all[rng.choice(len(xy_all), n, replace=False)]) for _ in range(simulations)]
    )
    upper = np.quantile(sims, 1 - alpha, axis=0)
    return grid, k, sims, upper, h, dmax


def exact_one_density(xy, h, grid):
    d = pdist(xy)
    out = np.empty(len(grid))
    for i, g in enumerate(grid):  # one grid point at a time to bound memory
        out[i] = (np.exp(-0.5 * ((g - d) / h) ** 2) + np.exp(-0.5 * ((g + d) / h) ** 2)).sum()
    return out / (h * math.sqrt(2 * math.pi) * d.size) * 1000


def measure(fn, *args, **kwargs):
    tracemalloc.reset_peak()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    return out, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--industry", default="pharma")
    parser.add_argument("--simulations", type=int, default=99)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact per-pair timing")
    args = parser.parse_args()

    firms = gc.datasets.make_firms(args.sites, seed=1)
    mask = (firms["industry"] == args.industry).to_numpy()
    metric = gc.to_metric(firms)
    xy_all = np.column_stack([metric.geometry.x, metric.geometry.y])
    print(
        f"data: {len(firms):,} sites, industry {args.industry!r} = {int(mask.sum()):,} firms, "
        f"{args.simulations} simulations; CRS {metric.crs.to_epsg()}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    tracemalloc.start()
    for rep in range(args.repeat):
        res, t_ours, m_ours = measure(
            gc.k_density, firms, subset=mask, simulations=args.simulations, seed=rep
        )
        print(
            f"[{rep}] geocluster k_density: {t_ours:7.1f} s, peak {m_ours:8.1f} MB  "
            f"(max_distance {res.max_distance / 1000:.0f} km, bandwidth "
            f"{res.bandwidth / 1000:.2f} km, localised={res.is_localised})"
        )
        if args.no_peer:
            continue
        (grid, k, sims, upper, h, dmax), t_peer, m_peer = measure(
            naive_k_density, xy_all, mask, simulations=args.simulations, seed=rep
        )
        print(
            f"[{rep}] naive pdist version:  {t_peer:7.1f} s, peak {m_peer:8.1f} MB  "
            f"(max_distance {dmax / 1000:.0f} km, bandwidth {h / 1000:.2f} km)"
        )
        print(
            f"[{rep}] ratio naive/geocluster: time {t_peer / t_ours:.2f}x, "
            f"memory {m_peer / m_ours:.1f}x"
        )
        same = gc.k_density(firms, subset=mask, simulations=0, max_distance=dmax, bandwidth=h)
        print(
            f"[{rep}] max |K_geocluster - K_naive| / max K = "
            f"{np.max(np.abs(same.k - k)) / k.max():.2e} (same max_distance and bandwidth)"
        )
    if not args.no_peer and not args.no_exact:
        start = time.perf_counter()
        exact = exact_one_density(xy_all[mask], h, grid)
        t_exact = time.perf_counter() - start
        print(
            f"exact per-pair Gaussian sum (no binning), one density: {t_exact:.1f} s -> "
            f"~{t_exact * (args.simulations + 1):.0f} s for {args.simulations + 1} densities "
            f"(extrapolated); max |K_geocluster - K_exact| / max K = "
            f"{np.max(np.abs(same.k - exact)) / exact.max():.2e}"
        )


if __name__ == "__main__":
    main()
