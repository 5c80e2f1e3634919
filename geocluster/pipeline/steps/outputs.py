"""Step 7, writing outputs: clusters.gpkg, firms.parquet, model.*, robustness and K-density tables.

Outputs of one seed are the same bytes: GeoPackages get a fixed timestamp
(:func:`fixed_gpkg_date`), JSON goes through :func:`geocluster._base.jsonable.dumps`,
``robustness.csv`` has no timings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geocluster._base.jsonable import dumps
from geocluster.pipeline.steps.common import StepContext
from geocluster.pipeline.steps.data import StudyData

__all__ = ["write_outputs", "write_gpkg", "fixed_gpkg_date", "clean_for_file", "GPKG_DATE"]

#: A fixed GeoPackage timestamp (GDAL's ``OGR_CURRENT_DATE``), so one seed gives one file.
GPKG_DATE = "2000-01-01T00:00:00.000Z"


@contextlib.contextmanager
def fixed_gpkg_date(date: str = GPKG_DATE) -> Iterator[None]:
    """GDAL writes ``date`` as every GeoPackage timestamp inside the block (``OGR_CURRENT_DATE``).

    GeoPackages record their last change in ``gpkg_contents.last_change``; with the wall
    clock, two runs with one seed would differ. The previous value is restored afterwards.
    """
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": date})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def write_gpkg(layers: dict[str, gpd.GeoDataFrame | None], path: str | Path) -> list[str]:
    """Write the non-empty ``layers`` to one GeoPackage, byte-identical for identical frames.

    Returns the names of the layers written.
    """
    written = []
    with fixed_gpkg_date():
        for name, frame in layers.items():
            if frame is None or len(frame) == 0:
                continue
            clean_for_file(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio")
            written.append(name)
    return written


def write_outputs(context: StepContext, data: StudyData, *, seed: np.random.Generator) -> list[str]:
    """Write the tables and layers; returns the GeoPackage layers written."""
    folder = context.folder
    areal, density = data.areal, data.density
    layers = {
        "units": areal.units if areal else None,
        "hotspots": areal.hotspots if areal else None,
        "regions": areal.regions if areal else None,
        "density_clusters": density.clusters if density else None,
    }
    written = write_gpkg(layers, folder / "clusters.gpkg")
    clean_for_file(data.table).to_parquet(folder / "firms.parquet")
    if data.model is not None:
        (folder / "model.txt").write_text(str(data.model.results.summary()))
        (folder / "model.json").write_text(dumps(data.model.record, indent=2))
    robustness = data.robustness
    if robustness is not None and robustness.sweep is not None:
        # no wall-clock columns: the same seed gives the same file (timings live in run.json)
        table = robustness.sweep.table.drop(columns=["seconds"], errors="ignore")
        table.to_csv(folder / "robustness.csv", index=False)
    if robustness is not None and robustness.sensitivity is not None:
        robustness.sensitivity.table.to_csv(folder / "lisa_sensitivity.csv", index=False)
    if density is not None and density.k_density:
        frames = [kd.to_frame().assign(industry=label) for label, kd in density.k_density.items()]
        table = pd.concat(frames, ignore_index=True)
        table = table[["industry", *[c for c in table.columns if c != "industry"]]]
        table.to_csv(folder / "k_density.csv", index=False)
    return written


def clean_for_file(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy fit for GeoPackage/Parquet: texts for categories and lists, EPSG:4326, an id."""
    out = frame.copy()
    out.attrs = {}
    for column in out.columns:
        if column == out.geometry.name:
            continue
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            out[column] = series.astype(str)
        elif series.dtype == object and series.map(lambda v: isinstance(v, list | tuple)).any():
            out[column] = series.map(
                lambda v: ";".join(map(str, v)) if isinstance(v, list | tuple) else v)
    if out.crs is not None and not out.crs.equals("EPSG:4326"):
        out = out.to_crs(4326)
    if out.index.name is None and not isinstance(out.index, pd.RangeIndex):
        name = "id" if "id" not in out.columns else "row_id"
        out = out.rename_axis(name).reset_index()
    return out
