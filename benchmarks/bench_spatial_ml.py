"""Benchmark: ML spatial lag / error fits with standard errors, geocluster vs spreg.

Data: n uniform random points, row-standardised ``knn:8`` weights (scipy KDTree; the
same graph ``gc.weights(points, "knn:8")`` builds, without libpysal's overhead at 1M),
X = [1, N(0,1), U(0,1)], beta = (1, 2, -1), y = (I - rho W)^-1 (X beta + e) for the lag
model and X beta + (I - rho W)^-1 e for the error model (rho = 0.5 unless --rho).

Every case runs in a fresh subprocess, so its peak resident memory (ru_maxrss, which
includes the data and the weights) is its own. Reported per case: wall and CPU seconds
of the fit alone, peak RSS, the estimate of rho, the standard error of rho and its
accuracy:

* ``d_rho``, ``max rel d_beta``: deviation from the exact ML estimate (sparse-LU
  log-determinant) where that is computed (n <= --exact-max);
* ``se(rho)`` and ``rel d_se``: the SE of rho and its relative deviation from the exact
  SE (exact log-determinant and exact information-matrix traces) at the exact estimate;
* ``est. MC err``: the Monte Carlo error of the SE that the fit itself reports
  (``SparseMLFit.se_rel_error``; 0 when exact);
* above the exact-trace limit (20,000) a second line ``ours (exact logdet, MC traces)``
  isolates the Monte Carlo trace error: the same exact estimate, the traces by Monte
  Carlo, against the exact traces, next to its reported error.

spreg ``ML_Lag(method="LU")`` (the peer) runs in the same invocation where it fits in
memory (n <= --spreg-max, 5,000 by default; its variance step inverts I - rho W
densely); ``vs ours`` is its wall time over ours.

Usage::

    python benchmarks/bench_spatial_ml.py                     # lag at 5k, 20k, 50k
    python benchmarks/bench_spatial_ml.py --sizes 2000 50000 --models lag error
    python benchmarks/bench_spatial_ml.py --sizes 1000000 --exact-max 0
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

RHO = 0.5
BETA = np.array([1.0, 2.0, -1.0])


def make_data(n: int, model: str, seed: int = 12345, rho: float = RHO):
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    from geocluster._base.linalg import neumann_solve

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100_000, size=(n, 2))
    _, idx = cKDTree(xy).query(xy, k=9)
    rows = np.repeat(np.arange(n), 8)
    W = sp.csr_matrix((np.full(8 * n, 1 / 8), (rows, idx[:, 1:].ravel())), shape=(n, n))
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(size=n)])
    e = rng.normal(size=n)
    if model == "lag":
        y = neumann_solve(W, X @ BETA + e, rho)
    else:
        y = X @ BETA + neumann_solve(W, e, rho)
    return y, X, W


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(n: int, model: str, engine: str, rho: float) -> dict:
    warnings.simplefilter("ignore")
    t = time.perf_counter()
    y, X, W = make_data(n, model, rho=rho)
    out = {"n": n, "model": model, "engine": engine, "rho_true": rho}
    out["data_seconds"] = time.perf_counter() - t
    out["rss_before_fit_mb"] = _rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    if engine.startswith("spreg-"):
        import libpysal
        import spreg

        w = libpysal.weights.WSP(W).to_W(silence_warnings=True)
        method = engine.split("-", 1)[1]
        wall, cpu = time.perf_counter(), time.process_time()
        cls = spreg.ML_Lag if model == "lag" else spreg.ML_Error
        fit = cls(y[:, None], X[:, 1:], w=w, method=method)
        out["rho"] = float(fit.rho if model == "lag" else fit.lam)
        out["beta"] = fit.betas.ravel()[:3].tolist()
        se = np.sqrt(np.diag(fit.vm))
        out["se"] = se.tolist()
        out["se_rho"] = float(se[-1])
        out["se_rel_error"] = 0.0
    else:
        from geocluster.models._sparse_ml import fit_error, fit_lag

        fn = fit_lag if model == "lag" else fit_error
        _, logdet, *rest = engine.split("-")
        fit = fn(y, X, W, logdet=logdet, traces=rest[0] if rest else "auto", seed=0)
        out["rho"] = fit.rho
        out["beta"] = fit.beta.tolist()
        out["se"] = fit.se.tolist()
        out["se_rho"] = float(fit.se[-1])
        out["se_rel_error"] = float(fit.se_rel_error[-1])
        out["se_probes"] = fit.se_probes
        out["logdet_method"] = fit.logdet_method
        out["trace_method"] = fit.trace_method
        out["n_vectors"] = fit.n_vectors
        out["n_powers"] = fit.n_powers
    out["wall"] = time.perf_counter() - wall
    out["cpu"] = time.process_time() - cpu
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def exact_worker(n: int, model: str, rho: float) -> dict:
    """Exact ML (sparse LU log-determinant, exact traces): the reference."""
    warnings.simplefilter("ignore")
    from geocluster.models._sparse_ml import fit_error, fit_lag

    y, X, W = make_data(n, model, rho=rho)
    fn = fit_lag if model == "lag" else fit_error
    wall = time.perf_counter()
    fit = fn(y, X, W, logdet="lu", traces="exact")
    return {
        "rho": fit.rho,
        "beta": fit.beta.tolist(),
        "se_rho": float(fit.se[-1]),
        "wall": time.perf_counter() - wall,
    }


def run(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5_000, 20_000, 50_000])
    ap.add_argument("--models", nargs="+", default=["lag"], choices=["lag", "error"])
    ap.add_argument("--spreg-max", type=int, default=5_000, help="largest n for spreg")
    ap.add_argument("--spreg-methods", nargs="+", default=["LU"])
    ap.add_argument(
        "--exact-max", type=int, default=50_000, help="largest n for the exact reference"
    )
    ap.add_argument(
        "--extra", nargs="*", default=[], help="forced logdet methods to add, e.g. chebyshev"
    )
    ap.add_argument("--rho", type=float, default=RHO, help="true spatial parameter (0.5)")
    ap.add_argument("--json", help="append results as JSON lines to this file")
    ap.add_argument("--worker", nargs=3, metavar=("N", "MODEL", "ENGINE"), help=argparse.SUPPRESS)
    ap.add_argument("--exact", nargs=2, metavar=("N", "MODEL"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(int(a.worker[0]), a.worker[1], a.worker[2], a.rho)))
        return
    if a.exact:
        print(json.dumps(exact_worker(int(a.exact[0]), a.exact[1], a.rho)))
        return

    print(
        f"# true rho/lambda {a.rho}; load average at start: {os.getloadavg()[0]:.2f} "
        "(2 cores shared)",
        flush=True,
    )
    header = (
        f"{'n':>9} {'model':>5} {'engine':>31} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} "
        f"{'rho':>9} {'d_rho':>9} {'max rel d_beta':>14} {'se(rho)':>10} {'rel d_se':>9} "
        f"{'est. MC err':>11} {'vs ours':>8}"
    )
    print(header, flush=True)
    for n in a.sizes:
        for model in a.models:
            rho_arg = ["--rho", repr(a.rho)]
            ref = run(["--exact", str(n), model, *rho_arg]) if n <= a.exact_max else None
            engines = ["ours-auto"] + [f"ours-{m}" for m in a.extra]
            if n > 20_000 and ref is not None:
                engines.append("ours-lu-mc")  # exact estimate, Monte Carlo traces
            if n <= a.spreg_max and n < 20_000:
                engines += [f"spreg-{m}" for m in a.spreg_methods]
            ours_wall = None
            for engine in engines:
                res = run(["--worker", str(n), model, engine, *rho_arg])
                res["load"] = os.getloadavg()[0]
                if ref is not None and "rho" in res and "error" not in ref:
                    res["d_rho"] = res["rho"] - ref["rho"]
                    rb = np.asarray(ref["beta"])
                    res["d_beta_rel"] = float(np.max(np.abs((np.asarray(res["beta"]) - rb) / rb)))
                    res["d_se_rel"] = res["se_rho"] / ref["se_rho"] - 1
                    res["exact_wall"] = ref["wall"]
                if "error" in res:
                    print(f"{n:>9} {model:>5} {engine:>22}  FAILED: {res['error']}", flush=True)
                    continue
                if engine == "ours-auto":
                    ours_wall = res["wall"]
                ratio = f"{res['wall'] / ours_wall:8.1f}" if ours_wall else " " * 8
                if engine == "ours-auto":
                    label = f"ours ({res['logdet_method']}, {res['trace_method']})"
                elif engine == "ours-lu-mc":
                    label = "ours (exact logdet, MC traces)"
                else:
                    label = engine
                d_rho = f"{res['d_rho']:9.1e}" if "d_rho" in res else " " * 9
                d_b = f"{res['d_beta_rel']:14.1e}" if "d_beta_rel" in res else " " * 14
                d_se = f"{res['d_se_rel']:9.1e}" if "d_se_rel" in res else " " * 9
                print(
                    f"{n:>9} {model:>5} {label:>31} {res['wall']:8.2f} {res['cpu']:8.2f} "
                    f"{res['peak_rss_mb']:8.0f} {res['rho']:9.5f} {d_rho} {d_b} "
                    f"{res['se_rho']:10.3e} {d_se} {res['se_rel_error']:11.1e} {ratio}",
                    flush=True,
                )
            if ref is not None and "error" not in ref:
                print(f"{'':>9} {'':>5} {'(exact reference fit)':>31} {ref['wall']:8.2f}",
                      flush=True)
                if a.json:
                    with open(a.json, "a") as fh:
                        fh.write(json.dumps(res) + "\n")
    print(f"# load average at end: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
