"""Step 1, reading firms: the firm table and the columns the study uses.

Which columns a study uses is decided once, here, and kept in :class:`Columns`:

* ``industry``, ``employees``, ``patents``, ``age``: the column named in ``[firms]``;
  when the key is not set, the demo's column name (``industry``, ``employees``,
  ``patents_5y``, ``age``) if the data have it, else none. A column named in the
  config that the data lack is a :class:`~geocluster.errors.ConfigError`.
* ``name``: ``[firms] name``, else the first name-like column (``NAME_COLUMNS``,
  case-insensitive); it labels the map's popups.

Without an industry column the location quotients and the focus-industry steps are
skipped with a note and the density clusters and the exposure use all firms.

**On dask** (``[engine] kind = "dask"``, ``partitions`` given): a folder or glob of
(Geo)Parquet files or a CSV is read by ``read_firms(path, engine="dask")`` (validated
partition by partition), any other file in memory and then split; synthetic firms are made
in memory (their data-generating process is global) and split. Split frames are cut into
``partitions`` runs of consecutive firms in Hilbert order, so every partition is compact in
space (small halos). The result is a :class:`PartitionedFirms`: the dask GeoDataFrame,
persisted on the cluster, for the point-heavy steps, and the same firms in memory, in the
order they were read, for the steps that work firm by firm (density-cluster membership,
the model, the map). With ``kind = "local"`` a folder or glob of Parquet files is read the
same way (dask's local scheduler) and then held in memory whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base.engine import DASK_EXTRA, require_dask
from geocluster._base.optional import import_optional
from geocluster.datasets.synthetic import simulate_firms
from geocluster.errors import ConfigError, GeoclusterError
from geocluster.io import read_firms
from geocluster.models.matching import classify_innovators
from geocluster.pipeline.config import DEMO_COLUMNS, NAME_COLUMNS, StudyConfig
from geocluster.pipeline.steps.common import StepContext, column_list, config_key, note
from geocluster.pipeline.steps.data import Columns, FirmsData

__all__ = ["load_firms", "named_focus", "SENTINELS", "PartitionedFirms", "to_partitioned",
           "DASK_SUFFIXES"]

#: Numbers that registers commonly use for "missing" in numeric columns.
SENTINELS = (-999, -9999, -99999, -999999)
#: Files that ``read_firms(engine="dask")`` reads partition by partition (and folders, globs).
DASK_SUFFIXES = (".parquet", ".geoparquet", ".parq", ".csv")


@dataclass(frozen=True)
class PartitionedFirms(FirmsData):
    """:class:`FirmsData` with the firms also as a dask GeoDataFrame (``[engine] kind = "dask"``).

    ``partitioned`` holds the firms as read or made (without the derived innovator types),
    persisted on the cluster; ``firms`` the same rows in memory, with every derived column.
    """

    partitioned: Any = None


def to_partitioned(frame: gpd.GeoDataFrame, partitions: int) -> Any:
    """``frame`` as a dask GeoDataFrame of ``partitions`` spatially compact partitions.

    The rows are cut in Hilbert order of their points (index and columns unchanged), so a
    partition is a compact patch of space; at most one partition per row.

    Examples
    --------
    >>> from geocluster.datasets.synthetic import simulate_firms
    >>> firms = simulate_firms(200, seed=1).firms
    >>> parts = to_partitioned(firms, 4)
    >>> parts.npartitions, sorted(parts.compute().index) == sorted(firms.index)
    (4, True)
    """
    require_dask("[engine] kind = 'dask'")
    dask_geopandas = import_optional("dask_geopandas", DASK_EXTRA, "[engine] kind = 'dask'")
    if len(frame):
        order = np.argsort(frame.geometry.hilbert_distance().to_numpy(), kind="stable")
        frame = frame.iloc[order]
    count = max(1, min(int(partitions), len(frame)))
    return dask_geopandas.from_geopandas(frame, npartitions=count, sort=False)


def load_firms(context: StepContext, partitions: int | None = None, *,
               seed: np.random.Generator) -> FirmsData:
    """Read (or make) the firms, choose their columns, derive innovator types.

    With ``partitions`` (the dask engine's) the firms also come as a dask GeoDataFrame: a
    :class:`PartitionedFirms` (see the module docstring).
    """
    config = context.config
    truth = None
    partitioned = None
    if config.firms.synthetic is not None:
        synthetic = simulate_firms(config.firms.synthetic, seed=config.study.seed)
        firms, truth = synthetic.firms, synthetic.truth
        if partitions is not None:
            partitioned = to_partitioned(firms, partitions).persist()
    elif partitions is not None:
        partitioned, firms = _read_partitioned(config, partitions)
    elif config.firms.path is not None and _is_dataset(str(config.firms.path)):
        # a Parquet folder or glob with the local engine: read by partitions, then whole
        firms = _read(config, engine="dask").compute()
    else:
        firms = _read(config)
    firms.attrs = {}  # nothing downstream reads them; the written files carry none
    columns = _columns(config, firms)
    _note_sentinels(firms)
    if "innovator_type" not in firms.columns and columns.patents and columns.employees:
        with config_key("firms", "patents", columns.patents):
            firms = classify_innovators(firms, patents=columns.patents,
                                        employees=columns.employees, missing="keep")
    if "serial" not in firms.columns and "innovator_type" in firms.columns:
        firms = firms.assign(serial=(firms["innovator_type"].astype(str) == "serial").astype(int))
    if config.firms.focus_industry is not None:  # a named focus fails in seconds
        named_focus(config, firms, columns.industry)
    summary = _summary(firms, columns)
    if partitioned is None:
        return FirmsData(firms=firms, columns=columns, truth=truth, summary=summary)
    summary["partitions"] = int(partitioned.npartitions)
    return PartitionedFirms(firms=firms, columns=columns, truth=truth, summary=summary,
                            partitioned=partitioned)


def _is_dataset(path: str) -> bool:
    """A folder or a glob: files only ``read_firms(engine="dask")`` reads."""
    return any(c in path for c in "*?[") or Path(path).is_dir()


def _is_partitioned_input(path: str) -> bool:
    """A folder, a glob, or a file that ``read_firms(engine="dask")`` reads by partitions."""
    return _is_dataset(path) or path.lower().endswith(DASK_SUFFIXES)


def _read_partitioned(config: StudyConfig, partitions: int) -> tuple[Any, gpd.GeoDataFrame]:
    """The ``[firms] path`` as a persisted dask GeoDataFrame and the same firms in memory."""
    path = str(config.firms.path)
    if _is_partitioned_input(path):
        partitioned = _read(config, engine="dask").persist()
        firms = partitioned.compute()
    else:  # a GeoPackage, Shapefile, ...: read whole, then split
        firms = _read(config)
        partitioned = to_partitioned(firms, partitions).persist()
    return partitioned, firms


def _read(config: StudyConfig, **extra: Any) -> Any:
    """``read_firms`` with the ``[firms]`` keys; an error about a key's value names the key."""
    cfg = config.firms
    kwargs: dict[str, Any] = dict(lon=cfg.lon, lat=cfg.lat, id=cfg.id, crs=cfg.crs,
                                  on_invalid=cfg.on_invalid, **extra)
    for key in ("layer", "encoding", "na_values"):
        value = getattr(cfg, key)
        if value is not None:
            kwargs[key] = list(value) if isinstance(value, tuple) else value
    try:
        return read_firms(cfg.path, **kwargs)
    except GeoclusterError as exc:
        message = str(exc)
        for key in ("encoding", "layer", "na_values", "lon", "lat", "id", "crs"):
            value = getattr(cfg, key)
            if value is not None and (f"{key}=" in message or f"{key} " in message):
                with config_key("firms", key, _listed(value)):
                    raise
        raise


def _listed(value):
    return list(value) if isinstance(value, tuple) else value


def _columns(config: StudyConfig, firms: pd.DataFrame) -> Columns:
    found = {key: _resolve_column(config, firms, key) for key in DEMO_COLUMNS}
    columns = Columns(**found, name=_name_column(config, firms))
    if columns.industry is None:
        note("no industry column ([firms] industry not set and the data have no 'industry' "
             "column): location quotients, focus industries and the K-density are skipped; "
             f"density clusters and exposure use all {len(firms):,} firms.")
    else:
        missing = firms[columns.industry].isna()
        if missing.any():
            note(f"[firms] industry = {columns.industry!r}: {int(missing.sum()):,} of "
                 f"{len(firms):,} firms have no industry; they count as firms but belong to "
                 "no industry.")
    return columns


def _resolve_column(config: StudyConfig, firms: pd.DataFrame, key: str) -> str | None:
    """The column a ``[firms]`` key names, the demo's if unset and present, or None."""
    value = getattr(config.firms, key)
    demo = DEMO_COLUMNS[key]
    if value is None:
        return demo if demo in firms.columns else None
    if value in firms.columns:
        return value
    raise ConfigError(
        f"[firms] {key} = {value!r}: no such column in the firm table; its columns are "
        f"{column_list(firms)}. Name one of them, or remove the key to run without it."
    )


def _name_column(config: StudyConfig, firms: pd.DataFrame) -> str | None:
    value = config.firms.name
    if value is not None:
        if value not in firms.columns:
            raise ConfigError(
                f"[firms] name = {value!r}: no such column in the firm table; its columns are "
                f"{column_list(firms)}. Name the column with the firms' names."
            )
        return value
    lower = {str(c).lower(): c for c in firms.columns}
    for candidate in NAME_COLUMNS:
        if candidate in lower:
            return lower[candidate]
    return None


def named_focus(config: StudyConfig, firms: pd.DataFrame, industry: str | None) -> list[str]:
    """The industries ``[firms] focus_industry`` names, checked against the data."""
    given = config.firms.focus_industry
    if given is None:
        return []
    shown = _listed(given)
    if industry is None:
        raise ConfigError(
            f"[firms] focus_industry = {shown!r} needs an industry column, but the firm "
            "table has none; set [firms] industry to the column with the industries or "
            "remove focus_industry."
        )
    present = set(firms[industry].dropna().astype(str))
    chosen = [given] if isinstance(given, str) else [str(v) for v in given]
    bad = [v for v in chosen if str(v) not in present]
    if bad or not chosen:
        raise ConfigError(
            f"[firms] focus_industry = {shown!r}: {bad or 'empty'} not an industry in column "
            f"{industry!r}; its industries are {sorted(present)[:30]}. Name one of them "
            "(or a list of them), or remove the key to take the most localised ones."
        )
    return [str(v) for v in chosen]


def _note_sentinels(firms: pd.DataFrame) -> None:
    """Warn about numeric columns holding sentinel codes such as -99999 (used as numbers)."""
    found = []
    for column in firms.columns:
        series = firms[column]
        if column == getattr(firms, "_geometry_column_name", None) or \
                not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        hits = series.isin(SENTINELS)
        if hits.any():
            codes = sorted({int(v) for v in series[hits].unique()})
            found.append(f"{column} ({int(hits.sum()):,} rows: {', '.join(map(str, codes))})")
    if found:
        note(f"values that registers often use for 'missing' are in {'; '.join(found)}; they "
             "count as numbers (a log of them is undefined). If they mean 'missing', list them "
             "in [firms] na_values (e.g. na_values = [-99999]) or blank those cells in the file "
             "(rows with missing cells are dropped from the model).")


def _summary(firms: pd.DataFrame, columns: Columns) -> dict[str, Any]:
    info: dict[str, Any] = {"firms": int(len(firms)), "columns": columns.as_dict()}
    if columns.industry is not None:
        known = firms[columns.industry].notna()
        info["industries"] = {
            str(k): int(v)
            for k, v in firms[columns.industry].astype(str)[known].value_counts().items()
        }
    if "innovator_type" in firms.columns:
        info["innovator_types"] = {
            str(k): int(v) for k, v in firms["innovator_type"].astype(str).value_counts().items()
        }
    return info
