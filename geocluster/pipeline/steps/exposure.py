"""Step 4, exposure: one clustering measure per firm (``[exposure]``)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np

from geocluster.errors import ConfigError
from geocluster.exposure import exposure as firm_exposure
from geocluster.pipeline.steps.common import (
    StepContext,
    arguments,
    config_key,
    finite_or_none,
    note,
)
from geocluster.pipeline.steps.data import ArealData, Columns, DensityData, ExposureData

__all__ = ["exposure"]


def exposure(context: StepContext, firms: gpd.GeoDataFrame, columns: Columns,
             areal: ArealData | None, density: DensityData | None, *,
             seed: np.random.Generator) -> ExposureData:
    """The firms with the ``[exposure] name`` column."""
    cfg = context.config.exposure
    name = cfg.name
    if name in firms.columns:
        firms = firms.rename(columns={name: f"{name}_input"})
        note(f"[exposure] name = {name!r} already exists in the firm table; the input "
             f"column is kept as {name + '_input'!r}.")
    kwargs, key, value = _options(context, columns, areal, density)
    with config_key("exposure", key, value,
                    args=arguments(cfg, "bandwidth", "radius", "log", "standardize", "method")):
        out = firm_exposure(firms, method=cfg.method, name=name, **kwargs)
    values = out[name]
    summary = {
        "method": cfg.method, "name": name,
        "same_industry": bool(cfg.same_industry and columns.industry is not None),
        "mean": finite_or_none(values.mean()), "sd": finite_or_none(values.std()),
    }
    return ExposureData(firms=out, name=name, summary=summary)


def _options(context: StepContext, columns: Columns, areal: ArealData | None,
             density: DensityData | None) -> tuple[dict[str, Any], str, Any]:
    """The options of the chosen method and the key that names a failure of the call."""
    config = context.config
    cfg = config.exposure
    if cfg.method in ("kde", "count"):
        kwargs: dict[str, Any] = dict(by=columns.industry if cfg.same_industry else None,
                                      log="log1p" if cfg.log else False,
                                      standardize=cfg.standardize)
        if cfg.method == "kde":
            return {**kwargs, "bandwidth": cfg.bandwidth}, "bandwidth", cfg.bandwidth
        return {**kwargs, "radius": cfg.radius}, "radius", cfg.radius
    if cfg.method == "lq":
        if columns.industry is None:
            raise ConfigError(
                "[exposure] method = 'lq' needs an industry column ([firms] industry), which "
                "the firm table lacks; use method = \"kde\" or \"count\"."
            )
        if areal is None or config.areal.data != "firms":
            raise ConfigError("[exposure] method = 'lq' needs [areal] enabled with data = "
                              "'firms'; enable it or use method = \"kde\".")
        units = areal.units[[areal.units.geometry.name]]
        return (dict(by=columns.industry, units=units, min_total=config.areal.min_firms),
                "method", cfg.method)
    if density is None:
        raise ConfigError("[exposure] method = 'region' needs [density] enabled; enable it "
                          "or use method = \"kde\".")
    if len(density.clusters) == 0:
        raise ConfigError("[exposure] method = 'region': the density step found no "
                          "clusters, so every firm would get 0; use method = \"kde\".")
    return {"regions": density.clusters}, "method", cfg.method
