"""The shared checks of ``geocluster._base.validate``: each accepts, and rejects with a pinned message."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geocluster._base.validate import (
    PointData,
    check_alpha,
    check_points,
    check_positive_int,
    check_seed,
    check_weight_column,
    make_rng,
    read_points,
    seed_label,
    spawn_seeds,
    subset_mask,
)
from geocluster.errors import CRSError, InputError

UTM = "EPSG:32610"


def _points(xy, crs=UTM, **columns):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


# ----------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("seed", [None, 0, 7, np.int64(3), np.uint8(1),
                                  np.random.default_rng(1), np.random.SeedSequence(2)])
def test_check_seed_accepts(seed):
    check_seed(seed)
    check_seed(seed, "kde")


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, np.bool_(False), [1, 2]])
def test_check_seed_rejects_with_the_caller_named(seed):
    with pytest.raises(InputError, match=r"^k_density: seed=.* must be None, a non-negative int "
                                         r"or a numpy Generator \(or SeedSequence\)\.$"):
        check_seed(seed, "k_density")


def test_check_seed_where_forms_agree():
    messages = []
    for where in ("robustness", "robustness: ", "robustness:"):
        with pytest.raises(InputError) as err:
            check_seed(-1, where)
        messages.append(str(err.value))
    assert len(set(messages)) == 1 and messages[0].startswith("robustness: seed=-1 ")
    with pytest.raises(InputError, match=r"^seed=-1 must be None"):
        check_seed(-1)


def test_make_rng_reproduces_and_passes_a_generator_through():
    assert make_rng(5).random(3).tolist() == make_rng(5).random(3).tolist()
    assert make_rng(5).random(3).tolist() != make_rng(6).random(3).tolist()
    gen = np.random.default_rng(1)
    assert make_rng(gen) is gen
    seq = np.random.SeedSequence(9)
    assert make_rng(seq).random() == np.random.default_rng(np.random.SeedSequence(9)).random()
    with pytest.raises(InputError, match=r"^regress: seed=-2 must be None"):
        make_rng(-2, "regress")


def _draws(seeds):
    return [float(np.random.default_rng(s).random()) for s in seeds]


def test_spawn_seeds_same_seed_same_children_different_seed_different():
    a, b, c = spawn_seeds(11, 4), spawn_seeds(11, 4), spawn_seeds(12, 4)
    assert all(isinstance(s, np.random.SeedSequence) for s in a)
    assert _draws(a) == _draws(b)
    assert _draws(a) != _draws(c)
    assert len(set(_draws(a))) == 4  # children are independent streams
    assert spawn_seeds(11, 0) == []


def test_spawn_seeds_from_a_seed_sequence_does_not_consume_it():
    seq = np.random.SeedSequence(5)
    first = _draws(spawn_seeds(seq, 3))
    assert _draws(spawn_seeds(seq, 3)) == first
    assert seq.n_children_spawned == 0


def test_spawn_seeds_from_a_generator_follows_its_stream():
    assert _draws(spawn_seeds(np.random.default_rng(3), 2)) == _draws(
        spawn_seeds(np.random.default_rng(3), 2))
    gen = np.random.default_rng(3)
    assert _draws(spawn_seeds(gen, 2)) != _draws(spawn_seeds(gen, 2))


def test_spawn_seeds_none_is_fresh_entropy():
    assert _draws(spawn_seeds(None, 2)) != _draws(spawn_seeds(None, 2))


def test_spawn_seeds_rejects():
    with pytest.raises(InputError, match=r"^robustness: seed='x' must be None"):
        spawn_seeds("x", 2, "robustness")
    with pytest.raises(InputError, match=r"^robustness: n=-1 must be an integer >= 0\.$"):
        spawn_seeds(1, -1, "robustness")


def test_seed_label_is_the_one_record():
    assert seed_label(None) is None
    assert seed_label(7) == 7 and type(seed_label(np.int64(7))) is int
    assert seed_label(np.random.default_rng(1)) == "Generator"
    assert seed_label(np.random.SeedSequence(1)) == "SeedSequence"


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("alpha", [0.05, 0.5, 1e-9, np.float32(0.1), np.float64(0.99)])
def test_check_alpha_accepts(alpha):
    value = check_alpha(alpha, where="regress")
    assert type(value) is float and value == pytest.approx(float(alpha))


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.1, np.nan, "0.05", True, None, [0.05]])
def test_check_alpha_rejects(alpha):
    with pytest.raises(InputError, match=r"^regress: alpha=.* must be a number between 0 and 1, "
                                         r"e\.g\. 0\.05\.$"):
        check_alpha(alpha, where="regress")


def test_check_alpha_name_and_upper():
    assert check_alpha(0.25, where="k_density", upper=0.5) == 0.25
    with pytest.raises(InputError, match=r"^k_density: alpha=0\.7 must be a number between 0 and "
                                         r"0\.5, e\.g\. 0\.05\.$"):
        check_alpha(0.7, where="k_density", upper=0.5)
    with pytest.raises(InputError, match=r"^cluster_sensitivity: alphas=2 must be a number"):
        check_alpha(2, where="cluster_sensitivity", name="alphas")


@pytest.mark.parametrize(("value", "minimum"), [(1, 1), (np.int64(99), 1), (0, 0), (2, 2)])
def test_check_positive_int_accepts(value, minimum):
    out = check_positive_int(value, where="kde", name="simulations", minimum=minimum)
    assert type(out) is int and out == value


@pytest.mark.parametrize("value", [0, -3, 19.5, 2.0, "x", True, None])
def test_check_positive_int_rejects(value):
    with pytest.raises(InputError, match=r"^density_clusters: min_firms=.* must be an integer "
                                         r">= 1\.$"):
        check_positive_int(value, where="density_clusters", name="min_firms")


def test_check_positive_int_minimum_in_message():
    with pytest.raises(InputError, match=r"^k_density: grid_points=1 must be an integer >= 2\.$"):
        check_positive_int(1, where="k_density", name="grid_points", minimum=2)


# ----------------------------------------------------------------------------- subsets


@pytest.fixture
def frame():
    return pd.DataFrame({"hub": [True, False, True, False],
                         "naics": ["3254", "5112", "3254", None],
                         "emp": [5, 50, 2, 8],
                         "code": [1, 2, 3, 4]},
                        index=["a", "b", "c", "d"])


def test_subset_mask_forms_agree(frame):
    assert subset_mask(frame, None, where="kde") is None
    expected = [True, False, True, False]
    for subset in ("hub", ("naics", "3254"), frame["hub"], frame["hub"].to_numpy(),
                   "naics == '3254'", "hub and emp < 10"):
        mask = subset_mask(frame, subset, where="kde")
        assert isinstance(mask, np.ndarray) and mask.dtype == bool
        assert mask.tolist() == expected, subset


def test_subset_mask_missing_values_do_not_match(frame):
    assert subset_mask(frame, ("naics", "5112"), where="kde").tolist() == [False, True, False,
                                                                          False]


def test_subset_mask_rejects_unknown_and_non_boolean_columns(frame):
    with pytest.raises(InputError, match=r"^kde: subset='nope' is not a column of points; give a "
                                         r"boolean column name"):
        subset_mask(frame, "nope", where="kde")
    with pytest.raises(InputError, match=r"^kde: column 'code' must be boolean without missing "
                                         r"values to be used as subset; for a category write "
                                         r"subset=\('code', value\)\.$"):
        subset_mask(frame, "code", where="kde")
    with pytest.raises(InputError, match=r"'naics' must be boolean"):
        subset_mask(frame, "naics", where="kde")


def test_subset_mask_rejects_bad_queries(frame):
    with pytest.raises(InputError, match=r"^kde: subset='emp >' is neither a column of points nor "
                                         r"a query pandas can evaluate"):
        subset_mask(frame, "emp >", where="kde")
    with pytest.raises(InputError, match=r"^kde: the query subset='emp \+ 1' must give "
                                         r"True/False per row"):
        subset_mask(frame, "emp + 1", where="kde")


def test_subset_mask_rejects_bad_pairs(frame):
    with pytest.raises(InputError, match=r"^k_density: subset column 'sector' is not a column of "
                                         r"points"):
        subset_mask(frame, ("sector", "x"), where="k_density")
    with pytest.raises(InputError, match=r"^k_density: subset=\('naics', 'toys'\) selects no "
                                         r"points: no point has naics == 'toys'\.$"):
        subset_mask(frame, ("naics", "toys"), where="k_density")
    with pytest.raises(InputError, match=r"as a tuple must be a \(column, value\) pair"):
        subset_mask(frame, ("naics", "3254", "x"), where="k_density")
    with pytest.raises(InputError, match=r"as a tuple must be a \(column, value\) pair"):
        subset_mask(frame, (1, 2), where="k_density")


def test_subset_mask_rejects_bad_masks(frame):
    with pytest.raises(InputError, match=r"^kde: subset must be a boolean mask of length 4, .*; "
                                         r"got int64 values of shape \(4,\)\.$"):
        subset_mask(frame, np.ones(4, dtype=np.int64), where="kde")
    with pytest.raises(InputError, match=r"boolean mask of length 4.*got bool values of shape "
                                         r"\(3,\)"):
        subset_mask(frame, np.ones(3, dtype=bool), where="kde")
    with pytest.raises(InputError, match=r"got 5\.$"):
        subset_mask(frame, 5, where="kde")
    with pytest.raises(InputError, match=r"^kde: the subset Series' index differs from the "
                                         r"points' index; align it"):
        subset_mask(frame, pd.Series(True, index=range(4)), where="kde")


def test_subset_mask_rejects_an_empty_selection(frame):
    with pytest.raises(InputError, match=r"^kde: subset=array\(\[False, False, False, False\]\) "
                                         r"selects no points\.$"):
        subset_mask(frame, np.zeros(4, dtype=bool), where="kde")
    with pytest.raises(InputError, match=r"^exposure: subset='emp > 100' selects no firms\.$"):
        subset_mask(frame, "emp > 100", where="exposure", what="firms")


# ----------------------------------------------------------------------------- points


def test_check_points_accepts():
    check_points(_points([[0, 0], [1, 1]]), where="kde")


def test_check_points_rejects():
    with pytest.raises(InputError, match=r"^k_density: points must be a GeoDataFrame of points, "
                                         r"got DataFrame"):
        check_points(pd.DataFrame({"a": [1]}), where="k_density")
    with pytest.raises(InputError, match=r"^aggregate: firms is empty"):
        check_points(_points([[0, 0]]).iloc[:0], where="aggregate", what="firms")
    gaps = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0), None, shapely.Point()],
                            index=["p", "q", "r"])
    with pytest.raises(InputError, match=r"^kde: 2 points have missing or empty geometries "
                                         r"\(e\.g\. rows \['q', 'r'\]\); drop them first\.$"):
        check_points(gaps, where="kde")
    with pytest.raises(InputError, match=r"^aggregate: firms must be points, but the geometries "
                                         r"are \['Point', 'Polygon'\]"):
        check_points(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0), shapely.box(0, 0, 1, 1)]),
                     where="aggregate", what="firms")


def test_read_points_metric_frame_is_kept():
    pts = _points([[0, 0], [100, 50]], emp=[1.0, 3.0])
    data = read_points(pts, where="kde", weight="emp")
    assert isinstance(data, PointData) and len(data) == 2
    assert data.crs.equals(pyproj.CRS(UTM))
    assert data.x.tolist() == [0.0, 100.0] and data.y.tolist() == [0.0, 50.0]
    assert data.w.tolist() == [1.0, 3.0] and data.total_weight == 4.0
    assert data.index.equals(pts.index)
    assert "PointData of 2 points" in repr(data)
    with pytest.raises(AttributeError):
        data.x = np.zeros(2)  # frozen


def test_read_points_projects_through_the_one_automatic_crs():
    from geocluster.units import auto_metric_crs

    lon, lat = np.array([-71.06, -71.1, -71.0]), np.array([42.36, 42.4, 42.3])
    data = read_points(_points(np.column_stack([lon, lat]), crs=4326), where="kde")
    assert data.crs.equals(auto_metric_crs(lon, lat)) and data.crs.to_epsg() == 32619
    assert data.w is None and data.total_weight == 3.0


def test_read_points_antimeridian_matches_to_metric():
    from geocluster.units import to_metric

    lon = np.array([179.5, 179.9, -179.8, -179.6])
    lat = np.array([51.5, 51.8, 51.6, 51.9])
    pts = _points(np.column_stack([lon, lat]), crs=4326)
    assert read_points(pts, where="kde").crs.equals(to_metric(pts).crs)


def test_read_points_named_crs_and_series_input():
    pts = _points([[-71.06, 42.36]], crs=4326)
    assert read_points(pts.geometry, where="kde", crs="EPSG:3857").crs.to_epsg() == 3857
    with pytest.raises(CRSError, match=r"crs='EPSG:4326' is not a projected CRS in metres"):
        read_points(pts, where="kde", crs="EPSG:4326")


def test_read_points_array_weights():
    pts = _points([[0, 0], [1, 1]])
    assert read_points(pts, where="kde", weight=np.array([2, 3])).w.tolist() == [2.0, 3.0]
    with pytest.raises(InputError, match=r"^kde: weight has 3 values for 2 points\.$"):
        read_points(pts, where="kde", weight=[1, 2, 3])


def test_read_points_rejects():
    pts = _points([[0, 0], [1, 1]], w=[0.0, 0.0])
    with pytest.raises(InputError, match=r"^kde: points must be a GeoDataFrame of points, got "
                                         r"list"):
        read_points([1, 2], where="kde")
    with pytest.raises(InputError, match=r"^kde: points is empty"):
        read_points(pts.iloc[:0], where="kde")
    assert len(read_points(pts.iloc[:0], where="kde", allow_empty=True)) == 0
    with pytest.raises(CRSError, match=r"^exposure: firms has no CRS, so distances cannot be "
                                       r"measured\. .*set_crs\('EPSG:4326'\)"):
        read_points(pts.set_crs(None, allow_override=True), where="exposure", what="firms")
    with pytest.raises(InputError, match=r"^kde: weight column 'w' sums to zero"):
        read_points(pts, where="kde", weight="w")


def test_read_points_diagnoses_geometries_by_label():
    def frame(geoms):
        return gpd.GeoDataFrame(geometry=geoms, index=["p", "q"], crs=UTM)

    with pytest.raises(InputError, match=r"^kde: points has 1 rows with a missing geometry "
                                         r"\(e\.g\. rows \['q'\]\)"):
        read_points(frame([shapely.Point(0, 0), None]), where="kde")
    with pytest.raises(InputError, match=r"^kde: points has 1 empty points or points with NaN "
                                         r"coordinates \(e\.g\. rows \['q'\]\)"):
        read_points(frame([shapely.Point(0, 0), shapely.Point()]), where="kde")
    with pytest.raises(InputError, match=r"^kde: points must hold Point geometries; 1 rows are "
                                         r"not points \(e\.g\. rows \['p'\]\)"):
        read_points(frame([shapely.box(0, 0, 1, 1), shapely.Point(0, 0)]), where="kde")


def test_read_points_non_finite_after_projection():
    pts = _points([[0, 0], [0, 95]], crs=4326)  # latitude 95 does not project
    with pytest.raises(CRSError, match=r"^kde: 1 points have no finite coordinates in .* \(e\.g\. "
                                       r"rows \[1\]\); check the CRS"):
        read_points(pts, where="kde", crs="EPSG:32631")


# ----------------------------------------------------------------------------- weights


def test_check_weight_column_accepts():
    frame = pd.DataFrame({"emp": pd.array([1, 0, 4], dtype="Int64")})
    out = check_weight_column(frame, "emp", where="kde")
    assert out.dtype == float and out.tolist() == [1.0, 0.0, 4.0]


@pytest.mark.parametrize(("values", "message"), [
    ([1.0, np.nan, 2.0, np.nan], r"has 2 missing \(NaN\) values \(e\.g\. rows \['b', 'd'\]\); "
                                 r"fill or drop those rows first\.$"),
    ([1.0, np.inf, 2.0, 1.0], r"has 1 infinite values \(e\.g\. rows \['b'\]\); weights must be "
                              r"finite\.$"),
    ([-1.0, -2.0, 2.0, 1.0], r"has 2 negative values \(e\.g\. rows \['a', 'b'\]\); weights must "
                             r"be >= 0"),
    (["1", "2", "3", "4"], r"must be numeric, got (object|str)\.$"),
    ([True, False, True, True], r"must be numeric, got bool\.$"),
])
def test_check_weight_column_rejects(values, message):
    frame = pd.DataFrame({"emp": values}, index=["a", "b", "c", "d"])
    with pytest.raises(InputError, match=r"^k_density: weight column 'emp' " + message):
        check_weight_column(frame, "emp", where="k_density")


def test_check_weight_column_unknown_column_lists_columns():
    frame = _points([[0, 0]], emp=[1])
    with pytest.raises(InputError, match=r"^kde: weight='jobs' is not a column of points; "
                                         r"columns are \['emp'\]\.$"):
        check_weight_column(frame, "jobs", where="kde")


def test_check_weight_column_names_many_bad_rows_briefly():
    frame = pd.DataFrame({"emp": [-1.0] * 12})
    with pytest.raises(InputError, match=r"has 12 negative values \(e\.g\. rows \[0, 1, 2, 3, 4\]\)"):
        check_weight_column(frame, "emp", where="kde")
