"""Benchmark: gc.kde against KDEpy's FFTKDE and scikit-learn's exact KernelDensity.

1,000,000 points (20 Gaussian clusters over a uniform background, 400 km x 400 km,
UTM metres) on a 512 x 512 grid, Gaussian kernel, one bandwidth for all three.

* ``gc.kde``: the public call on a GeoDataFrame (coordinates read from the geometry;
  a second case starts from EPSG:4326 and includes the projection), with the time of
  each part measured separately.
* KDEpy ``FFTKDE``: the same grid (our cell centres, in km, because FFTKDE fails to
  find its kernel support in metres), coordinates handed over as an array.
* scikit-learn ``KernelDensity`` (exact, ``rtol=0``): too slow for the full grid, so it
  is timed on a random subsample of grid cells and scaled linearly to all 262,144.

Accuracy: the largest absolute error against exact evaluation (all 1M points) at
400 random cell centres plus the cells where each method peaks, relative to the
exact peak among those cells.

Run: ``.venv/bin/python benchmarks/bench_kde.py [--repeat 5] [--sklearn-cells 200]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import geopandas as gpd
import numpy as np
import pyproj
import shapely

import geocluster as gc
from geocluster.clusters import _kde


def make_points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_bg = n // 4
    centres = rng.uniform(50_000, 350_000, (20, 2))
    sds = rng.uniform(2_000, 15_000, 20)
    which = rng.integers(0, 20, n - n_bg)
    clustered = centres[which] + rng.normal(size=(n - n_bg, 2)) * sds[which, None]
    background = rng.uniform(0, 400_000, (n_bg, 2))
    xy = np.vstack([clustered, background])
    return xy + np.array([300_000.0, 5_600_000.0])  # somewhere in UTM zone 33N


CPU = {}  # id(list of wall times) -> list of process CPU times


def timed(fn, repeat: int) -> tuple[list[float], object]:
    """Wall times of ``repeat`` calls (the CPU times go to ``CPU``) and the last result."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        c = time.process_time()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU[id(times)] = cpu
    return times, out


def exact_at(xy: np.ndarray, cx: np.ndarray, cy: np.ndarray, h: float) -> np.ndarray:
    """Exact Gaussian kernel sum at (cx, cy), per km^2, chunked over cells."""
    out = np.empty(len(cx))
    for k in range(len(cx)):
        d2 = (xy[:, 0] - cx[k]) ** 2 + (xy[:, 1] - cy[k]) ** 2
        out[k] = np.exp(-0.5 * d2 / (h * h)).sum()
    return out / (2 * np.pi * h * h) * 1e6


