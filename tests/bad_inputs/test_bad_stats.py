"""Bad-input corpus: cluster statistics, densities, exposure and LQs (engineer E).

Every case writes its data to ``tmp_path`` as a user would have them (areal units as a
GeoPackage, firms as a CSV of longitude/latitude, a table of counts as a CSV), reads
them back, makes one mistake, and asserts the error class, words naming the problem,
words naming the remedy, that the file is unchanged (bytes and modification time) and
that the frame handed to the function is unchanged. None of these calls writes output.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from corpus import raises_clearly, untouched

import geocluster as gc
from geocluster.errors import ConfigError, CRSError, InputError, WeightsError

BIG = 10**9


# ----------------------------------------------------------------------------- files


def units_file(tmp_path: Path, n_side: int = 6, far_island: bool = False, **columns) -> Path:
    """A GeoPackage of ``n_side`` x ``n_side`` 10-km squares (EPSG:5070) with ``columns``."""
    cells = [shapely.box(i * 1e4, j * 1e4, (i + 1) * 1e4, (j + 1) * 1e4)
             for j in range(n_side) for i in range(n_side)]
    if far_island:
        cells.append(shapely.box(1e6, 1e6, 1e6 + 1e4, 1e6 + 1e4))
    n = len(cells)
    rng = np.random.default_rng(0)
    data = {"unit": [f"u{k:02d}" for k in range(n)], "v": rng.normal(size=n),
            "firms": rng.poisson(4.0, n).astype(float)}
    for name, make in columns.items():
        data[name] = make(n)
    path = tmp_path / "units.gpkg"
    gpd.GeoDataFrame(data, geometry=cells, crs="EPSG:5070").to_file(path, layer="units")
    return path


def read_units(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path, layer="units").set_index("unit")


@pytest.fixture(scope="module")
def firm_table() -> pd.DataFrame:
    return gc.datasets.make_firms(400, seed=3).drop(columns=["geometry"])


def firms_file(tmp_path: Path, table: pd.DataFrame) -> Path:
    path = tmp_path / "firms.csv"
    table.to_csv(path, index=False)
    return path


def read_csv_firms(path: Path) -> gpd.GeoDataFrame:
    return gc.read_firms(path, lon="lon", lat="lat", id="firm_id")


def check_case(path: Path, read, call, error, problem: str, remedy: str) -> None:
    """Read ``path``, make the bad call, assert class, problem, remedy, nothing changed."""
    with untouched(path):
        frame = read(path)
        before = frame.copy()
        with raises_clearly(error, problem, remedy):
            call(frame)
        pd.testing.assert_frame_equal(frame, before)


# ----------------------------------------------------------------------------- areal

AREAL = [
    pytest.param({}, lambda f: gc.local_moran(f, "v", permutations=BIG), InputError,
                 r"permutations=1,000,000,000 is too many to fit in memory.*GiB",
                 r"Use permutations=999 or 9999", id="local_moran-permutations-1e9"),
    pytest.param({}, lambda f: gc.getis_ord(f, "firms", permutations=BIG), InputError,
                 r"permutations=1,000,000,000 is too many.*GiB", r"permutations=999",
                 id="getis_ord-permutations-1e9"),
    pytest.param({}, lambda f: gc.global_moran(f, "v", permutations=BIG), InputError,
                 r"permutations=1,000,000,000 is too many.*simulated statistics.*GiB",
                 r"permutations=999", id="global_moran-permutations-1e9"),
    pytest.param({"flat": lambda n: np.full(n, 3.0)},
                 lambda f: gc.local_moran(f, "flat", seed=1), InputError,
                 r"column 'flat' is constant", r"Choose a column that varies",
                 id="local_moran-constant-column"),
    pytest.param({"empty": lambda n: np.full(n, np.nan)},
                 lambda f: gc.local_moran(f, "empty", seed=1), InputError,
                 r"column 'empty' has no values: all 36 are missing",
                 r"fillna\(0\)|choose another column", id="local_moran-all-missing-column"),
    pytest.param({"label": lambda n: np.array(["a", "b"] * (n // 2))},
                 lambda f: gc.getis_ord(f, "label", seed=1), InputError,
                 r"column 'label' has dtype (object|str), but getis_ord needs numbers",
                 r"pd\.to_numeric", id="getis_ord-non-numeric-column"),
    pytest.param({}, lambda f: gc.local_moran(f.iloc[:2], "v", seed=1), InputError,
                 r"needs at least 3 units; the frame has 2", r"Use more \(or smaller\) units",
                 id="local_moran-too-few-units"),
    pytest.param({"balanced": lambda n: np.tile([-1.0, 1.0], n // 2)},
                 lambda f: gc.getis_ord(f, "balanced", seed=1), InputError,
                 r"column 'balanced' sums to zero", r"non-negative variable.*or local_moran",
                 id="getis_ord-column-sums-to-zero"),
    pytest.param({}, lambda f: gc.local_moran(f, "V", seed=1), InputError,
                 r"column 'V' is not in the frame", r"Did you mean 'v'\?",
                 id="local_moran-column-absent"),
    pytest.param({"logged": lambda n: np.where(np.arange(n) == 4, -np.inf, 1.0 + np.arange(n))},
                 lambda f: gc.local_moran(f, "logged", seed=1), InputError,
                 r"column 'logged' has infinite values \(e\.g\. rows \['u04'\]\)",
                 r"replace them \(a log of zero\?\)", id="local_moran-infinite-value"),
    pytest.param({}, lambda f: gc.local_moran(f, "v", alpha=5), InputError,
                 r"local_moran: alpha=5 must be a number between 0 and 1", r"e\.g\. 0\.05",
                 id="local_moran-alpha-out-of-range"),
    pytest.param({}, lambda f: gc.local_moran(f, "v", alternative="above"), InputError,
                 r"alternative='above' must be", r"'two-sided', 'greater' or 'less'",
                 id="local_moran-unknown-alternative"),
]


@pytest.mark.parametrize(("columns", "call", "error", "problem", "remedy"), AREAL)
def test_bad_areal_statistics(tmp_path, columns, call, error, problem, remedy):
    path = units_file(tmp_path, **columns)
    check_case(path, read_units, call, error, problem, remedy)


def test_bad_island_unit(tmp_path):
    path = units_file(tmp_path, far_island=True)
    check_case(path, read_units, lambda f: gc.local_moran(f, "v", seed=1), WeightsError,
               r"1 of 37 units have no neighbours \(ids \['u36'\]\)",
               r"isolates='drop'.*'knn:6'")


def test_bad_lq_table_with_no_firms(tmp_path):
    path = tmp_path / "counts.csv"
    pd.DataFrame({"county": ["A", "A", "B", "B"], "naics": ["3344", "5112"] * 2,
                  "firms": [0, 0, 0, 0]}).to_csv(path, index=False)
    check_case(
        path, lambda p: pd.read_csv(p, dtype={"naics": str}),
        lambda t: gc.location_quotient(t, unit="county", by="naics", weight="firms"),
        InputError, r"totals sum to 0, so there are no .* every LQ would be 0/0",
        r"Check that weight= names the count")


# ----------------------------------------------------------------------------- points

POINTS = [
    pytest.param(lambda f: gc.kde(f, bandwidth="1e9km"), InputError,
                 r"bandwidth='1e9km' is 1e\+09 km, .* times the diagonal of the points' extent",
                 r"Check the unit.*bandwidth='cv'", id="kde-bandwidth-1e9km"),
    pytest.param(lambda f: gc.density_clusters(f, bandwidth=1e15, simulations=19, seed=1),
                 InputError, r"bandwidth=1000000000000000.0 is 1e\+12 km, .* times the diagonal",
                 r"metres unless the string says 'km'", id="density_clusters-bandwidth-absurd"),
    pytest.param(lambda f: gc.exposure(f, method="count", radius="1e9km"), InputError,
                 r"radius='1e9km' is 1e\+09 km.*diagonal", r"Check the unit",
                 id="exposure-radius-1e9km"),
    pytest.param(lambda f: gc.kde(f, bandwidth="2km", cell_size="50km"), InputError,
                 r"cell_size='50km' \(50,000 m\) is larger than the kernel's standard deviation",
                 r"cell_size <= bandwidth / 4 \(e\.g\. cell_size=500",
                 id="kde-cell-larger-than-kernel"),
    pytest.param(lambda f: gc.density_clusters(f, bandwidth="50km", simulations=BIG, seed=1),
                 InputError, r"simulations=1,000,000,000 is too many to fit in memory.*GiB",
                 r"Use simulations=999", id="density_clusters-simulations-1e9"),
    pytest.param(lambda f: gc.k_density(f, subset=("industry", "software"), simulations=BIG),
                 InputError, r"k_density: simulations=1,000,000,000 is too many.*GiB",
                 r"simulations=999", id="k_density-simulations-1e9"),
    pytest.param(lambda f: gc.density_clusters(f, bandwidth="50km", alpha=0.01, simulations=19),
                 ConfigError, r"simulations=19 is too few for alpha=0.01",
                 r"at least 99 simulations", id="density_clusters-too-few-simulations"),
    pytest.param(lambda f: gc.exposure(f, method="count", radius="1m", standardize=True),
                 InputError, r"count exposure 'exposure' is constant \(0\) for all 400 firms",
                 r"smaller radius or bandwidth|standardize=False",
                 id="exposure-standardise-constant"),
    pytest.param(lambda f: gc.k_density(f, subset=np.ones(len(f), dtype=bool)), InputError,
                 r"the subset selects all 400 sites", r"subset= selecting the industry",
                 id="k_density-subset-is-everything"),
]


@pytest.mark.parametrize(("call", "error", "problem", "remedy"), POINTS)
def test_bad_point_statistics(tmp_path, firm_table, call, error, problem, remedy):
    path = firms_file(tmp_path, firm_table)
    check_case(path, read_csv_firms, call, error, problem, remedy)


def test_bad_exposure_with_two_values(tmp_path, firm_table):
    # all firms far apart except one pair: 398 firms have 0 neighbours within 1 m, 2 have 1
    table = firm_table.reset_index(drop=True)
    table.loc[1, ["lon", "lat"]] = table.loc[0, ["lon", "lat"]].to_numpy()
    path = firms_file(tmp_path, table)
    check_case(path, read_csv_firms,
               lambda f: gc.exposure(f, method="count", radius="1m", standardize=True),
               InputError, r"takes only 2 distinct values among 400 firms \(0 for 398, 1 for 2\)",
               r"larger radius or bandwidth.*standardize=False")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_bad_points_without_crs(tmp_path, firm_table):
    path = tmp_path / "firms.gpkg"
    gpd.GeoDataFrame(firm_table[["firm_id"]],
                     geometry=gpd.points_from_xy(firm_table["lon"], firm_table["lat"])
                     ).to_file(path, layer="firms")
    check_case(path, lambda p: gpd.read_file(p, layer="firms"),
               lambda f: gc.kde(f, bandwidth="10km"), CRSError,
               r"points has no CRS", r"set_crs\('EPSG:4326'\)")
