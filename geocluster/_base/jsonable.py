"""One conversion of Python, numpy and pandas values to JSON: :func:`to_jsonable`, :func:`dumps`.

Every JSON geocluster writes (a study's ``run.json``, the step records, the payloads of a
map) goes through :func:`to_jsonable`, so a value is written the same way everywhere:

* numpy integers, floats and booleans as Python numbers and booleans;
* NaN, infinities, ``None``, ``pd.NA`` and ``pd.NaT`` as ``null`` (JSON has no NaN);
* arrays, pandas Index and lists/tuples as lists; sets as sorted lists;
* dicts with their keys as strings; a Series as a dict of its index (as strings);
  a DataFrame as a list of records; a dataclass as a dict of its fields;
* dates and timestamps in ISO 8601, timedeltas as their ISO 8601 duration;
* paths, CRSs and anything else as ``str(value)``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import math
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["dumps", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, float, bool, None).

    Examples
    --------
    >>> from pathlib import Path
    >>> to_jsonable({"n": np.int64(3), "x": np.float32(0.5), "bad": float("nan"),
    ...              "path": Path("out/run.json"), 1: {"b", "a"}})
    {'n': 3, 'x': 0.5, 'bad': None, 'path': 'out/run.json', '1': ['a', 'b']}
    >>> to_jsonable(pd.Timestamp("2026-01-02 03:04"))
    '2026-01-02T03:04:00'
    """
    scalar = _scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    if isinstance(value, dict):
        return {_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [to_jsonable(row) for row in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | pd.Index | pd.api.extensions.ExtensionArray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed types: a stable order by text
            return sorted(items, key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


_NOT_SCALAR = object()


def _scalar(value: Any) -> Any:
    """The JSON form of a scalar, or ``_NOT_SCALAR`` for containers."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.datetime64 | np.timedelta64):  # timedelta64 is an np.integer
        if np.isnat(value):
            return None
        return _scalar(pd.Timestamp(value) if isinstance(value, np.datetime64)
                       else pd.Timedelta(value))
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, complex | np.complexfloating):
        return str(value)
    return _NOT_SCALAR


def _key(key: Any) -> str:
    """A dict key as JSON allows it: a string (``np.int64(3)`` -> ``"3"``)."""
    if isinstance(key, str):
        return key
    converted = to_jsonable(key)
    return converted if isinstance(converted, str) else json.dumps(converted)


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`to_jsonable` of ``obj``; never writes NaN or Infinity.

    Keyword arguments go to :func:`json.dumps` (``indent=2``, ``sort_keys=True``, ...).

    Examples
    --------
    >>> dumps({"p_value": np.float64("nan"), "seed": np.int64(7)})
    '{"p_value": null, "seed": 7}'
    """
    kwargs.setdefault("allow_nan", False)
    return json.dumps(to_jsonable(obj), **kwargs)
