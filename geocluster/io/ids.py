"""The firm id: one type per id column, unique, becomes the index."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.errors import InputError
from geocluster.io.common import (
    ID_NAMES,
    SHOW,
    Origin,
    column_list,
    warn_user,
)

__all__ = ["set_id"]


def _normalise_ids(ids: pd.Series, column, where: str) -> pd.Series:
    """One type for an id column: text when numbers and text are mixed."""
    if ids.dtype != object:
        return ids
    kind = pd.api.types.infer_dtype(ids, skipna=True)
    if kind not in ("mixed", "mixed-integer"):  # text and numbers (or other objects)
        return ids
    present = ids.dropna()

    def text(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return v
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)

    numbers = int(sum(isinstance(v, (int, float, np.number)) for v in present))
    warn_user(
        f"{where}: id column {column!r} mixes numbers and text ({numbers} of {len(present)} "
        "ids are numbers); all ids are now text (1 -> '1'), so that 1 and '1' are one firm. "
        "Store the ids as text to avoid this."
    )
    return ids.map(text).astype(object)


def set_id(firms: gpd.GeoDataFrame, origin: Origin, id_col: str | None) -> gpd.GeoDataFrame:
    """The firms indexed by ``id_col`` (unique, no missing ids), or checked as they are."""
    where = origin.where
    if id_col is None:
        obvious = next((c for c in firms.columns
                        if str(c).lower() in ID_NAMES and c != firms.geometry.name), None)
        if obvious is not None:
            original = firms[obvious]
            ids = _normalise_ids(original, obvious, where)
            if ids is not original:
                firms = firms.copy()
                firms[obvious] = ids
            dup_mask = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
            if dup_mask.any():
                values = ids[dup_mask].unique()[:SHOW].tolist()
                warn_user(
                    f"{where}: column {obvious!r} looks like a firm id but has "
                    f"{int(ids[ids.notna()].duplicated().sum())} duplicate values (e.g. {values} "
                    f"at {origin.at(dup_mask)}). Fix them, or pass id={obvious!r} to make it the "
                    "index (it must then be unique)."
                )
        if not firms.index.is_unique:
            dup = firms.index[firms.index.duplicated()].unique()[:SHOW].tolist()
            raise InputError(
                f"{where}: the index has duplicate labels (e.g. {dup}) and no id= column was "
                "named. Pass id='<column with a unique firm id>' or reset the index."
            )
        return firms
    if id_col not in firms.columns:
        raise InputError(
            f"{where}: the id column {id_col!r} does not exist; columns are {column_list(firms)}. "
            "Name an existing column with id=, or leave id=None."
        )
    ids = _normalise_ids(firms[id_col], id_col, where)
    missing = ids.isna().to_numpy()
    if pd.api.types.is_string_dtype(ids) or ids.dtype == object:
        missing = missing | (ids.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
    if missing.any():
        raise InputError(
            f"{where}: id column {id_col!r} is missing for {int(missing.sum())} rows "
            f"({origin.at(missing)}); every firm needs an id. Fill them in, or drop those rows."
        )
    dup_mask = ids.duplicated(keep=False).to_numpy()
    if dup_mask.any():
        values = ids[dup_mask].unique()[:SHOW].tolist()
        raise InputError(
            f"{where}: id column {id_col!r} has {int(ids.duplicated().sum())} duplicate ids "
            f"(e.g. {values} at {origin.at(dup_mask)}); ids must be unique. Fix the duplicates "
            "or name another id column."
        )
    out = firms.copy()
    out[id_col] = ids
    out.index = pd.Index(ids.to_numpy(), name=None)
    return out
