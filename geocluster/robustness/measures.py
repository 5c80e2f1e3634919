"""What the specs describe, built: areal units and the sweep's clustering measures.

:func:`build_units` turns a units spec (:func:`geocluster.robustness.specs.parse_units_spec`)
into polygons: the study reads its ``[areal] units`` with it, :func:`geocluster.robustness`
its ``lq@UNITS`` measures. :func:`exposure_alternatives` reads the sweep's ``exposure=`` and
``units=`` into :class:`Alternative` measures and :func:`exposure_values` computes one of
them with :func:`geocluster.exposure`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.areal.grid import grid
from geocluster.datasets.bundled import load_counties
from geocluster.errors import InputError
from geocluster.exposure import exposure as compute_exposure
from geocluster.robustness.specs import (
    EXPOSURE_FORMS,
    UnitsSpec,
    is_exposure_spec,
    parse_exposure_spec,
    parse_units_spec,
    spec_prefix,
)

__all__ = ["Alternative", "build_units", "exposure_alternatives", "exposure_values",
           "default_exposure_options"]

#: The column :func:`exposure_values` has :func:`geocluster.exposure` write.
_TEMP = "__exposure__"


def build_units(
    spec: UnitsSpec | str | gpd.GeoDataFrame,
    firms: gpd.GeoDataFrame,
    *,
    where: str,
    cell_size: str | float | None = None,
) -> gpd.GeoDataFrame:
    """The areal units a spec describes, for ``firms``.

    Parameters
    ----------
    spec
        A :class:`~geocluster.robustness.specs.UnitsSpec`, a spec text (parsed with
        :func:`~geocluster.robustness.specs.parse_units_spec`) or a GeoDataFrame of
        units (returned as it is).
    firms
        The firms a grid covers (clipped to them).
    where
        The calling function or config key, for the messages.
    cell_size
        The cell size of a bare ``"grid"``/``"hex"`` text spec.

    Returns
    -------
    GeoDataFrame
        Bundled contiguous-US counties, grid cells over the firms, or the file's polygons.

    Raises
    ------
    InputError
        A spec not in the accepted forms; a file that does not exist, cannot be read or
        has no CRS.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(200, seed=1)
    >>> cells = build_units("hex:200km", firms, where="robustness")
    >>> len(cells) > 10, cells.crs.is_projected
    (True, True)
    """
    if isinstance(spec, gpd.GeoDataFrame):
        return spec
    if not isinstance(spec, UnitsSpec):
        spec = parse_units_spec(spec, where=where, cell_size=cell_size)
    if spec.kind == "counties":
        return load_counties("conus")
    if spec.kind == "grid":
        if spec.cell_size is None or spec.shape is None:
            raise InputError(f"{spec_prefix(where)}units {spec!r} is a grid without a cell "
                             "size or shape; build it with parse_units_spec('hex:50km', ...).")
        return grid(firms, spec.cell_size, shape=spec.shape, clip=True)
    return _read_units_file(spec, spec_prefix(where))


def _read_units_file(spec: UnitsSpec, head: str) -> gpd.GeoDataFrame:
    path = spec.path
    if path is None or not path.is_file():
        raise InputError(
            f"{head}units spec {spec.text!r}: not 'counties', 'grid', 'hex' or an existing "
            "polygon file; give one of those words, or the path of a polygon file "
            "(GeoPackage, Shapefile, GeoJSON; relative to the config's folder)."
        )
    try:
        units = gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise InputError(f"{head}could not read the units file '{path}': {exc}") from None
    if units.crs is None:
        raise InputError(
            f"{head}the units file '{path}' has no CRS; set one (e.g. in QGIS) and retry."
        )
    return units


@dataclass(frozen=True, eq=False)
class Alternative:
    """One clustering measure of the sweep.

    Attributes
    ----------
    label : str
        Its name in the table's ``exposure`` column.
    kind : str
        ``"column"`` (a column of the data), ``"exposure"`` (computed by
        :func:`geocluster.exposure` with ``options``) or ``"lq"`` (the location quotient
        of the firm's unit in ``units``).
    column : str or None
        The data column (``kind="column"``).
    options : dict
        :func:`geocluster.exposure` arguments (``"exposure"`` and ``"lq"``).
    units : UnitsSpec, GeoDataFrame or None
        The areal units of an ``"lq"`` measure.
    """

    label: str
    kind: str
    column: str | None = None
    options: dict = field(default_factory=dict)
    units: UnitsSpec | gpd.GeoDataFrame | None = None


def default_exposure_options(data: pd.DataFrame, options: Mapping | None) -> dict:
    """``exposure_options=`` with the defaults: same-industry (``by="industry"`` when the
    data have that column), ``log="log1p"``, ``standardize=True``."""
    opts = dict(options or {})
    if "by" not in opts and "industry" in data.columns:
        opts["by"] = "industry"
    opts.setdefault("log", "log1p")
    opts.setdefault("standardize", True)
    return opts


def exposure_alternatives(
    data: gpd.GeoDataFrame,
    exposure: Sequence | Mapping | str | None,
    units: Sequence | Mapping | str | None,
    variable: str,
    options: Mapping | None,
    *,
    where: str = "robustness",
) -> dict[str, Alternative]:
    """The sweep's clustering measures, by label (see :func:`geocluster.robustness`).

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(100, seed=1)
    >>> alts = exposure_alternatives(firms, ["cluster", "kde:25km"], ["hex:50km"], "cluster",
    ...                              None)
    >>> {label: alt.kind for label, alt in alts.items()}
    {'cluster': 'column', 'kde:25km': 'exposure', 'lq@hex:50km': 'lq'}
    """
    head = spec_prefix(where)
    opts = default_exposure_options(data, options)
    if exposure is None and units is None:
        if variable not in data.columns:
            raise InputError(
                f"{head}the clustering column {variable!r} is not in the data; give "
                "exposure= alternatives or name the column with variable=."
            )
        return {variable: Alternative(variable, "column", column=variable)}
    out: dict[str, Alternative] = {}
    if isinstance(exposure, Mapping):
        for label, kwargs in exposure.items():
            if "name" in kwargs:
                raise InputError(f"{head}exposure[{label!r}] sets name=; leave it out (the "
                                 f"sweep puts each measure in the column {variable!r}).")
            out[str(label)] = Alternative(str(label), "exposure", options=dict(kwargs))
    elif exposure is not None:
        for item in [exposure] if isinstance(exposure, str) else exposure:
            out[str(item)] = _alternative(data, item, opts, head, where)
    if units is not None:
        pairs = units.items() if isinstance(units, Mapping) else [
            (u, u) for u in ([units] if isinstance(units, str) else units)]
        for label, spec in pairs:
            if not isinstance(spec, gpd.GeoDataFrame):
                spec = parse_units_spec(spec, where=where)
            out[f"lq@{label}"] = Alternative(f"lq@{label}", "lq", options=_lq_options(opts),
                                             units=spec)
    return out


def _alternative(data, item, opts: dict, head: str, where: str) -> Alternative:
    """One item of ``exposure=``: a spec (``kde:``, ``count:``, ``lq@``) or a column."""
    text = str(item)
    written_as_spec = is_exposure_spec(item)
    if not written_as_spec and item in data.columns:
        return Alternative(text, "column", column=item)
    if not written_as_spec:
        close = difflib.get_close_matches(text, [str(c) for c in data.columns], n=3)
        raise InputError(
            f"{head}exposure item {item!r} is neither a column of the data"
            + (f" (did you mean {close}?)" if close else "")
            + f" nor a spec; give a column name or a spec: {EXPOSURE_FORMS}."
        )
    spec = parse_exposure_spec(text, where=where)
    if spec.method == "lq":
        return Alternative(text, "lq", options=_lq_options(opts), units=spec.units)
    return Alternative(text, "exposure", options={**spec.exposure_options(), **opts})


def _lq_options(opts: dict) -> dict:
    """An LQ measure: the grouping column of the sweep, no log, standardised as the others."""
    return {"by": opts.get("by"), "log": False, "standardize": opts.get("standardize", True)}


def exposure_values(data: gpd.GeoDataFrame, alternative: Alternative, *,
                    where: str = "robustness") -> np.ndarray:
    """The measure of ``alternative`` for every row of ``data`` (NaN where undefined).

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(100, seed=1)
    >>> values = exposure_values(firms, Alternative("cluster", "column", column="cluster"))
    >>> values.shape, values.dtype
    ((100,), dtype('float64'))
    """
    if alternative.kind == "column":
        return pd.to_numeric(data[alternative.column], errors="coerce").to_numpy(dtype=float)
    options: dict[str, Any] = dict(alternative.options)
    if alternative.kind == "lq":
        options.update(method="lq", units=build_units(alternative.units, data, where=where))
    result = compute_exposure(data, name=_TEMP, **options)
    return result[_TEMP].to_numpy(dtype=float)
