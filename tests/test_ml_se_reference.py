"""Large-n ML estimates and standard errors against R spatialreg's analytic ones.

The reference is ``tests/data/ml_se_reference_4000.json``, written by
``tests/data/make_ml_se_reference.R`` (spatialreg ``lagsarlm(method="eigen")``,
``errorsarlm(method="eigen")`` and the Durbin ``lagsarlm(Durbin=TRUE)``; standard errors
from the analytic information matrix) on the data in ``tests/data/ml_se_reference_4000_data.csv``
with the knn:8 neighbours in ``tests/data/ml_se_reference_4000_neighbours.csv`` (1-based row
numbers, row-standardised on both sides). Neither R nor the generator is needed to run
the tests; to rebuild the files::

    .venv/bin/python tests/test_ml_se_reference.py        # writes the two CSV files
    Rscript tests/data/make_ml_se_reference.R              # writes the JSON

At n = 4,000 ``gc.regress`` uses the sparse estimator (exact sparse-LU log-determinant,
exact information-matrix traces), so everything must agree to 1e-6 relative.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from libpysal.graph import Graph

DATA = Path(__file__).parent / "data"
SIZES = (4000,)
RTOL = 1e-6


def make_data(n: int, seed: int = 20261201) -> tuple[pd.DataFrame, np.ndarray]:
    """Random points, knn:8 neighbours, a lag outcome (rho 0.4) and an error outcome (0.5)."""
    import geopandas as gpd
    import scipy.sparse.linalg as sla

    import geocluster as gc

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100_000, size=(n, 2))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:3857")
    graph = gc.weights(pts, "knn:8", transform="b")
    adj = graph.adjacency.reset_index()
    neighbours = (
        adj.assign(rank=adj.groupby("focal").cumcount())
        .pivot(index="focal", columns="rank", values="neighbor")
        .to_numpy()
    )
    x1 = rng.normal(size=n)
    x2 = rng.uniform(size=n)
    W = _row_standardised(neighbours)
    eye = sp.identity(n, format="csc")
    xb = 1.0 + 2.0 * x1 - 1.0 * x2
    y_lag = sla.splu((eye - 0.4 * W).tocsc()).solve(xb + rng.normal(size=n))
    y_err = xb + sla.splu((eye - 0.5 * W).tocsc()).solve(rng.normal(size=n))
    frame = pd.DataFrame({"x1": x1, "x2": x2, "y_lag": y_lag, "y_err": y_err})
    return frame, neighbours


def _row_standardised(neighbours: np.ndarray) -> sp.csr_matrix:
    n, k = neighbours.shape
    rows = np.repeat(np.arange(n), k)
    return sp.csr_matrix((np.full(n * k, 1.0 / k), (rows, neighbours.ravel())), shape=(n, n))


def write_data(n: int) -> None:
    frame, neighbours = make_data(n)
    frame.to_csv(DATA / f"ml_se_reference_{n}_data.csv", index=False, float_format="%.10g")
    pd.DataFrame(neighbours + 1, columns=[f"n{j + 1}" for j in range(neighbours.shape[1])]).to_csv(
        DATA / f"ml_se_reference_{n}_neighbours.csv", index=False
    )


def _load(n: int):
    frame = pd.read_csv(DATA / f"ml_se_reference_{n}_data.csv")
    neighbours = pd.read_csv(DATA / f"ml_se_reference_{n}_neighbours.csv").to_numpy() - 1
    graph = Graph.from_sparse(_row_standardised(neighbours), ids=frame.index.to_numpy())
    reference = json.loads((DATA / f"ml_se_reference_{n}.json").read_text())
    return frame, graph, reference


@pytest.fixture(scope="module", params=SIZES)
def case(request):
    return _load(request.param)


def _our_name(r_name: str) -> str:
    """R's coefficient name -> ours: (Intercept) -> Intercept, lag.x1 -> W_x1."""
    if r_name == "(Intercept)":
        return "Intercept"
    return "W_" + r_name[4:] if r_name.startswith("lag.") else r_name


def _check(res, ref, spatial: str, names: list[str]) -> None:
    assert res.nobs == ref["n"]
    assert [_our_name(name) for name in ref["names"]] == names
    got = res.params[names].to_numpy()
    np.testing.assert_allclose(got, ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(res.bse[names].to_numpy(), ref["se"], rtol=RTOL)
    np.testing.assert_allclose(res.params[spatial], ref[spatial], rtol=RTOL)
    np.testing.assert_allclose(res.bse[spatial], ref[f"{spatial}_se"], rtol=RTOL)
    np.testing.assert_allclose(res.loglik, ref["loglik"], rtol=1e-9)
    np.testing.assert_allclose(res.sigma2, ref["sigma2"], rtol=RTOL)


def test_lag_model_matches_spatialreg(case):
    import geocluster as gc

    frame, graph, reference = case
    res = gc.regress("y_lag ~ x1 + x2", frame, model="lag", weights=graph)
    assert "log-determinant exact-lu, information-matrix traces exact)" in res.estimator
    _check(res, reference["lag"], "rho", ["Intercept", "x1", "x2"])


def test_error_model_matches_spatialreg(case):
    import geocluster as gc

    frame, graph, reference = case
    res = gc.regress("y_err ~ x1 + x2", frame, model="error", weights=graph)
    _check(res, reference["error"], "lambda", ["Intercept", "x1", "x2"])


def test_durbin_model_matches_spatialreg(case):
    import geocluster as gc

    frame, graph, reference = case
    res = gc.regress("y_lag ~ x1 + x2", frame, model="durbin", weights=graph)
    _check(res, reference["durbin"], "rho", ["Intercept", "x1", "x2", "W_x1", "W_x2"])


def test_reference_files_are_consistent():
    # the committed neighbours are knn:8 (8 distinct other rows each, 1-based) and the
    # JSON was fitted on these very rows
    for n in SIZES:
        neighbours = pd.read_csv(DATA / f"ml_se_reference_{n}_neighbours.csv").to_numpy()
        assert neighbours.shape == (n, 8)
        assert neighbours.min() == 1 and neighbours.max() <= n
        assert all(len(set(row)) == 8 for row in neighbours.tolist())
        assert not np.any(neighbours == np.arange(1, n + 1)[:, None])  # no self-neighbours
        frame, graph, reference = _load(n)
        assert len(frame) == n and graph.n == n
        for model in ("lag", "error", "durbin"):
            assert reference[model]["n"] == n and reference[model]["ase"]


if __name__ == "__main__":
    for size in map(int, sys.argv[1:] or SIZES):
        write_data(size)
        print(f"wrote tests/data/ml_se_reference_{size}_data.csv and _neighbours.csv")
