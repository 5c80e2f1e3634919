"""Benchmark: a 48-specification robustness sweep on 5,000 firms (issue target: < 2 minutes).

Ours: ``gc.robustness`` over 4 weights x 3 models x 4 clustering measures, which builds
each weights Graph and each exposure column once and fits with geocluster's estimators.

Peer: the loop a user would write with spreg directly (``OLS``, ``ML_Lag(method="LU")``,
``ML_Error(method="LU")``), rebuilding the weights for every specification. spreg's ML
fits take several seconds each at n = 5,000, so the peer runs on a sample of the
specifications (``--peer-specs``, default 6, two of each model) and its time is scaled
linearly to 48; the script says so in its output.

Usage: ``python benchmarks/bench_robustness.py [--n 5000] [--n-jobs 1] [--peer-specs 6]``
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np

import geocluster as gc
from geocluster.robustness.specs import parse_exposure_spec

FORMULA = "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"
WEIGHTS = ["knn:4", "knn:8", "knn:12", "knn:16"]
MODELS = ["ols", "lag", "error"]
EXPOSURE = ["cluster", "count:15km", "count:40km", "kde:25km"]


def ours(firms, n_jobs: int) -> tuple[float, object]:
    start = time.perf_counter()
    sweep = gc.robustness(FORMULA, firms, focus=["serial:cluster", "cluster"], weights=WEIGHTS,
                          models=MODELS, exposure=EXPOSURE, n_jobs=n_jobs, seed=1,
                          progress=False)
    return time.perf_counter() - start, sweep


def peer(firms, specs) -> float:
    import spreg
    from formulaic import model_matrix
    from libpysal.weights import KNN

    start = time.perf_counter()
    metric = gc.to_metric(firms)
    xy = np.column_stack([metric.geometry.x, metric.geometry.y])
    for weights, model, exposure in specs:
        frame = firms.copy()
        if exposure != "cluster":
            options = parse_exposure_spec(exposure, where="bench_robustness").exposure_options()
            frame = gc.exposure(frame.drop(columns="cluster"), name="cluster", by="industry",
                                log="log1p", standardize=True, **options)
        y, X = model_matrix(FORMULA, frame)
        X = X.drop(columns="Intercept")
        w = KNN(xy, k=int(weights.split(":")[1]))
        w.transform = "r"
        yv, Xv = y.to_numpy(float), X.to_numpy(float)
        if model == "ols":
            spreg.OLS(yv, Xv, w=w, spat_diag=True)
        elif model == "lag":
            spreg.ML_Lag(yv, Xv, w=w, method="LU")
        else:
            spreg.ML_Error(yv, Xv, w=w, method="LU")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--peer-specs", type=int, default=6)
    args = parser.parse_args()
    firms = gc.datasets.make_firms(args.n, seed=1)
    print(f"robustness sweep, n = {args.n}, {len(WEIGHTS) * len(MODELS) * len(EXPOSURE)} "
          f"specifications, n_jobs = {args.n_jobs}, load average {os.getloadavg()[0]:.1f}")
    t_ours, sweep = ours(firms, args.n_jobs)
    n_specs = sweep.table["spec"].nunique()
    failed = sweep.table.loc[sweep.table["error"].notna(), "spec"].nunique()
    print(f"ours: {t_ours:.1f} s for {n_specs} specifications ({failed} failed)")
    by_model = (sweep.table.assign(seconds=sweep.timings).drop_duplicates("spec")
                .groupby("model")["seconds"].mean())
    print("  mean seconds per fit: " + ", ".join(f"{m} {s:.2f}" for m, s in by_model.items()))
    grid = list(itertools.product(WEIGHTS, MODELS, EXPOSURE))
    chosen: list = []
    per_model = max(1, args.peer_specs // len(MODELS))
    for model in MODELS:
        chosen += [spec for spec in grid if spec[1] == model][:per_model]
    t_peer_sample = peer(firms, chosen)
    # Scale each model's share: the sample has per_model fits of each model.
    t_peer = t_peer_sample / len(chosen) * len(grid)
    print(f"peer (spreg loop, weights rebuilt): {t_peer_sample:.1f} s for {len(chosen)} "
          f"specifications, scaled linearly to {len(grid)}: {t_peer:.1f} s")
    print(f"ratio peer / ours: {t_peer / t_ours:.2f}")


if __name__ == "__main__":
    main()
