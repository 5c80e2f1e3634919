"""Innovator types of firms (the SBA/CHI "small serial innovator" definition).

:func:`classify_innovators` labels firms ``serial``, ``non-serial`` or ``large``; the
frame and column checks here are shared with :mod:`geocluster.models.matching`.
"""

from __future__ import annotations

import difflib
from typing import Literal

import numpy as np
import pandas as pd

from geocluster.errors import InputError

__all__ = ["INNOVATOR_TYPES", "classify_innovators", "check_frame", "check_columns",
           "numeric_column", "is_number"]

#: Categories of :func:`classify_innovators`, in their (ordered) order.
INNOVATOR_TYPES = ("non-serial", "serial", "large")


def check_frame(firms, what: str = "firms") -> None:
    if not isinstance(firms, pd.DataFrame):
        raise InputError(
            f"{what} must be a pandas DataFrame or GeoDataFrame, got {type(firms).__name__}."
        )


def check_columns(firms: pd.DataFrame, columns, option: str) -> None:
    bad = [c for c in columns if not isinstance(c, str | int)]
    if bad:
        raise InputError(f"{option}: {bad[0]!r} is not a column name; give column names (str).")
    missing = [c for c in columns if c not in firms.columns]
    if missing:
        names = [str(c) for c in firms.columns]
        close = difflib.get_close_matches(str(missing[0]), names, n=3)
        raise InputError(
            f"{option}: column(s) {missing} not found in the frame"
            + (f" (did you mean {close}?)" if close else "")
            + f". Name columns that exist; available columns: {list(firms.columns)}."
        )


def numeric_column(firms: pd.DataFrame, column: str, option: str) -> pd.Series:
    s = firms[column]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if not pd.api.types.is_numeric_dtype(s):
        raise InputError(
            f"{option}: column {column!r} must be numeric, got dtype {s.dtype}. "
            "Convert it, or use it in exact= if it is a category."
        )
    return s.astype(float)


def is_number(value) -> bool:
    """A real number (not a bool, string or array)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def classify_innovators(
    firms: pd.DataFrame,
    *,
    patents: str = "patents_5y",
    employees: str = "employees",
    min_patents: float = 15,
    max_employees: float = 500,
    name: str = "innovator_type",
    missing: Literal["raise", "keep"] = "raise",
) -> pd.DataFrame:
    """Classify firms as ``serial``, ``non-serial`` or ``large`` innovators.

    The definition follows the U.S. Small Business Administration studies by CHI
    Research (Hicks & Hegde 2005; Breitzman & Hicks 2008) used by Libaers & Meyer
    (2011): a **small serial innovator** is a firm with at most ``max_employees``
    (500) employees that was granted at least ``min_patents`` (15) U.S. patents in
    the last five years. A small firm with fewer patents is ``non-serial`` (this
    includes small firms with no patent: the function assumes the frame holds a
    sample of innovating firms; filter on patents first if it does not), and a
    firm with more than ``max_employees`` employees is ``large`` whatever its
    patents.

    Parameters
    ----------
    firms
        Firms, one per row (DataFrame or GeoDataFrame). Not modified.
    patents
        Column with the number of patents granted in the last five years.
    employees
        Column with the number of employees.
    min_patents
        Fewest patents that make a small firm a serial innovator (inclusive).
    max_employees
        Most employees of a small firm (inclusive); above it a firm is ``large``.
    name
        Name of the new (output) column.
    missing
        ``"raise"`` (default) raises :class:`~geocluster.errors.InputError` when a
        needed value is missing; ``"keep"`` leaves the type missing (NaN) for those
        firms (a firm with more than ``max_employees`` employees is ``large`` even if
        its patent count is missing).

    Returns
    -------
    DataFrame or GeoDataFrame
        A copy of ``firms`` (same index) with ``name`` as an ordered categorical
        with categories ``non-serial < serial < large``.

    Examples
    --------
    >>> import pandas as pd
    >>> import geocluster as gc
    >>> firms = pd.DataFrame({"patents_5y": [20, 3, 40, 15], "employees": [120, 80, 9000, 500]})
    >>> gc.classify_innovators(firms)["innovator_type"].tolist()
    ['serial', 'non-serial', 'large', 'serial']
    """
    check_frame(firms)
    if missing not in ("raise", "keep"):
        raise InputError(f"missing must be 'raise' or 'keep', got {missing!r}.")
    if not isinstance(name, str) or not name:
        raise InputError(f"name must be a non-empty string, got {name!r}.")
    for option, value in (("min_patents", min_patents), ("max_employees", max_employees)):
        if not is_number(value) or not np.isfinite(value) or value < 0:
            raise InputError(f"{option} must be a non-negative number, got {value!r}.")
    check_columns(firms, [patents], "classify_innovators(patents=)")
    check_columns(firms, [employees], "classify_innovators(employees=)")
    pat = numeric_column(firms, patents, "patents")
    emp = numeric_column(firms, employees, "employees")
    for col, s in ((patents, pat), (employees, emp)):
        if (s < 0).any():
            raise InputError(
                f"column {col!r} has {(s < 0).sum()} negative value(s); counts cannot be negative."
            )
    large = emp > max_employees
    small = emp <= max_employees
    undetermined = emp.isna() | (small & pat.isna())
    if undetermined.any() and missing == "raise":
        raise InputError(
            f"{int(undetermined.sum())} firm(s) have a missing {employees!r} or {patents!r} "
            "value, so their innovator type is unknown. Fill or drop those rows, or pass "
            "missing='keep' to leave their type missing."
        )
    labels = np.full(len(firms), None, dtype=object)
    labels[(small & (pat >= min_patents)).to_numpy()] = "serial"
    labels[(small & (pat < min_patents)).to_numpy()] = "non-serial"
    labels[large.to_numpy()] = "large"
    out = firms.copy()
    out[name] = pd.Categorical(labels, categories=list(INNOVATOR_TYPES), ordered=True)
    return out