def fmt(times: list[float]) -> str:
    cpu = CPU.get(id(times))
    text = f"{min(times):.3f} s (median {statistics.median(times):.3f})"
    return text + (f" | {min(cpu):.3f} s" if cpu else " | -")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sklearn-cells", type=int, default=200)
    ap.add_argument("--check-cells", type=int, default=400)
    args = ap.parse_args()

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f} (1 min) at start")
    xy = make_points(args.n)
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=32633)
    lonlat = np.column_stack(pyproj.Transformer.from_crs(32633, 4326, always_xy=True)
                             .transform(xy[:, 0], xy[:, 1]))
    gdf_ll = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]), crs=4326)

    h = 3_000.0  # metres; the same for every method
    lo = xy.min(axis=0) - 4 * h
    side = float((xy.max(axis=0) + 4 * h - lo).max())
    cell = side / 512
    extent = (lo[0], lo[1], lo[0] + side, lo[1] + side)
    print(f"{args.n:,} points, 512 x 512 grid of {cell:,.0f} m cells, Gaussian kernel, "
          f"bandwidth {h:,.0f} m (h / cell = {h / cell:.1f})\n")

    # ---- ours: the public call, and its parts ------------------------------------------
    gc.kde(gdf, bandwidth=h, cell_size=cell, extent=extent)  # warm-up
    t_ours, surf = timed(lambda: gc.kde(gdf, bandwidth=h, cell_size=cell, extent=extent),
                         args.repeat)
    assert surf.shape == (512, 512), surf.shape
    t_ll, surf_ll = timed(lambda: gc.kde(gdf_ll, bandwidth=h, cell_size=cell,
                                         extent=extent, crs=32633), args.repeat)
    geoms = np.asarray(gdf.geometry.values)
    t_coords, coords = timed(lambda: np.column_stack([shapely.get_x(geoms),
                                                      shapely.get_y(geoms)]), args.repeat)
    tr = pyproj.Transformer.from_crs(4326, 32633, always_xy=True)
    t_proj, _ = timed(lambda: tr.transform(lonlat[:, 0], lonlat[:, 1]), args.repeat)
    hk = _kde.binning_corrected_scale("gaussian", h, cell)
    half = int(np.ceil(_kde.kernel_support("gaussian", hk) / cell))
    n_side = 512 + 2 * half
    x0, y0 = surf.x0, surf.y0
    t_bin, _ = timed(lambda: _kde.linear_bin(
        coords[:, 0], coords[:, 1], None, x0 + (0.5 - half) * cell, y0 + (0.5 - half) * cell,
        cell, n_side, n_side), args.repeat)
    t_dens, _ = timed(lambda: _kde.binned_density(
        coords[:, 0], coords[:, 1], None, x0=x0, y0=y0, cell=cell, nx=512, ny=512, h=h,
        kernel="gaussian"), args.repeat)
    # ---- KDEpy FFTKDE on the same grid (km) --------------------------------------------
    try:
        from KDEpy import FFTKDE
    except ImportError:
        FFTKDE = None
    if FFTKDE is not None:
        data_km = xy / 1000.0
        gx, gy = surf.x / 1000.0, surf.y / 1000.0
        grid_pts = np.column_stack([np.repeat(gx, len(gy)), np.tile(gy, len(gx))])

        def run_kdepy():
            return FFTKDE(kernel="gaussian", bw=h / 1000.0).fit(data_km).evaluate(grid_pts)

        run_kdepy()
        t_kdepy, dens = timed(run_kdepy, args.repeat)
        kdepy_vals = (dens * args.n).reshape(len(gx), len(gy)).T  # per km^2, rows = y
    # ---- scikit-learn exact on a subsample of cells ------------------------------------
    rng = np.random.default_rng(1)
    try:
        from sklearn.neighbors import KernelDensity
    except ImportError:
        KernelDensity = None
    if KernelDensity is not None:
        kd = KernelDensity(bandwidth=h / 1000.0, kernel="gaussian", rtol=0.0, atol=0.0)
        t = time.perf_counter()
        kd.fit(xy / 1000.0)
        t_fit = time.perf_counter() - t
        cells = rng.choice(512 * 512, args.sklearn_cells, replace=False)
        q = np.column_stack([surf.x[cells % 512], surf.y[cells // 512]]) / 1000.0
        t = time.perf_counter()
        sk = np.exp(kd.score_samples(q)) * args.n
        t_sk = time.perf_counter() - t
        t_sk_full = t_fit + t_sk * (512 * 512) / args.sklearn_cells

    # ---- accuracy against exact evaluation ---------------------------------------------
    check = list(rng.choice(512 * 512, args.check_cells, replace=False))
    check.append(int(np.argmax(surf.values)))
    if FFTKDE is not None:
        check.append(int(np.argmax(kdepy_vals)))
    check = np.array(check)
    ci, cj = check // 512, check % 512
    exact = exact_at(xy, surf.x[cj], surf.y[ci], h)
    peak = exact.max()
    err_ours = np.abs(surf.values[ci, cj] - exact).max() / peak
    err_ll = np.abs(surf_ll.values[ci, cj] - exact).max() / peak
    rows = [("gc.kde (GeoDataFrame in UTM metres)", fmt(t_ours), min(t_ours), f"{err_ours:.1e}"),
            ("gc.kde (GeoDataFrame in EPSG:4326, projected)", fmt(t_ll), min(t_ll),
             f"{err_ll:.1e}")]
    if FFTKDE is not None:
        err_k = np.abs(kdepy_vals[ci, cj] - exact).max() / peak
        rows.append(("KDEpy FFTKDE (array in km)", fmt(t_kdepy), min(t_kdepy), f"{err_k:.1e}"))
    if KernelDensity is not None:
        exact_sk = exact_at(xy, q[:, 0] * 1000, q[:, 1] * 1000, h)
        err_sk = np.abs(sk - exact_sk).max() / peak
        rows.append((f"scikit-learn KernelDensity exact (timed on {args.sklearn_cells} cells, "
                     "scaled x{:.0f})".format(512 * 512 / args.sklearn_cells),
                     f"{t_sk_full:,.0f} s ({t_sk_full / 60:.0f} min) est. | -", t_sk_full,
                     f"{err_sk:.1e}"))

    base = min(t_ours)
    print(f"| method | wall time (best of {args.repeat}) | CPU time (best) | wall ratio to gc.kde "
          "| max abs error / peak |")
    print("| --- | --- | --- | --- | --- |")
    for name, t_text, t_best, err in rows:
        print(f"| {name} | {t_text} | {t_best / base:.2f} | {err} |")
    print(f"\nParts of gc.kde (best of {args.repeat}):")
    def cpu(t):
        return f" (CPU {min(CPU[id(t)]):.3f} s)"

    print(f"- read coordinates (shapely.get_x/get_y): {min(t_coords):.3f} s{cpu(t_coords)}")
    print(f"- project EPSG:4326 -> UTM (pyproj, only for geographic input): {min(t_proj):.3f} s"
          f"{cpu(t_proj)}")
    print(f"- linear binning (np.bincount): {min(t_bin):.3f} s{cpu(t_bin)}")
    t_conv = max(min(t_dens) - min(t_bin), 0.0)
    c_conv = max(min(CPU[id(t_dens)]) - min(CPU[id(t_bin)]), 0.0)
    print(f"- convolution ({n_side} x {n_side} binned grid, {2 * half + 1}-tap Gaussian, two "
          f"1-D passes; binned_density minus binning): {t_conv:.3f} s (CPU {c_conv:.3f} s)")
    print(f"- everything else (validation, grid set-up): "
          f"{max(base - min(t_coords) - min(t_dens), 0):.3f} s")
    print(f"\nmass / n = {surf.mass / args.n:.5f}; load average at end "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
