"""``geocluster._base.jsonable``: one JSON conversion for run records, step records and map payloads."""

import dataclasses
import datetime as dt
import enum
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest

from geocluster._base.jsonable import dumps, to_jsonable


def test_numpy_scalars_become_python_numbers():
    out = to_jsonable([np.int8(1), np.uint64(2), np.float32(0.5), np.float64(1.25),
                       np.bool_(True), np.bool_(False)])
    assert out == [1, 2, 0.5, 1.25, True, False]
    assert [type(v) for v in out] == [int, int, float, float, bool, bool]


@pytest.mark.parametrize("missing", [float("nan"), float("inf"), -float("inf"), np.nan,
                                     np.float32("nan"), np.float64("inf"), None, pd.NA, pd.NaT,
                                     np.datetime64("NaT"), np.timedelta64("NaT")])
def test_missing_and_non_finite_become_null(missing):
    assert to_jsonable(missing) is None
    assert dumps({"v": missing}) == '{"v": null}'


def test_arrays_index_series_frames():
    assert to_jsonable(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert to_jsonable(np.array([1.0, np.nan])) == [1.0, None]
    assert to_jsonable(pd.Index(["a", "b"])) == ["a", "b"]
    assert to_jsonable(pd.array([1, None], dtype="Int64")) == [1, None]
    assert to_jsonable(pd.Series([1.5, np.nan], index=[10, 20])) == {"10": 1.5, "20": None}
    frame = pd.DataFrame({"term": ["x", "z"], "p_value": [0.01, np.nan]})
    assert to_jsonable(frame) == [{"term": "x", "p_value": 0.01}, {"term": "z", "p_value": None}]


def test_dates_and_durations_are_iso():
    assert to_jsonable(pd.Timestamp("2026-03-04 05:06:07")) == "2026-03-04T05:06:07"
    assert to_jsonable(pd.Timestamp("2026-03-04", tz="UTC")) == "2026-03-04T00:00:00+00:00"
    assert to_jsonable(dt.date(2026, 3, 4)) == "2026-03-04"
    assert to_jsonable(np.datetime64("2026-03-04T05:06")) == "2026-03-04T05:06:00"
    assert to_jsonable(pd.Timedelta(seconds=90)) == "P0DT0H1M30S"
    assert to_jsonable(dt.timedelta(seconds=90)) == "P0DT0H1M30S"


def test_paths_sets_dataclasses_enums_and_other_objects():
    @dataclasses.dataclass(frozen=True)
    class Spec:
        kind: str
        k: np.int64
        path: Path
        tags: frozenset

    class Color(enum.Enum):
        RED = "red"

    assert to_jsonable(Path("out") / "run.json") == str(Path("out") / "run.json")
    assert to_jsonable({3, 1, 2}) == [1, 2, 3]
    assert to_jsonable({1, "a"}) == sorted([1, "a"], key=repr)  # mixed: stable order
    assert to_jsonable(Spec("knn", np.int64(8), Path("a"), frozenset({"y", "x"}))) == {
        "kind": "knn", "k": 8, "path": "a", "tags": ["x", "y"]}
    assert to_jsonable(Color.RED) == "red"
    assert to_jsonable(pyproj.CRS(5070)) == str(pyproj.CRS(5070))
    assert to_jsonable(1 + 2j) == "(1+2j)"
    assert to_jsonable(Spec) == str(Spec)  # a class is not a dataclass instance


def test_dict_keys_become_strings():
    assert to_jsonable({np.int64(3): 1, 2.5: 2, None: 3, True: 4, ("a", 1): 5}) == {
        "3": 1, "2.5": 2, "null": 3, "true": 4, '["a", 1]': 5}


def test_nested_values_are_converted_all_the_way_down():
    record = {"timings": {"kde": np.float64(0.25)}, "seeds": (np.int64(1), None),
              "stats": [{"p_value": np.float32("nan")}]}
    assert to_jsonable(record) == {"timings": {"kde": 0.25}, "seeds": [1, None],
                                   "stats": [{"p_value": None}]}


def test_dumps_is_strict_json_and_passes_options():
    text = dumps({"b": np.arange(2), "a": float("nan")}, indent=2, sort_keys=True)
    assert json.loads(text) == {"a": None, "b": [0, 1]}
    assert text.startswith('{\n  "a": null')
    assert "NaN" not in dumps([np.nan, np.inf]) and dumps([np.nan, np.inf]) == "[null, null]"


def test_input_is_not_modified():
    value = {"a": [np.float64("nan")], "s": {2, 1}}
    to_jsonable(value)
    assert np.isnan(value["a"][0]) and value["s"] == {1, 2}
