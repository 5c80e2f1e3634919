"""Location quotients ``LQ_ir = (E_ir / E_r) / (E_iN / E_N)``: :func:`location_quotient`.

From a long table (e.g. County Business Patterns, or one row per firm) or from firm
points located in unit polygons (``units=``, in memory or a dask frame), with a
minimum-size rule and a specialisation flag; :func:`lq_table` turns the result into a
wide units x industries table.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base.engine import is_dask_frame
from geocluster._base.validate import check_weight_column
from geocluster.areal.aggregate import dask_tally, locate_firms, warn_outside
from geocluster.errors import GeoclusterWarning, InputError

__all__ = ["location_quotient", "lq_table", "LQ_COLUMNS"]

#: The columns :func:`location_quotient` adds after the unit and industry columns.
LQ_COLUMNS = ("value", "unit_total", "industry_total", "grand_total", "unit_share",
              "national_share", "lq", "specialised")


def location_quotient(
    data: pd.DataFrame,
    *,
    unit: str | None = None,
    by: str | None = None,
    weight: str | None = None,
    units: gpd.GeoDataFrame | None = None,
    total: object | None = None,
    industries: Sequence | None = None,
    min_total: float = 30,
    min_count: float = 0,
    threshold: float = 1.25,
    complete: bool = False,
) -> pd.DataFrame:
    """Location quotients ``LQ_ir = (E_ir / E_r) / (E_iN / E_N)`` for units x industries.

    ``E_ir`` is industry i's size (firm count or employment) in unit r, ``E_r`` the
    unit's size, ``E_iN`` the industry's size over all units and ``E_N`` the size of
    all units together.

    Parameters
    ----------
    data
        A long table with one row per (unit, industry) or per firm (name its columns
        with ``unit`` and ``by``); or, with ``units=``, a GeoDataFrame of firm points
        that are located in the unit polygons (as :func:`geocluster.aggregate` does).
        With ``units=`` the firms may be a ``dask_geopandas.GeoDataFrame`` (tallied by
        partition as in :func:`geocluster.aggregate`).
    unit
        Column of the long table naming the unit (not with ``units=``: there the unit
        is the polygons' index).
    by
        Column naming the industry (of the long table, or of the firms).
    weight
        Column with the size (count or employment). ``None``: each row counts as one
        (a table of firms). Rows repeating a (unit, industry) pair are summed.
    units
        Unit polygons (a GeoDataFrame with a CRS and a unique index). Each firm of
        ``data`` counts in the first polygon that contains it (boundary included);
        firms outside every unit are left out with a warning. Every unit is in the
        result (``complete`` is implied), also those without firms.
    total
        The industry code of rows holding each unit's all-industry total (e.g.
        ``"00"`` in County Business Patterns). Then ``E_r`` is that row's value and
        ``E_N`` their sum, so the denominator covers the whole economy, not just the
        industries kept, and suppressed or overlapping (2- and 4-digit) industry rows
        do not distort it. Units without a total row get a NaN LQ. Default ``None``:
        ``E_r`` is the sum of the unit's industries, ``E_N`` the sum of everything.
        Long tables only.
    industries
        Keep only these industries in the result (``E_r`` and ``E_N`` are computed
        before this selection).
    min_total
        Minimum-size rule: units with ``E_r < min_total`` get a NaN LQ, because a
        handful of firms gives extreme LQs (with 5 firms, one software firm makes a
        share of 20%). Default 30, a rule of thumb for firm counts (one firm then
        moves a unit's share by at most about 3 percentage points); for employment
        a larger value (e.g. 1000) is sensible. Use 0 to switch the rule off.
    min_count
        A unit is only flagged as specialised in an industry if ``E_ir >= min_count``
        (default 0: no extra rule).
    threshold
        A unit is *specialised* in an industry if ``LQ > threshold`` (default 1.25:
        25% above the national share, a common cut-off in the cluster literature;
        Delgado, Porter & Stern use LQ > 1 together with size rules) and it passes
        the size rules.
    complete
        For long tables: add absent (unit, industry) pairs as zeros. Leave ``False``
        when absent means suppressed (as in County Business Patterns); set ``True``
        for a table of firms, where absent means none. With ``units=`` the result is
        always complete.

    Returns
    -------
    DataFrame
        One row per (unit, industry), sorted by both, with the unit and industry
        columns (named as in the long table; with ``units=``: ``unit`` and ``by``),
        ``value`` (``E_ir``), ``unit_total`` (``E_r``), ``industry_total``
        (``E_iN``), ``grand_total`` (``E_N``), ``unit_share`` (``E_ir / E_r``),
        ``national_share`` (``E_iN / E_N``), ``lq`` and ``specialised``. ``attrs``
        records the rules (information only).

    Examples
    --------
    >>> import geocluster as gc
    >>> cbp = gc.datasets.load_cbp()
    >>> lq = gc.location_quotient(
    ...     cbp, unit="cbsa_code", by="naics_code", weight="emp",
    ...     total="00", industries=["3344", "5112"], min_total=1000,
    ... )
    >>> sj = lq[lq["cbsa_code"] == "41940"].set_index("naics_code")
    >>> sj["lq"].round(1).to_dict(), sj["specialised"].tolist()
    ({'3344': 7.4, '5112': 9.2}, [True, True])

    From firm points and unit polygons:

    >>> import geopandas as gpd
    >>> cells = gc.grid((0, 0, 2000, 1000), "1km", crs="EPSG:32610")
    >>> firms = gpd.GeoDataFrame(
    ...     {"industry": ["a", "a", "b", "b"]},
    ...     geometry=gpd.points_from_xy([100, 200, 1500, 1800], [500, 500, 500, 200]),
    ...     crs="EPSG:32610",
    ... )
    >>> out = gc.location_quotient(firms, units=cells, by="industry", min_total=0)
    >>> out[["unit", "industry", "lq"]].values.tolist()
    [[0, 'a', 2.0], [0, 'b', 0.0], [1, 'a', 0.0], [1, 'b', 2.0]]
    """
    for name, x in (("min_total", min_total), ("min_count", min_count), ("threshold", threshold)):
        if (
            isinstance(x, bool)
            or not isinstance(x, (int, float, np.integer, np.floating))
            or not np.isfinite(x)
        ):
            raise InputError(f"location_quotient: {name}={x!r} must be a finite number.")
        if x < 0:
            raise InputError(f"location_quotient: {name}={x!r} must be >= 0.")
    if is_dask_frame(data) and units is None:
        raise InputError(
            "location_quotient: a dask frame of firms needs units= polygons to count them in "
            "(a long table is small: .compute() it first)."
        )
    if not isinstance(data, pd.DataFrame) and not is_dask_frame(data):
        raise InputError(f"location_quotient: data must be a DataFrame, got {type(data).__name__}.")
    unit_totals = None
    if units is not None:
        long, unit_totals = _long_from_units(data, units, unit, by, weight, total)
        unit, complete = "unit", True
    else:
        long = _long_from_table(data, unit, by, weight)
    return _compute_lq(
        long,
        unit,
        by,
        "value",
        total=total,
        industries=industries,
        min_total=float(min_total),
        min_count=float(min_count),
        threshold=float(threshold),
        complete=complete,
        unit_totals=unit_totals,
    )


def _long_from_table(data, unit, by, weight) -> pd.DataFrame:
    if unit is None or by is None:
        raise InputError(
            "location_quotient: name the unit= and by= columns of the long table "
            "(or pass firm points with units= polygons and by=)."
        )
    missing = [c for c in (unit, by, weight) if c is not None and c not in data.columns]
    if missing:
        raise InputError(
            f"location_quotient: data have no column(s) {missing}; columns are "
            f"{list(data.columns)[:20]}."
        )
    if len(data) == 0:
        raise InputError("location_quotient: data are empty.")
    for col in (unit, by):
        if data[col].isna().any():
            raise InputError(
                f"location_quotient: column {col!r} has {int(data[col].isna().sum())} missing "
                "values; drop or fill them."
            )
    long = pd.DataFrame({unit: data[unit].to_numpy(), by: data[by].to_numpy()})
    if weight is None:
        long["value"] = 1.0
        return long
    long["value"] = check_weight_column(data, weight, where="location_quotient", what="data")
    return long


def _long_from_units(firms, units, unit, by, weight, total) -> tuple[pd.DataFrame, pd.Series]:
    """Firms located in the unit polygons -> a long table and every unit's total."""
    if unit is not None:
        raise InputError(
            f"location_quotient: unit={unit!r} names a column of a long table; with units= "
            "the unit is the polygons' index (set_index() a column of units to label them)."
        )
    if total is not None:
        raise InputError(
            "location_quotient: total= is for long tables; with units= each unit's total "
            "is the sum over the firms located in it."
        )
    if by is None:
        raise InputError(
            "location_quotient: with units= name the firms' industry column with by=."
        )
    if is_dask_frame(firms):  # one row per (unit, industry) and partition-summed sizes
        tally = dask_tally(firms, units, by=by, weight=weight, crs=None,
                           where="location_quotient")
        counts = tally["n"].to_numpy(dtype=np.int64)
        positions = tally["position"].to_numpy(dtype=np.int64)
        values = counts.astype(float) if weight is None else tally["w"].to_numpy(dtype=float)
        industry = tally["category"].to_numpy()
    else:  # one row per firm
        positions = locate_firms(firms, units, by=by, weight=weight, where="location_quotient")
        counts = np.ones(len(firms), dtype=np.int64)
        values = (np.ones(len(firms)) if weight is None
                  else firms[weight].to_numpy(dtype=float))
        industry = firms[by].to_numpy()
    inside = positions >= 0
    n_firms = int(counts.sum())
    if not inside.any():
        raise InputError(
            f"location_quotient: none of the {n_firms:,} firms falls inside the units, so "
            "there is nothing to compute LQs of; check that the units cover the firms (and "
            "their CRS)."
        )
    warn_outside(int(counts[~inside].sum()), n_firms, "location_quotient")
    sizes = values[inside]
    long = pd.DataFrame(
        {"unit": units.index.to_numpy()[positions[inside]],
         by: industry[inside], "value": sizes}
    )
    totals = np.bincount(positions[inside], weights=sizes, minlength=len(units))
    unit_totals = pd.Series(totals, index=pd.Index(units.index.to_numpy(), name="unit"))
    return long, unit_totals


def _compute_lq(
    long, unit, industry, value_col, *, total, industries, min_total, min_count, threshold,
    complete, unit_totals=None,
):
    cell = long.groupby([unit, industry], sort=True, observed=True)[value_col].sum()
    n_no_total = 0
    if total is not None:
        codes = cell.index.get_level_values(industry)
        is_total = codes == total
        if not is_total.any():
            raise InputError(
                f"location_quotient: total={total!r} is not a value of column {industry!r}; "
                "name the code of the all-industry rows (e.g. '00' in County Business "
                "Patterns) or use total=None."
            )
        unit_totals = cell[is_total].droplevel(industry)
        cell = cell[~is_total]
    elif unit_totals is None:
        unit_totals = cell.groupby(level=unit, sort=True).sum()
    if len(cell) == 0:
        raise InputError("location_quotient: no industry rows are left besides the totals.")
    if complete:
        all_units = unit_totals.index.union(cell.index.get_level_values(unit).unique())
        full = pd.MultiIndex.from_product(
            [all_units, cell.index.get_level_values(industry).unique().sort_values()],
            names=[unit, industry],
        )
        cell = cell.reindex(full, fill_value=0.0)
    grand = float(unit_totals.sum())
    if not grand > 0:
        what = "firms" if value_col == "value" and total is None else "size"
        raise InputError(
            f"location_quotient: the units' totals sum to {grand:g}, so there are no {what} "
            "to share out and every LQ would be 0/0. Check that weight= names the count or "
            "employment column and that the table (or the firms aggregated) is not empty."
        )
    industry_totals = cell.groupby(level=industry, sort=True).sum()
    out = cell.rename("value").reset_index()
    out["unit_total"] = out[unit].map(unit_totals).astype(float)
    n_no_total = int(out["unit_total"].isna().sum())
    out["industry_total"] = out[industry].map(industry_totals).astype(float)
    out["grand_total"] = grand
    if industries is not None:
        wanted = list(industries)
        unknown = [i for i in wanted if i not in set(industry_totals.index)]
        if unknown:
            raise InputError(
                f"location_quotient: industries {unknown[:5]} are not in column {industry!r}."
            )
        out = out[out[industry].isin(wanted)].reset_index(drop=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["unit_share"] = out["value"] / out["unit_total"]
        out["national_share"] = out["industry_total"] / grand
        lq = out["unit_share"] / out["national_share"]
    small = ~(out["unit_total"] >= min_total) | (out["unit_total"] <= 0)
    out["lq"] = lq.where(~small)
    out["specialised"] = (
        ((out["lq"] > threshold) & (out["value"] >= min_count)).fillna(False).astype(bool)
    )
    over = int((out["value"] > out["unit_total"]).sum())
    _warn_min_total(out, unit, small, min_total)
    if n_no_total:
        warnings.warn(
            f"location_quotient: {n_no_total} (unit, industry) rows belong to units without a "
            f"total={total!r} row; their LQ is NaN.",
            GeoclusterWarning,
            stacklevel=3,
        )
    if over:
        warnings.warn(
            f"location_quotient: in {over} (unit, industry) rows the industry is larger than "
            "the unit's total; check the total= rows and that industries do not overlap.",
            GeoclusterWarning,
            stacklevel=3,
        )
    out.attrs = {
        "threshold": threshold,
        "min_total": min_total,
        "min_count": min_count,
        "total": total,
        "unit": unit,
        "by": industry,
        "n_small_units": int(out.loc[small, unit].nunique()),
    }
    return out


def _warn_min_total(out: pd.DataFrame, unit, small: pd.Series, min_total: float) -> None:
    """Say how many units the minimum-size rule blanked; suggest a value when it is most.

    Empty units (total 0) have no LQ whatever the rule, so they are not counted as
    blanked by it; the message gives their number separately.
    """
    totals = out.drop_duplicates(unit).set_index(unit)["unit_total"]
    known = totals.dropna()
    nonempty = known[known > 0]
    blanked = nonempty[~(nonempty >= min_total)]
    if len(blanked) == 0:
        return
    n_empty = len(known) - len(nonempty)
    share = len(blanked) / len(nonempty)
    message = (
        f"location_quotient: the minimum-size rule (min_total={min_total:g}) blanked the LQ "
        f"of {len(blanked):,} of {len(nonempty):,} non-empty units ({share:.0%}): their total "
        f"is below {min_total:g}, so their lq is NaN and they are never 'specialised'"
        + (f" ({n_empty:,} more units are empty and have no LQ anyway)" if n_empty else "")
        + "."
    )
    if share > 0.5:
        suggest = float(np.floor(nonempty.quantile(0.25)))
        message += (
            f" That is more than half of the non-empty units, so the rule is too strict for "
            f"these data (median non-empty total {float(nonempty.median()):g}): try "
            f"min_total={suggest:g} (keeps about three quarters of them), min_total=0 to "
            "switch the rule off, or larger units."
        )
    warnings.warn(message, GeoclusterWarning, stacklevel=4)


def lq_table(
    result: pd.DataFrame,
    column: str = "lq",
    *,
    unit: str | None = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Pivot a :func:`location_quotient` result into a units x industries table.

    Parameters
    ----------
    result
        The output of :func:`location_quotient`.
    column
        Which column to spread: ``"lq"`` (default), ``"specialised"``, ``"value"``...
    unit, by
        The result's unit and industry columns; default its first two columns (where
        :func:`location_quotient` puts them).

    Returns
    -------
    DataFrame
        Indexed by unit, one column per industry; absent pairs are NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> from geocluster.areal import location_quotient, lq_table
    >>> t = pd.DataFrame({"r": ["A", "A", "B", "B"], "i": ["x", "y", "x", "y"],
    ...                   "n": [30, 10, 10, 30]})
    >>> lq_table(location_quotient(t, unit="r", by="i", weight="n", min_total=0))
    i    x    y
    r
    A  1.5  0.5
    B  0.5  1.5
    """
    if not isinstance(result, pd.DataFrame) or not set(LQ_COLUMNS) <= set(result.columns) or (
        len(result.columns) < len(LQ_COLUMNS) + 2
    ):
        raise InputError("lq_table: give the output of location_quotient().")
    unit = result.columns[0] if unit is None else unit
    by = result.columns[1] if by is None else by
    for name, col in (("unit", unit), ("by", by)):
        if col not in result.columns:
            raise InputError(f"lq_table: {name}={col!r} is not a column of the result.")
    if column not in result.columns:
        raise InputError(
            f"lq_table: column {column!r} is not in the result; choose from {list(result.columns)}."
        )
    return result.pivot(index=unit, columns=by, values=column)
