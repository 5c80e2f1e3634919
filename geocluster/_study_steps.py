"""The steps of :func:`geocluster.study.run_study`, one function each.

Each step reads what earlier steps left in ``state`` (a dict), adds its own results
and figures, and records short facts in ``state["summary"]``. They call only the
public API, so a study is exactly what a user could do by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

import geocluster as gc
from geocluster.errors import ConfigError, InputError

#: NAICS codes counted as technology employment in the demo's metro-area LQ
#: (4-digit codes only, so nothing is counted twice).
TECH_NAICS = ("3254", "3341", "3342", "3344", "3345", "3346", "5112", "5182", "5415", "5417")


def _summary(state: dict) -> dict:
    return state.setdefault("summary", {})


def _seed_int(seed: np.random.Generator) -> int:
    return int(seed.integers(0, 2**31 - 1))


def _save_figure(state: dict, fig, name: str) -> None:
    path = state["figures"] / f"{name}.png"
    fig.savefig(path, dpi=110)
    state.setdefault("figure_files", []).append(f"figures/{name}.png")


# --- firms -------------------------------------------------------------------------------


def load_firms(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["firms"]
    study_seed = state["config"]["study"]["seed"]
    if cfg["synthetic"] is not None:
        firms = gc.datasets.make_firms(cfg["synthetic"], seed=study_seed)
        state["truth"] = firms.attrs.get("truth")
    else:
        firms = gc.read_firms(
            cfg["path"], lon=cfg["lon"], lat=cfg["lat"], id=cfg["id"], crs=cfg["crs"],
            on_invalid=cfg["on_invalid"],
        )
    firms.attrs = {}
    industry = cfg["industry"]
    if industry not in firms.columns:
        raise ConfigError(
            f"[firms] industry = {industry!r}: no such column in the firm table; columns are "
            f"{list(firms.columns)}."
        )
    if "innovator_type" not in firms.columns and {cfg["patents"], cfg["employees"]} <= set(firms.columns):
        firms = gc.classify_innovators(firms, patents=cfg["patents"], employees=cfg["employees"])
    if "serial" not in firms.columns and "innovator_type" in firms.columns:
        firms = firms.assign(serial=(firms["innovator_type"].astype(str) == "serial").astype(int))
    state["firms"] = firms
    info = _summary(state)
    info["firms"] = int(len(firms))
    info["industries"] = {str(k): int(v) for k, v in firms[industry].value_counts().items()}
    if "innovator_type" in firms.columns:
        info["innovator_types"] = {
            str(k): int(v) for k, v in firms["innovator_type"].astype(str).value_counts().items()
        }


# --- areal clusters -------------------------------------------------------------------------


def _us_patent_units(years: list[int]) -> gpd.GeoDataFrame:
    counties = gc.datasets.load_counties("conus")
    patents = gc.datasets.load_patents(years=tuple(years))
    per_county = patents.groupby("fips")["patents"].sum()
    units = counties.assign(
        patents=per_county.reindex(counties.index).fillna(0).astype(int).to_numpy()
    )
    units["log_patents"] = np.log1p(units["patents"])
    cbp = gc.datasets.load_cbp()
    tech = cbp[cbp["naics_code"].isin(TECH_NAICS)].assign(naics_code="tech")
    table = pd.concat([cbp[cbp["naics_code"] == "00"], tech], ignore_index=True)
    lq = gc.location_quotient(
        table, unit="cbsa_code", industry="naics_code", value="emp", total="00",
        industries=["tech"], min_total=1000,
    ).set_index("cbsa_code")
    crosswalk = gc.datasets.load_crosswalk().set_index("fips")
    cbsa = crosswalk["cbsa_code"].reindex(units.index)
    units["cbsa_code"] = cbsa.to_numpy()
    units["metro"] = crosswalk["cbsa_title"].reindex(units.index).to_numpy()
    units["tech_emp"] = cbsa.map(lq["value"]).to_numpy()
    units["tech_lq"] = cbsa.map(lq["lq"]).to_numpy()
    return units


def _firm_units(state: dict) -> tuple[gpd.GeoDataFrame, str]:
    cfg = state["config"]
    firms = state["firms"]
    units = _read_units(cfg["areal"]["units"], firms, cfg["areal"]["cell_size"])
    industry = cfg["firms"]["industry"]
    units = gc.aggregate(firms, units)
    units["log_firms"] = np.log1p(units["n_firms"])
    focus = state.get("focus_industry") or _focus_industry(state)
    by_industry = gc.aggregate(firms, units[[units.geometry.name]], by=industry)
    table = gc.location_quotient(by_industry, min_total=cfg["areal"]["min_firms"])
    focus_lq = table[table["industry"].astype(str) == str(focus)].set_index("unit")["lq"]
    units[f"lq_{focus}"] = focus_lq.reindex(units.index).to_numpy()
    return units, "log_firms"


def _read_units(spec: str, firms: gpd.GeoDataFrame, cell_size) -> gpd.GeoDataFrame:
    from geocluster.study import read_units

    return read_units(spec, firms, cell_size)


def _focus_industry(state: dict) -> str:
    cfg = state["config"]["firms"]
    if cfg["focus_industry"] is not None:
        values = state["firms"][cfg["industry"]].astype(str)
        if cfg["focus_industry"] not in set(values):
            raise ConfigError(
                f"[firms] focus_industry = {cfg['focus_industry']!r} is not an industry in "
                f"column {cfg['industry']!r}; industries are {sorted(set(values))[:20]}."
            )
        focus = cfg["focus_industry"]
    else:
        focus = str(state["firms"][cfg["industry"]].astype(str).value_counts().idxmax())
    state["focus_industry"] = focus
    return focus


def areal_clusters(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["areal"]
    if cfg["data"] == "us_patents":
        units = _us_patent_units(cfg["years"])
        column, totals, lq_column = "log_patents", ["patents"], "tech_lq"
    else:
        units, column = _firm_units(state)
        totals, lq_column = ["n_firms"], None
    correction = None if cfg["correction"] == "none" else cfg["correction"]
    common = dict(weights=cfg["weights"], permutations=cfg["permutations"], alpha=cfg["alpha"],
                  correction=correction, isolates="drop")
    lisa = gc.local_moran(units, column, seed=_seed_int(seed), **common)
    regions = gc.cluster_regions(lisa, sum_columns=totals, lq_column=lq_column)
    state["units"], state["regions"], state["areal_column"] = lisa, regions, column
    if cfg["getis_ord"]:
        state["hotspots"] = gc.getis_ord(units, column, seed=_seed_int(seed), **common)
    from geocluster.clusters.lisa import plot_lisa_map, plot_moran_scatter

    _save_figure(state, plot_lisa_map(lisa, title=f"LISA clusters of {column}"), "lisa_map")
    _save_figure(state, plot_moran_scatter(lisa), "moran_scatter")
    if "hotspots" in state:
        from geocluster.clusters.hotspots import plot_hotspot_map

        _save_figure(state, plot_hotspot_map(state["hotspots"]), "hotspots_map")
    info = _summary(state)
    counts = lisa["lisa_cluster"].value_counts()
    info["areal"] = {
        "units": int(len(units)),
        "column": column,
        "cutoff": float(lisa.attrs.get("cutoff", cfg["alpha"])),
        "clusters": {str(k): int(v) for k, v in counts.items()},
        "hh_regions": _region_digest(lisa, regions, totals[0]),
    }


def _region_digest(lisa: gpd.GeoDataFrame, regions: gpd.GeoDataFrame, weight: str) -> list[dict]:
    """The largest HH regions with their main places (metros, else unit names) by ``weight``."""
    label = "metro" if "metro" in lisa.columns else ("name" if "name" in lisa.columns else None)
    out = []
    hh = regions[regions["cluster"] == "HH"] if len(regions) else regions
    for region_id, row in hh.head(20).iterrows():
        members = lisa.loc[list(row["units"])]
        if label is not None:
            ranked = members.groupby(label)[weight].sum().sort_values(ascending=False)
            places = ranked.index[:3].astype(str).tolist()
        else:
            places = [str(i) for i in members[weight].sort_values(ascending=False).index[:3]]
        out.append({"region": str(region_id), "units": int(row["n_units"]),
                    "total": float(members[weight].sum()), "places": places})
    return out


# --- density clusters -------------------------------------------------------------------


def density(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["density"]
    firms = state["firms"]
    industry = state["config"]["firms"]["industry"]
    focus = state.get("focus_industry") or _focus_industry(state)
    subset = (industry, focus)
    clusters = gc.density_clusters(
        firms, bandwidth=cfg["bandwidth"], level=cfg["level"], null=cfg["null"],
        simulations=cfg["simulations"], seed=_seed_int(seed), min_firms=cfg["min_firms"],
        subset=subset, cell_size=cfg["cell_size"],
    )
    chosen = firms[firms[industry].astype(str) == str(focus)]
    surface = gc.kde(chosen, bandwidth=cfg["bandwidth"], cell_size=cfg["cell_size"])
    state["density_clusters"], state["surface"] = clusters, surface
    context = state.get("units")  # the areal units as outlines, or US states for the demo
    if state["config"]["areal"]["data"] == "us_patents":
        states = gc.datasets.load_states()
        context = states[~states.index.isin(gc.datasets.CONUS_EXCLUDED_STATES)]
    fig = surface.plot(clusters=clusters if len(clusters) else None, context=context,
                       scale="sqrt", title=f"Kernel density of {focus} firms and density clusters")
    _save_figure(state, fig, "kde_clusters")
    labelled = gc.exposure(firms, method="region", regions=clusters, column="density_cluster") \
        if len(clusters) else firms.assign(density_cluster=0)
    state["firms"] = labelled
    if cfg["k_density"]:
        kd = gc.k_density(firms, subset=subset, bandwidth=cfg["k_density_bandwidth"],
                          max_distance=cfg["k_density_max_distance"],
                          simulations=cfg["simulations"], seed=_seed_int(seed))
        state["k_density"] = kd
        _save_figure(state, kd.plot(), "k_density")
    _summary(state)["density"] = {
        "industry": focus,
        "clusters": int(len(clusters)),
        "threshold_per_km2": float(clusters.attrs.get("threshold", float("nan"))),
        "bandwidth_m": float(clusters.attrs.get("bandwidth_m", float("nan"))),
        "firms_in_clusters": int((labelled["density_cluster"].fillna(0) != 0).sum())
        if "density_cluster" in labelled else 0,
    }
    if "k_density" in state:
        kd = state["k_density"]
        _summary(state)["density"]["k_density"] = {
            "localised": bool(kd.is_localised),
            "localisation_index": _float(kd.localisation_index),
            "dispersion_index": _float(kd.dispersion_index),
        }


# --- exposure -----------------------------------------------------------------------------


def exposure(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["exposure"]
    firms = state["firms"]
    column = cfg["column"]
    industry = state["config"]["firms"]["industry"] if cfg["same_industry"] else None
    if column in firms.columns:
        firms = firms.rename(columns={column: f"{column}_input"})
    kwargs: dict[str, Any] = {"method": cfg["method"], "column": column}
    if cfg["method"] in ("kde", "count"):
        kwargs.update(industry=industry, log="log1p" if cfg["log"] else False,
                      standardize=cfg["standardize"])
        if cfg["method"] == "kde":
            kwargs["bandwidth"] = cfg["bandwidth"]
        else:
            kwargs["radius"] = cfg["radius"]
    elif cfg["method"] == "lq":
        if "units" not in state:
            raise ConfigError("[exposure] method = 'lq' needs [areal] enabled with data = 'firms'.")
        kwargs.update(industry=state["config"]["firms"]["industry"],
                      units=state["units"][[state["units"].geometry.name]])
    else:  # region
        if "density_clusters" not in state:
            raise ConfigError("[exposure] method = 'region' needs [density] enabled.")
        kwargs.update(regions=state["density_clusters"])
    state["firms"] = gc.exposure(firms, **kwargs)
    values = state["firms"][column]
    _summary(state)["exposure"] = {
        "method": cfg["method"], "column": column,
        "mean": float(values.mean()), "sd": float(values.std()),
    }


# --- model ------------------------------------------------------------------------------


def model(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["model"]
    firms = state["firms"]
    results = gc.regress(cfg["formula"], firms, model=cfg["model"], weights=cfg["weights"],
                         method=cfg["method"])
    state["results"] = results
    variable, by = cfg["variable"], cfg["by"]
    record: dict[str, Any] = {
        "formula": cfg["formula"], "model": cfg["model"], "weights": cfg["weights"],
        "method": cfg["method"], "nobs": int(results.nobs),
        "loglik": _float(results.loglik), "aic": _float(results.aic),
        "table": results.to_frame().to_dict(orient="records"),
    }
    try:
        record["diagnostics"] = results.diagnostics.reset_index().to_dict(orient="records")
    except Exception:  # noqa: BLE001 - diagnostics are optional for some models
        record["diagnostics"] = None
    if cfg["model"] in ("lag", "durbin"):
        impacts = results.impacts(simulations=cfg["impacts_simulations"], seed=_seed_int(seed))
        state["impacts"] = impacts
        record["impacts"] = impacts.reset_index().to_dict(orient="records")
    if by in firms.columns and variable in firms.columns:
        effects = results.marginal_effects(variable, by=by)
        turning = results.turning_point(variable, by=by)
        state["effects"], state["turning"] = effects, turning
        record["marginal_effects"] = effects.to_dict(orient="records")
        record["turning_points"] = turning.to_dict(orient="records")
        try:
            utest = results.u_test(variable, by=by)
            state["u_test"] = utest
            record["u_test"] = utest.to_dict(orient="records")
        except gc.GeoclusterError as exc:
            record["u_test"] = f"not computed: {exc}"
        fig = results.plot_effects(variable, by=by)
        _save_figure(state, fig, "effects_by_type")
    if state.get("truth"):
        record["truth"] = state["truth"]
    state["model_record"] = record
    _summary(state)["model"] = {
        "model": cfg["model"], "nobs": int(results.nobs),
        "rho": _float(results.params.get("rho", np.nan)),
        "terms": {k: _float(v) for k, v in results.params.items()},
    }


def _float(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


# --- robustness ----------------------------------------------------------------------------


def robustness(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["robustness"]
    mcfg = state["config"]["model"]
    column = state["config"]["exposure"]["column"]
    industry = state["config"]["firms"]["industry"]
    options = {"industry": industry if state["config"]["exposure"]["same_industry"] else None,
               "log": "log1p", "standardize": True}
    sweep = gc.robustness(
        mcfg["formula"], state["firms"], focus=cfg["focus"], weights=cfg["weights"],
        models=cfg["models"], exposure=[column, *cfg["exposure"]], variable=column,
        exposure_options=options, n_jobs=cfg["n_jobs"], seed=_seed_int(seed),
        progress=not state["quiet"],
    )
    state["robustness"] = sweep
    _save_figure(state, sweep.plot(), "specification_curve")
    for number, term in enumerate(cfg["focus"][1:], start=2):
        _save_figure(state, sweep.plot(term), f"specification_curve_{number}")
    summary = sweep.summary()
    _summary(state)["robustness"] = {
        "specifications": int(sweep.table["spec"].nunique()),
        "failed": int(sweep.table.loc[sweep.table["error"].notna(), "spec"].nunique()),
        "share_significant_same_sign": {
            term: _float(v) for term, v in summary["share_significant_same_sign"].items()
        },
    }
    if state.get("units") is not None and cfg["lisa_weights"]:
        acfg = state["config"]["areal"]
        sens = gc.cluster_sensitivity(
            state["units"][[state["areal_column"], state["units"].geometry.name]],
            state["areal_column"], weights=cfg["lisa_weights"],
            permutations=acfg["permutations"], alpha=acfg["alpha"],
            correction=None if acfg["correction"] == "none" else acfg["correction"],
            seed=_seed_int(seed), isolates="drop",
        )
        state["lisa_sensitivity"] = sens
        _save_figure(state, sens.plot(), "lisa_sensitivity")


# --- outputs ---------------------------------------------------------------------------------


def write_outputs(state: dict, *, seed: np.random.Generator) -> None:
    folder: Path = state["folder"]
    gpkg = folder / "clusters.gpkg"
    layers = {
        "units": state.get("units"),
        "hotspots": state.get("hotspots"),
        "regions": state.get("regions"),
        "density_clusters": state.get("density_clusters"),
    }
    for name, frame in layers.items():
        if frame is None or len(frame) == 0:
            continue
        _clean_for_file(frame).to_file(gpkg, layer=name, driver="GPKG")
    firms = _clean_for_file(state["firms"])
    firms.to_parquet(folder / "firms.parquet")
    if "results" in state:
        (folder / "model.txt").write_text(str(state["results"].summary()))
        (folder / "model.json").write_text(
            json.dumps(state["model_record"], indent=2, default=_json_default)
        )
    if "robustness" in state:
        state["robustness"].to_csv(folder / "robustness.csv")
    if "lisa_sensitivity" in state:
        state["lisa_sensitivity"].table.to_csv(folder / "lisa_sensitivity.csv", index=False)
    if "k_density" in state:
        state["k_density"].to_frame().to_csv(folder / "k_density.csv", index=False)


def _clean_for_file(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = frame.copy()
    out.attrs = {}
    for column in out.columns:
        if column == out.geometry.name:
            continue
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            out[column] = series.astype(str)
        elif series.dtype == object and series.map(lambda v: isinstance(v, (list, tuple))).any():
            out[column] = series.map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    if out.crs is not None and not out.crs.equals("EPSG:4326"):
        out = out.to_crs(4326)
    if out.index.name is None and not isinstance(out.index, pd.RangeIndex):
        out = out.rename_axis("id").reset_index()
    return out


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.ndarray, pd.Index)):
        return value.tolist()
    return str(value)


# --- map and report -----------------------------------------------------------------------


def maps(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["maps"]
    firms = state["firms"]
    if len(firms) > cfg["max_firms"]:
        firms = firms.sample(cfg["max_firms"], random_state=_seed_int(seed))
    clusters = {}
    if state.get("density_clusters") is not None and len(state["density_clusters"]):
        clusters["Density clusters"] = state["density_clusters"]
    regions = state.get("regions")
    if regions is not None and len(regions) and (regions["cluster"] == "HH").any():
        clusters["High-high cluster regions"] = regions[regions["cluster"] == "HH"]
    industry = state["config"]["firms"]["industry"]
    color = "innovator_type" if "innovator_type" in firms.columns else industry
    size = state["config"]["firms"]["employees"]
    tiles = None if cfg["tiles"] in ("none", "") else cfg["tiles"]
    m = gc.map(
        firms=firms, color=color, size=size if size in firms.columns else None,
        tooltip=[c for c in (industry, "innovator_type", size) if c in firms.columns],
        lisa=state.get("units"), hotspots=state.get("hotspots"),
        density=state.get("surface"), clusters=clusters or None, tiles=tiles,
    )
    gc.save_map(m, state["folder"] / "map.html", self_contained=cfg["self_contained"])


def report(state: dict, *, seed: np.random.Generator) -> None:
    from geocluster.report import build_report

    html = build_report(state)
    (state["folder"] / "report.html").write_text(html, encoding="utf-8")


__all__ = ["load_firms", "areal_clusters", "density", "exposure", "model", "robustness",
           "write_outputs", "maps", "report", "TECH_NAICS", "InputError"]
