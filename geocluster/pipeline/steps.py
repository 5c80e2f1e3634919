"""The steps of :func:`geocluster.pipeline.study.run_study`, one function each.

Each step reads what earlier steps left in ``state`` (a dict), adds its own results
and figures, and records short facts in ``state["summary"]``. They call only the
public API, so a study is exactly what a user could do by hand.

The steps fit any firm table, not only the demo's. Which columns a study uses is decided
once, in :func:`load_firms`, and kept in ``state["columns"]``:

* ``industry``, ``employees``, ``patents``, ``age``: the column named in ``[firms]``;
  when the key is not set, the demo's column name (``industry``, ``employees``,
  ``patents_5y``, ``age``) if the data have it, else none. A column named in the
  config that the data lack is a :class:`~geocluster.errors.ConfigError`.
* ``name``: ``[firms] name``, else the first name-like column (:data:`NAME_COLUMNS`,
  case-insensitive); it labels the map's popups.

Without an industry column the location quotients and the focus-industry steps are
skipped with a note (a :class:`~geocluster.errors.GeoclusterWarning`) and the density
clusters and the exposure use all firms.

**Focus industries.** ``[firms] focus_industry`` names one industry or a list. When it is
not set, the study takes the :data:`N_FOCUS` most localised industries: for every
industry with at least ``[density] min_firms`` firms, its largest location quotient over
the study's areal units that hold at least ``[areal] min_firms`` firms; the industries
with the highest such maximum LQ are the focus (ties: more firms first, then by name).
When no unit is large enough for an LQ, the largest industry is the focus (with a note).

Without industries the density step tests all firms against complete spatial randomness
(``null = "firms"`` relabels an industry among all sites and needs one); a CSR null places
its firms in the study's areal units (their union), not in the convex hull of the firms.

**Model.** ``[model] formula`` when given; otherwise the demo's formula
(:data:`DEMO_FORMULA`) only if the firm table has every variable it uses, else the model
and the robustness sweep are skipped with a note. ``[model] by`` defaults to ``serial``
when the study derives it (patents and employees present), ``[model] variable`` to the
exposure column when the formula uses it. The innovator and internationalization wording
of the report appears only for those variables.

**Robustness.** The reference specification is the study's own model (its weights, model
type and exposure column); the default alternatives are the model's weights with K/2 and
2K neighbours (D/2 and 2D for distances) and OLS; the focus terms are the model's own
clustering terms. The cluster-map sensitivity compares the areal weights with two others
and uses the areal step's seed, so its reference map is the areal step's map.

**Weights.** ``[weights] coincident`` and ``isolates`` apply to every weights spec the
study builds: the areal units' Graph (also given to local Moran and Gi*), and the firms'
Graph of the model, built once on every firm as the robustness sweep builds it (so the
sweep's reference is the model exactly). With ``coincident = "jitter"`` firms sharing a
location are moved apart by at most 1 cm, drawn from the study seed, for the model and
the sweep (the written firms keep their coordinates).

**Places.** Units from the bundled counties are named "County, ST"; regions list their
largest metros (else counties), density clusters the county at their representative
point.

**Errors** from a library call fed by a config value are re-raised as the same class with
the key first (``[areal] weights = 'knn:6': ...``). **Outputs** of one seed are the same
bytes: GeoPackages get a fixed timestamp (:func:`fixed_gpkg_date`), figures no date,
``robustness.csv`` no timings.
"""

from __future__ import annotations

import contextlib
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

import geocluster as gc
from geocluster.errors import ConfigError, GeoclusterError, GeoclusterWarning, InputError
from geocluster.pipeline.config import DEMO_COLUMNS, DEMO_FORMULA, NAME_COLUMNS
from geocluster.viz.report import model_title

#: NAICS codes counted as technology employment in the demo's metro-area LQ
#: (4-digit codes only, so nothing is counted twice).
TECH_NAICS = ("3254", "3341", "3342", "3344", "3345", "3346", "5112", "5182", "5415", "5417")

#: How many of the most localised industries are the default focus.
N_FOCUS = 3

#: Two-letter postal codes of the states by FIPS code (for place names "Montgomery, MD").
STATE_ABBREVIATIONS = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT",
    "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL",
    "18": "IN", "19": "IA", "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD",
    "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE",
    "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND",
    "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV",
    "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}

#: A fixed GeoPackage timestamp (GDAL's ``OGR_CURRENT_DATE``), so one seed gives one file.
GPKG_DATE = "2000-01-01T00:00:00.000Z"


def _summary(state: dict) -> dict:
    return state.setdefault("summary", {})


def _seed_int(seed: np.random.Generator) -> int:
    return int(seed.integers(0, 2**31 - 1))


def _save_figure(state: dict, fig, name: str) -> None:
    import matplotlib.pyplot as plt

    path = state["figures"] / f"{name}.png"
    # no timestamp or software metadata: the same seed gives the same bytes
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    state.setdefault("figure_files", []).append(f"figures/{name}.png")


def _note(message: str) -> None:
    """A note for the report's "Warnings and notes" (the runner collects warnings)."""
    warnings.warn(message, GeoclusterWarning, stacklevel=3)


def _get(state: dict, section: str, key: str, default=None):
    """A config value; ``default`` for a key an older schema does not have yet."""
    return state["config"].get(section, {}).get(key, default)


def _qualified(section: str, name: str) -> str:
    return name if name.startswith("[") else f"[{section}] {name}"


def _in_study_words(text: str, section: str, args: dict | None) -> str:
    """``text`` with the library's ``arg=value`` written as the study's ``[section] key = value``."""
    for arg, (name, _) in (args or {}).items():
        text = re.sub(rf"(?<![\w.\[]){re.escape(arg)}=(?=\S)", f"{_qualified(section, name)} = ",
                      text)
    return text


@contextlib.contextmanager
def _config_key(section: str, key: str, value, *, args: dict | None = None) -> Iterator[None]:
    """Re-raise a GeoclusterError from a library call with the config key that fed it.

    ``args`` maps the call's argument names to their ``(config key, value)`` (a key given
    as ``"[section] key"`` belongs to another section). When the message names one of them
    (``simulations=9 ...``), the earliest named is the key at fault, else ``key``; a remedy
    ``pass arg=...`` becomes ``set [section] key = ...``. Warnings raised inside the block are
    passed on with every ``arg=value`` in the study's words.
    """
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    except GeoclusterError as exc:
        message = str(exc)
        if message.startswith("["):  # already names a config key
            raise
        found = []
        for arg, (name, given) in (args or {}).items():
            hit = re.search(rf"(?<![\w.]){re.escape(arg)}=", message)
            if hit:
                found.append((hit.start(), name, given))
        label = _qualified(section, key)
        if found:
            _, name, value = min(found)
            label = _qualified(section, name)
        for arg, (name, _) in (args or {}).items():  # remedies in the study's words
            message = re.sub(rf"\b(pass|use|set) {re.escape(arg)}=",
                             f"set {_qualified(section, name)} = ", message)
        prefix = f"{label} = {value!r}: "
        if "coincident" in message and "[weights] coincident" not in message:
            message += (" In a study, set [weights] coincident = \"jitter\" to separate firms "
                        "that share a location.")
        if re.search(r"isolates='(warn|keep|drop)'", message) and "[weights] isolates" not in message:
            message += (" In a study, set [weights] isolates = \"keep\" (or \"drop\") to "
                        "proceed with units that have no neighbours.")
        try:
            new = type(exc)(prefix + message)
        except TypeError:  # a subclass with another constructor
            new = GeoclusterError(prefix + message)
        raise new from exc
    finally:
        for w in caught:
            warnings.warn(_in_study_words(str(w.message), section, args), w.category,
                          stacklevel=3)


def _args(cfg: dict, *names: str, **renamed: str) -> dict:
    """``{argument: (config key, value)}`` for keys passed under their own or another name."""
    out = {n: (n, cfg.get(n)) for n in names}
    out.update({arg: (key, cfg.get(key)) for arg, key in renamed.items()})
    return out


def _weights_policy(state: dict) -> tuple[str, str]:
    coincident = _get(state, "weights", "coincident", "raise") or "raise"
    isolates = _get(state, "weights", "isolates", "keep") or "keep"
    if coincident not in ("raise", "jitter"):
        raise ConfigError(f"[weights] coincident = {coincident!r}: use \"raise\" or \"jitter\".")
    if isolates not in ("keep", "drop", "raise"):
        raise ConfigError(f"[weights] isolates = {isolates!r}: use \"keep\", \"drop\" or \"raise\".")
    return coincident, isolates


def _graph(state: dict, frame: gpd.GeoDataFrame, spec: str, section: str, key: str, *,
           report: bool = True):
    """``gc.weights`` with the study's ``[weights]`` policies (jitter uses the study seed).

    ``report=False``: no warning about isolates and components (the caller, e.g.
    ``gc.regress``, reports the isolates it keeps or drops itself).
    """
    coincident, isolates = _weights_policy(state)
    policy = "raise" if isolates == "raise" else ("warn" if report else "ignore")
    with warnings.catch_warnings(record=True) as caught, _config_key(section, key, spec):
        warnings.simplefilter("always")
        graph = gc.weights(frame, spec, coincident=coincident, isolates=policy,
                           seed=state["config"]["study"]["seed"])
    for w in caught:  # the library's remedies, in the study's words
        text = str(w.message).replace(
            "(isolates='ignore' silences this)",
            "([weights] isolates = \"drop\" leaves them out; statistics that cannot use them "
            "say so)")
        warnings.warn(text, w.category, stacklevel=2)
    return graph


def _jittered(state: dict, firms: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of ``firms`` whose coincident points are moved apart (``[weights] coincident``).

    With ``coincident = "jitter"`` every firm that shares its location with an earlier one
    moves by at most 1e-7 degrees (about 1 cm; 1 cm in a projected CRS), drawn from the study
    seed, so the model and the robustness sweep build their weights on the same points.
    With ``"raise"`` the firms are returned as they are (weights then refuse shared sites).
    """
    coincident, _ = _weights_policy(state)
    if coincident != "jitter":
        return firms
    x, y = firms.geometry.x.to_numpy(), firms.geometry.y.to_numpy()
    dup = pd.DataFrame({"x": x, "y": y}).duplicated().to_numpy()
    if not dup.any():
        return firms
    rng = np.random.default_rng(state["config"]["study"]["seed"])
    step = 1e-7 if (firms.crs is None or firms.crs.is_geographic) else 0.01
    dx = np.where(dup, rng.uniform(-step, step, len(x)), 0.0)
    dy = np.where(dup, rng.uniform(-step, step, len(x)), 0.0)
    out = firms.copy()
    out = out.set_geometry(gpd.points_from_xy(x + dx, y + dy, crs=firms.crs))
    _note(f"[weights] coincident = \"jitter\": {int(dup.sum()):,} of {len(firms):,} firms share "
          "a location with another firm and were moved by at most 1 cm for the firm-level "
          "weights (model and robustness).")
    return out


def _isolates_for_stats(state: dict) -> str:
    return _weights_policy(state)[1]


# --- firms -------------------------------------------------------------------------------


def _read(cfg: dict) -> gpd.GeoDataFrame:
    """``gc.read_firms`` with the ``[firms]`` keys; an error about a key's value names the key."""
    kwargs: dict[str, Any] = dict(lon=cfg["lon"], lat=cfg["lat"], id=cfg["id"], crs=cfg["crs"],
                                  on_invalid=cfg["on_invalid"])
    for key in ("layer", "encoding", "na_values"):
        if cfg.get(key) is not None:
            kwargs[key] = cfg[key]
    try:
        return gc.read_firms(cfg["path"], **kwargs)
    except GeoclusterError as exc:
        message = str(exc)
        for key in ("encoding", "layer", "na_values", "lon", "lat", "id", "crs"):
            value = cfg.get(key)
            if value is not None and (f"{key}=" in message or f"{key} " in message):
                with _config_key("firms", key, value):
                    raise
        raise


def _resolve_column(state: dict, firms: pd.DataFrame, key: str) -> str | None:
    """The column a ``[firms]`` key names, the demo's if unset and present, or None."""
    value = state["config"]["firms"].get(key)
    demo = DEMO_COLUMNS[key]
    if value is None:
        return demo if demo in firms.columns else None
    if value in firms.columns:
        return value
    raise ConfigError(
        f"[firms] {key} = {value!r}: no such column in the firm table; its columns are "
        f"{_column_list(firms)}. Name one of them, or remove the key to run without it."
    )


def _column_list(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns if c != getattr(frame, "_geometry_column_name", None)]
    shown = ", ".join(names[:40])
    return shown + (f", ... ({len(names)} columns)" if len(names) > 40 else "")


def _name_column(state: dict, firms: pd.DataFrame) -> str | None:
    value = state["config"]["firms"].get("name")
    if value is not None:
        if value not in firms.columns:
            raise ConfigError(
                f"[firms] name = {value!r}: no such column in the firm table; its columns are "
                f"{_column_list(firms)}. Name the column with the firms' names."
            )
        return value
    lower = {str(c).lower(): c for c in firms.columns}
    for candidate in NAME_COLUMNS:
        if candidate in lower:
            return lower[candidate]
    return None


def load_firms(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["firms"]
    study_seed = state["config"]["study"]["seed"]
    if cfg["synthetic"] is not None:
        firms = gc.datasets.make_firms(cfg["synthetic"], seed=study_seed)
        state["truth"] = firms.attrs.get("truth")
    else:
        firms = _read(cfg)
    firms.attrs = {}
    columns = {key: _resolve_column(state, firms, key) for key in DEMO_COLUMNS}
    columns["name"] = _name_column(state, firms)
    if columns["industry"] is None:
        _note("no industry column ([firms] industry not set and the data have no 'industry' "
              "column): location quotients, focus industries and the K-density are skipped; "
              f"density clusters and exposure use all {len(firms):,} firms.")
    if columns["industry"] is not None:
        missing = firms[columns["industry"]].isna()
        if missing.any():
            _note(f"[firms] industry = {columns['industry']!r}: {int(missing.sum()):,} of "
                  f"{len(firms):,} firms have no industry; they count as firms but belong to "
                  "no industry.")
    state["columns"] = columns
    _note_sentinels(firms)
    patents, employees = columns["patents"], columns["employees"]
    if "innovator_type" not in firms.columns and patents is not None and employees is not None:
        with _config_key("firms", "patents", patents):
            firms = gc.classify_innovators(firms, patents=patents, employees=employees,
                                           missing="keep")
    if "serial" not in firms.columns and "innovator_type" in firms.columns:
        firms = firms.assign(serial=(firms["innovator_type"].astype(str) == "serial").astype(int))
    state["firms"] = firms
    _check_against_data(state)
    info = _summary(state)
    info["firms"] = int(len(firms))
    info["columns"] = {k: v for k, v in columns.items()}
    if columns["industry"] is not None:
        info["industries"] = {
            str(k): int(v) for k, v in firms[columns["industry"]].astype(str)[
                firms[columns["industry"]].notna()].value_counts().items()
        }
    if "innovator_type" in firms.columns:
        info["innovator_types"] = {
            str(k): int(v) for k, v in firms["innovator_type"].astype(str).value_counts().items()
        }


#: Numbers that registers commonly use for "missing" in numeric columns.
SENTINELS = (-999, -9999, -99999, -999999)


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
        _note(f"values that registers often use for 'missing' are in {'; '.join(found)}; they "
              "count as numbers (a log of them is undefined). If they mean 'missing', list them "
              "in [firms] na_values (e.g. na_values = [-99999]) or blank those cells in the file "
              "(rows with missing cells are dropped from the model).")


def _check_against_data(state: dict) -> None:
    """Config values that name data, checked as soon as the firms are read (fail in seconds).

    Only the focus industries: ``[model] formula`` and ``by`` are checked by the model step
    (their errors are reported as that step's).
    """
    if state["config"]["firms"]["focus_industry"] is not None:
        _focus_industries(state)


def _absent_formula_columns(formula: str, lacking: list[str], state: dict):
    raise ConfigError(
        f"[model] formula = {formula!r} uses {', '.join(map(repr, lacking))}, not "
        f"column(s) of the firm table; its columns are {_column_list(state['firms'])}. Use "
        f"those names (the exposure column is {state['config']['exposure']['column']!r})."
    )


def _absent_by(by: str, firms: pd.DataFrame):
    raise ConfigError(
        f"[model] by = {by!r}: no such column in the firm table; its columns are "
        f"{_column_list(firms)}. Name a group column or remove the key."
    )


# --- areal clusters -------------------------------------------------------------------------


def _with_places(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``place``: "County, ST" for counties, else a name column or the unit id."""
    units = units.copy()
    if "name" in units.columns and "state_fips" in units.columns:
        abbr = units["state_fips"].astype(str).str.zfill(2).map(STATE_ABBREVIATIONS)
        fallback = units["state"].astype(str) if "state" in units.columns else ""
        units["place"] = units["name"].astype(str) + ", " + abbr.fillna(fallback)
    elif "name" in units.columns:
        units["place"] = units["name"].astype(str)
    else:
        units["place"] = units.index.astype(str)
    return units


def _us_patent_units(years: list[int]) -> gpd.GeoDataFrame:
    counties = _with_places(gc.datasets.load_counties("conus"))
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


def _read_units(spec: str, firms: gpd.GeoDataFrame, cell_size) -> gpd.GeoDataFrame:
    from geocluster.pipeline.study import read_units

    with _config_key("areal", "units", spec, args={"cell_size": ("cell_size", cell_size)}):
        return read_units(spec, firms, cell_size)


def _base_units(state: dict) -> gpd.GeoDataFrame:
    """The study's areal units with firm counts (cached in ``state["firm_units"]``)."""
    if "firm_units" not in state:
        acfg = state["config"]["areal"]
        units = _with_places(_read_units(acfg["units"], state["firms"], acfg["cell_size"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with _config_key("areal", "units", acfg["units"]):
                counted = gc.aggregate(state["firms"], units)
        outside = int(counted.attrs.get("n_outside", 0))
        for w in caught:  # re-emit all but aggregate's own note, which is rephrased below
            if "fall outside every unit" not in str(w.message):
                warnings.warn(w.message, w.category, stacklevel=2)
        if outside:
            used = ("areal statistics and location quotients" if acfg["data"] == "firms"
                    else "location quotients that choose the focus industries")
            _note(f"{outside:,} of {len(state['firms']):,} firms lie outside the study's units "
                  f"([areal] units = {acfg['units']!r}) and are not counted in the {used}; "
                  "choose units that cover them (e.g. a polygon file) if they matter.")
        counted["log_firms"] = np.log1p(counted["n_firms"])
        counted.attrs = {}
        state["firm_units"], state["firms_outside"] = counted, outside
    return state["firm_units"]


def _lq_table(state: dict) -> pd.DataFrame | None:
    """Location quotients of every industry over the study's units (None without industry)."""
    industry = state["columns"]["industry"]
    if industry is None:
        return None
    if "lq_table" not in state:
        units = _base_units(state)
        firms = state["firms"][state["firms"][industry].notna()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GeoclusterWarning)  # outside firms: noted once
            by_industry = gc.aggregate(firms, units[[units.geometry.name]], by=industry)
        min_firms = state["config"]["areal"]["min_firms"]
        with _config_key("areal", "min_firms", min_firms,
                         args={"min_total": ("min_firms", min_firms)}):
            state["lq_table"] = gc.location_quotient(
                by_industry, min_total=state["config"]["areal"]["min_firms"])
    return state["lq_table"]


def _focus_industries(state: dict) -> list[str]:
    """The focus industries (see the module docstring for the rule); [] without industry."""
    if "focus_industries" in state:
        return state["focus_industries"]
    industry = state["columns"]["industry"]
    given = state["config"]["firms"]["focus_industry"]
    if industry is None:
        if given is not None:
            raise ConfigError(
                f"[firms] focus_industry = {given!r} needs an industry column, but the firm "
                "table has none; set [firms] industry to the column with the industries or "
                "remove focus_industry."
            )
        state["focus_industries"] = []
        return []
    values = state["firms"][industry].dropna().astype(str)
    present = set(values)
    if given is not None:
        chosen = [given] if isinstance(given, str) else [str(v) for v in given]
        bad = [v for v in chosen if str(v) not in present]
        if bad or not chosen:
            raise ConfigError(
                f"[firms] focus_industry = {given!r}: {bad or 'empty'} not an industry in column "
                f"{industry!r}; its industries are {sorted(present)[:30]}. Name one of them "
                "(or a list of them), or remove the key to take the most localised ones."
            )
        focus = [str(v) for v in chosen]
    else:
        focus = _most_localised(state, values)
    state["focus_industries"] = focus
    return focus


def _most_localised(state: dict, values: pd.Series) -> list[str]:
    counts = values.value_counts()
    min_density = state["config"]["density"]["min_firms"]
    table = _lq_table(state)
    lq = table.dropna(subset=["lq"]) if table is not None else pd.DataFrame()
    if len(lq):
        best = lq.assign(industry=lq["industry"].astype(str)).groupby("industry")["lq"].max()
        frame = pd.DataFrame({"max_lq": best, "firms": counts.reindex(best.index).fillna(0)})
        frame = frame[frame["firms"] >= min_density]
        if len(frame):
            frame = frame.reset_index().sort_values(["max_lq", "firms", "industry"],
                                                    ascending=[False, False, True])
            chosen = frame["industry"].head(N_FOCUS).astype(str).tolist()
            state["focus_rule"] = (
                f"the {len(chosen)} industries with the highest maximum location quotient over "
                f"the units with at least {state['config']['areal']['min_firms']} firms "
                f"(industries with at least {min_density} firms)")
            _note(f"focus industries (no [firms] focus_industry): {', '.join(chosen)}, "
                  f"{state['focus_rule']}; name others with [firms] focus_industry.")
            return chosen
    largest = str(counts.index[0])
    state["focus_rule"] = "the largest industry (no unit is large enough for a location quotient)"
    _note(f"focus industry (no [firms] focus_industry): {largest!r}, {state['focus_rule']}; "
          "lower [areal] min_firms or name it with [firms] focus_industry.")
    return [largest]


def _firm_units(state: dict) -> tuple[gpd.GeoDataFrame, str]:
    units = _base_units(state).copy()
    table = _lq_table(state)
    if table is not None:  # without industries the load step has said LQs are skipped
        for focus in _focus_industries(state):
            focus_lq = table[table["industry"].astype(str) == focus].set_index("unit")["lq"]
            units[f"lq_{focus}"] = focus_lq.reindex(units.index).to_numpy()
    return units, "log_firms"


def areal_clusters(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["areal"]
    if cfg["data"] == "us_patents":
        units = _us_patent_units(cfg["years"])
        column, totals, lq_column = "log_patents", ["patents"], "tech_lq"
    else:
        units, column = _firm_units(state)
        totals, lq_column = ["n_firms"], None
    correction = None if cfg["correction"] == "none" else cfg["correction"]
    graph = _graph(state, units, cfg["weights"], "areal", "weights")
    missing = _get(state, "areal", "missing", "raise") or "raise"
    common = dict(weights=graph, permutations=cfg["permutations"], alpha=cfg["alpha"],
                  correction=correction, isolates=_isolates_for_stats(state), missing=missing)
    # cluster_sensitivity draws its local_moran seed from its seed this way, so its
    # reference map (the study's own weights) is the areal step's map, unit for unit
    state["areal_seed"] = areal_seed = _seed_int(seed)
    lisa_seed = int(np.random.default_rng(areal_seed).integers(0, 2**31 - 1))
    areal_args = _args(cfg, "permutations", "alpha", "correction", "missing")
    with _config_key("areal", "weights", cfg["weights"], args=areal_args):
        lisa = gc.local_moran(units, column, seed=lisa_seed, **common)
        regions = gc.cluster_regions(lisa, sum_columns=totals, lq_column=lq_column)
    regions = _regions_with_places(lisa, regions, totals[0])
    state["units"], state["regions"], state["areal_column"] = lisa, regions, column
    state["areal_graph"] = graph
    if cfg["getis_ord"]:
        with _config_key("areal", "weights", cfg["weights"], args=areal_args):
            state["hotspots"] = gc.getis_ord(units, column, seed=_seed_int(seed), **common)
    from geocluster.clusters.lisa import plot_lisa_map, plot_moran_scatter

    _save_figure(state, plot_lisa_map(lisa, title=f"LISA clusters of {column}"), "lisa_map")
    _save_figure(state, plot_moran_scatter(lisa), "moran_scatter")
    if "hotspots" in state:
        from geocluster.clusters.hotspots import plot_hotspot_map

        _save_figure(state, plot_hotspot_map(state["hotspots"]), "hotspots_map")
    info = _summary(state)
    counts = lisa["lisa_cluster"].value_counts(dropna=False)
    info["areal"] = {
        "units": int(len(units)),
        "column": column,
        "cutoff": float(lisa.attrs.get("cutoff", cfg["alpha"])),
        "clusters": {str(k): int(v) for k, v in counts.items()},
        "regions": int(len(regions)),
        "hh_regions_total": int((regions["cluster"] == "HH").sum()) if len(regions) else 0,
        "hh_title": ("High-high innovation cluster regions" if cfg["data"] == "us_patents"
                     else "High-high cluster regions"),
        "hh_regions": _region_digest(lisa, regions, totals[0]),
    }
    if cfg["data"] != "us_patents":
        info["areal"]["firms_outside"] = int(state.get("firms_outside", 0))


def _places_of(members: pd.DataFrame, weight: str, k: int = 3) -> list[str]:
    """The ``k`` largest places of a region by ``weight``: its metros (a unit outside every
    metro counts as its "County, ST"), else its "County, ST" names, else unit ids."""
    if "place" not in members.columns:
        return [str(i) for i in members[weight].sort_values(ascending=False).index[:k]]
    label = members["place"].astype(str)
    if "metro" in members.columns:
        label = members["metro"].where(members["metro"].notna(), label).astype(str)
    ranked = members[weight].groupby(label.to_numpy()).sum().sort_values(ascending=False,
                                                                          kind="stable")
    return ranked.index[:k].astype(str).tolist()


def _regions_with_places(lisa, regions, weight: str) -> gpd.GeoDataFrame:
    if not len(regions):
        return regions
    regions = regions.copy()
    regions["places"] = [
        "; ".join(_places_of(lisa.loc[list(units)], weight)) for units in regions["units"]
    ]
    return regions


def _region_digest(lisa: gpd.GeoDataFrame, regions: gpd.GeoDataFrame, weight: str) -> list[dict]:
    """The 20 largest HH regions with their main places (metros, else "County, ST")."""
    out = []
    hh = regions[regions["cluster"] == "HH"] if len(regions) else regions
    for region_id, row in hh.head(20).iterrows():
        members = lisa.loc[list(row["units"])]
        out.append({"region": str(region_id), "units": int(row["n_units"]),
                    "total": float(members[weight].sum()),
                    "places": _places_of(members, weight)})
    return out


# --- density clusters -------------------------------------------------------------------


def _cluster_places(clusters: gpd.GeoDataFrame, state: dict) -> list[str]:
    """The county ("Montgomery, MD") at each cluster's representative point, when in the US."""
    counties = state.get("firm_units")
    if counties is None or "place" not in counties.columns:
        counties = _with_places(gc.datasets.load_counties("conus"))
    points = clusters.geometry.representative_point().to_crs(counties.crs)
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points.to_numpy(), crs=counties.crs),
                       counties[["place", counties.geometry.name]], how="left",
                       predicate="within")
    joined = joined[~joined.index.duplicated()]
    return joined["place"].fillna("").astype(str).tolist()


def _study_area(state: dict):
    """The study's areal units as one polygon (the CSR null's area), or None for a grid."""
    if state["config"]["areal"]["units"] in ("grid", "hex"):
        return None  # a grid is built over the firms: their hull is the area anyway
    units = _base_units(state)
    return gpd.GeoSeries([units.geometry.union_all()], crs=units.crs)


def density(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["density"]
    firms = state["firms"]
    industry = state["columns"]["industry"]
    focus_list = _focus_industries(state)
    # boolean masks on the industries as text, so a config's "5415" (or 5415) matches an
    # integer NAICS column too
    as_text = firms[industry].astype(str).where(firms[industry].notna()) \
        if industry is not None else None
    groups: list[tuple[str, Any]] = (
        [(f, (as_text == f).to_numpy()) for f in focus_list] if industry is not None
        else [("all firms", None)]
    )
    seed_clusters, seed_kd = _seed_int(seed), _seed_int(seed)
    null = cfg["null"]
    if industry is None and null == "firms":
        null = "csr"
        _note("no industry column: the density clusters test all firms against complete "
              "spatial randomness ([density] null = \"firms\" relabels an industry among all "
              "firm sites and needs one).")
    state["density_null"] = null
    # CSR places firms in the study's units (not the convex hull of the firms, which for a
    # national file with a Hawaiian or Alaskan firm spans the ocean)
    study_area = _study_area(state) if null == "csr" else None
    frames, surfaces, kds = [], {}, {}
    member = pd.Series(0, index=firms.index, dtype=int)
    member_id = pd.Series(np.nan, index=firms.index, dtype=float)
    next_id = 1
    for number, (label, subset) in enumerate(groups, start=1):
        with _config_key("density", "bandwidth", cfg["bandwidth"],
                         args=_args(cfg, "bandwidth", "level", "simulations", "min_firms",
                                    "cell_size", "null")):
            clusters = gc.density_clusters(
                firms, bandwidth=cfg["bandwidth"], level=cfg["level"], null=null,
                simulations=cfg["simulations"], seed=seed_clusters, min_firms=cfg["min_firms"],
                subset=subset, cell_size=cfg["cell_size"], study_area=study_area,
            )
            chosen = firms if subset is None else firms[subset]
            surface = gc.kde(chosen, bandwidth=cfg["bandwidth"], cell_size=cfg["cell_size"])
        clusters = clusters.copy()
        attrs = dict(clusters.attrs)
        if len(clusters):
            clusters["cluster_id"] = np.arange(next_id, next_id + len(clusters))
            next_id += len(clusters)
            clusters.insert(0, "industry", label)
            clusters["places"] = _cluster_places(clusters, state)
            labelled = gc.exposure(chosen, method="region", regions=clusters,
                                   column="density_cluster")
            member.loc[labelled.index] = labelled["density_cluster"].fillna(0).astype(int)
            member_id.loc[labelled.index] = labelled["density_cluster_id"].astype(float)
        else:
            clusters.insert(0, "industry", pd.Series([], dtype=object))
        clusters.attrs = attrs
        frames.append(clusters)
        surfaces[label] = surface
        suffix = "" if number == 1 else f"_{number}"
        context = state.get("units")  # the areal units as outlines, or US states for the demo
        if state["config"]["areal"]["data"] == "us_patents" or context is None:
            states = gc.datasets.load_states()
            context = states[~states.index.isin(gc.datasets.CONUS_EXCLUDED_STATES)]
        what = "all" if subset is None else label
        fig = surface.plot(clusters=clusters if len(clusters) else None, context=context,
                           scale="sqrt", title=f"Kernel density of {what} firms and density clusters")
        _save_figure(state, fig, f"kde_clusters{suffix}")
        if cfg["k_density"] and subset is not None:
            with _config_key("density", "k_density_bandwidth", cfg["k_density_bandwidth"],
                             args=_args(cfg, "simulations", bandwidth="k_density_bandwidth",
                                        max_distance="k_density_max_distance")):
                kd = gc.k_density(firms, subset=subset, bandwidth=cfg["k_density_bandwidth"],
                                  max_distance=cfg["k_density_max_distance"],
                                  simulations=cfg["simulations"], seed=seed_kd)
            kds[label] = kd
            _save_figure(state, kd.plot(), f"k_density{suffix}")
    combined = pd.concat(frames, ignore_index=True) if frames else gpd.GeoDataFrame()
    combined = gpd.GeoDataFrame(combined, geometry=frames[0].geometry.name, crs=frames[0].crs)
    combined.attrs = dict(frames[0].attrs)
    state["density_clusters"] = combined
    state["surface"] = next(iter(surfaces.values()))
    state["surfaces"] = surfaces
    state["density_groups"] = [label for label, _ in groups]
    state["firms"] = firms.assign(density_cluster=member, density_cluster_id=member_id)
    if kds:
        state["k_density"] = kds
    per = []
    for label, _ in groups:
        part = combined[combined["industry"] == label] if len(combined) else combined
        in_group = firms.index if industry is None else firms.index[
            firms[industry].astype(str) == label]
        per.append({
            "industry": label,
            "firms": int(len(in_group)),
            "clusters": int(len(part)),
            "firms_in_clusters": int((member.loc[in_group] != 0).sum()),
            "places": [p for p in (part["places"].tolist() if len(part) else []) if p][:5],
        })
    attrs = frames[0].attrs
    _summary(state)["density"] = {
        "industry": ", ".join(label for label, _ in groups),
        "clusters": int(len(combined)),
        "firms_in_clusters": int(sum(p["firms_in_clusters"] for p in per)),
        "threshold_per_km2": _float(attrs.get("threshold", float("nan"))),
        "bandwidth_m": _float(attrs.get("bandwidth_m", float("nan"))),
        "by_industry": per,
        "focus_rule": state.get("focus_rule", "named in [firms] focus_industry")
        if industry is not None else "no industry column: all firms",
    }
    if kds:
        _summary(state)["density"]["k_density"] = {
            label: {"localised": bool(kd.is_localised),
                    "localisation_index": _float(kd.localisation_index),
                    "dispersion_index": _float(kd.dispersion_index)}
            for label, kd in kds.items()
        }


# --- exposure -----------------------------------------------------------------------------


def exposure(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["exposure"]
    firms = state["firms"]
    column = cfg["column"]
    industry_column = state["columns"]["industry"]
    industry = industry_column if cfg["same_industry"] else None
    if column in firms.columns:
        firms = firms.rename(columns={column: f"{column}_input"})
        _note(f"[exposure] column = {column!r} already exists in the firm table; the input "
              f"column is kept as {column + '_input'!r}.")
    kwargs: dict[str, Any] = {"method": cfg["method"], "column": column}
    key, value = "method", cfg["method"]
    if cfg["method"] in ("kde", "count"):
        kwargs.update(industry=industry, log="log1p" if cfg["log"] else False,
                      standardize=cfg["standardize"])
        if cfg["method"] == "kde":
            kwargs["bandwidth"] = cfg["bandwidth"]
            key, value = "bandwidth", cfg["bandwidth"]
        else:
            kwargs["radius"] = cfg["radius"]
            key, value = "radius", cfg["radius"]
    elif cfg["method"] == "lq":
        if industry_column is None:
            raise ConfigError(
                "[exposure] method = 'lq' needs an industry column ([firms] industry), which "
                "the firm table lacks; use method = \"kde\" or \"count\"."
            )
        if "units" not in state or state["config"]["areal"]["data"] != "firms":
            raise ConfigError("[exposure] method = 'lq' needs [areal] enabled with data = "
                              "'firms'; enable it or use method = \"kde\".")
        kwargs.update(industry=industry_column,
                      units=state["units"][[state["units"].geometry.name]],
                      min_total=state["config"]["areal"]["min_firms"])
    else:  # region
        if "density_clusters" not in state:
            raise ConfigError("[exposure] method = 'region' needs [density] enabled; enable it "
                              "or use method = \"kde\".")
        if len(state["density_clusters"]) == 0:
            raise ConfigError("[exposure] method = 'region': the density step found no "
                              "clusters, so every firm would get 0; use method = \"kde\".")
        kwargs.update(regions=state["density_clusters"])
    with _config_key("exposure", key, value,
                     args=_args(cfg, "bandwidth", "radius", "log", "standardize", "method")):
        state["firms"] = gc.exposure(firms, **kwargs)
    values = state["firms"][column]
    _summary(state)["exposure"] = {
        "method": cfg["method"], "column": column,
        "same_industry": bool(industry is not None),
        "mean": _float(values.mean()), "sd": _float(values.std()),
    }


# --- model ------------------------------------------------------------------------------


def _formula_variables(formula: str) -> set[str]:
    from geocluster.models._design import _value_variables, parse_formula

    parsed = parse_formula(formula)
    return _value_variables(parsed.lhs) | _value_variables(parsed.rhs)


def _outcome_label(formula: str) -> str:
    lhs = formula.split("~", 1)[0].strip()
    return re.sub(r"\bnp\.", "", lhs)


def model_plan(state: dict) -> dict | None:
    """The model the study fits: formula, by, variable; None (with a note) if it cannot."""
    if "model_plan" in state:
        return state["model_plan"]
    cfg = state["config"]["model"]
    firms = state["firms"]
    columns = set(map(str, firms.columns))
    formula = cfg["formula"]
    exposure_column = state["config"]["exposure"]["column"]
    if formula is None:
        formula = DEMO_FORMULA.replace("cluster", exposure_column) \
            if exposure_column != "cluster" else DEMO_FORMULA
        with _config_key("model", "formula", formula):
            lacking = sorted(_formula_variables(formula) - columns)
        if lacking:
            _note(f"model step skipped: no [model] formula is given and the firm table lacks "
                  f"{len(lacking)} of the columns of the demo's model; give [model] formula = "
                  f"\"outcome ~ {exposure_column} + ...\" with columns of your data to fit "
                  "a model.")
            state["model_plan"] = None
            return None
        user_formula = False
    else:
        with _config_key("model", "formula", formula):
            lacking = sorted(_formula_variables(formula) - columns)
        if lacking:
            _absent_formula_columns(formula, lacking, state)
        user_formula = True
    by = cfg["by"]
    by_explicit = by is not None
    if by is None:
        by = "serial" if "serial" in columns else None
    elif by not in columns:
        _absent_by(by, firms)
    variables = _formula_variables(formula)
    variable = cfg["variable"]
    if variable is None:
        variable = exposure_column if exposure_column in variables else None
    elif variable not in variables:
        raise ConfigError(
            f"[model] variable = {variable!r} is not in [model] formula = {formula!r}; name "
            f"the clustering term of the formula (e.g. {exposure_column!r})."
        )
    if by is not None and by not in variables:
        by = None if not by_explicit else by
    plan = {"formula": formula, "by": by, "variable": variable, "user_formula": user_formula,
            "outcome": _outcome_label(formula),
            "innovators": by == "serial" and "innovator_type" in columns,
            "internationalization": formula.split("~", 1)[0].strip() == "intl"}
    state["model_plan"] = plan
    return plan


def model(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["model"]
    plan = model_plan(state)
    if plan is None:
        return
    firms = _jittered(state, state["firms"])
    state["model_firms"] = firms
    _, isolates = _weights_policy(state)
    missing = _get(state, "model", "missing", "drop") or "drop"
    # The Graph is built once on every firm, as the robustness sweep builds it, so the
    # sweep's reference specification is this model exactly (regress restricts it to the
    # complete rows and says so).
    graph = _graph(state, firms, cfg["weights"], "model", "weights", report=False)
    with _config_key("model", "formula" if plan["user_formula"] else "weights",
                     plan["formula"] if plan["user_formula"] else cfg["weights"],
                     args=_args(cfg, "model", "method", "missing")):
        results = gc.regress(plan["formula"], firms, model=cfg["model"], weights=graph,
                             method=cfg["method"], missing=missing, isolates=isolates,
                             seed=_seed_int(seed))
    state["results"] = results
    variable, by = plan["variable"], plan["by"]
    record: dict[str, Any] = {
        "formula": plan["formula"], "model": cfg["model"], "weights": cfg["weights"],
        "method": cfg["method"], "nobs": int(results.nobs),
        "loglik": _float(results.loglik), "aic": _float(results.aic),
        "table": results.to_frame().to_dict(orient="records"),
    }
    try:
        record["diagnostics"] = results.diagnostics.reset_index().to_dict(orient="records")
    except Exception:  # noqa: BLE001 - diagnostics are optional for some models
        record["diagnostics"] = None
    if cfg["model"] in ("lag", "durbin"):
        with _config_key("model", "impacts_simulations", cfg["impacts_simulations"]):
            impacts = results.impacts(simulations=cfg["impacts_simulations"],
                                      seed=_seed_int(seed))
        state["impacts"] = impacts
        record["impacts"] = impacts.reset_index().to_dict(orient="records")
    if by is not None and variable is not None:
        with _config_key("model", "by", by):
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
        "model": cfg["model"], "nobs": int(results.nobs), "formula": plan["formula"],
        "title": model_title(plan), "variable": plan["variable"],
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


def _focus_terms(results, variable: str | None, by: str | None) -> list[str]:
    """The model's own clustering terms (those that name the clustering variable)."""
    names = [str(k) for k in results.params.index if k not in ("rho", "lambda", "CONSTANT")]
    if variable is None:
        return [n for n in names if n != "Intercept"][:1]
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(variable)}(?![A-Za-z0-9_])")
    terms = [n for n in names if pattern.search(n) and not n.startswith("W_")]
    if by is not None and variable is not None:
        terms += [f"slope:{variable}|{by}=1", f"slope:{variable}|{by}=0"]
    return terms or [n for n in names if n != "Intercept"][:1]


def _with_first(values, first) -> list:
    """``values`` with ``first`` moved (or added) to the front: the reference comes first."""
    return [first] + [v for v in (values or []) if v != first]


def _weights_alternatives(spec: str) -> list[str]:
    """The model's weights and two neighbours of it: K/2 and 2K, or D/2 and 2D."""
    text = str(spec).strip().lower()
    knn = re.fullmatch(r"knn:(\d+)", text)
    if knn:
        k = int(knn.group(1))
        return list(dict.fromkeys([spec, f"knn:{max(1, k // 2)}", f"knn:{2 * k}"]))
    dist = re.fullmatch(r"(distance|kernel:\w+):(.+)", text)
    if dist:
        from geocluster.units import parse_distance

        metres = parse_distance(dist.group(2))
        return [spec, f"{dist.group(1)}:{metres / 2:g}m", f"{dist.group(1)}:{metres * 2:g}m"]
    return [spec, "knn:4", "knn:16"]


def _lisa_alternatives(spec: str) -> list[str]:
    """The areal weights and two alternatives."""
    others = [s for s in ("queen", "knn:6", "knn:10", "rook") if s != str(spec).strip().lower()]
    return [spec, *others[:2]]


def robustness(state: dict, *, seed: np.random.Generator) -> None:

    cfg = state["config"]["robustness"]
    mcfg = state["config"]["model"]
    plan = model_plan(state)
    if plan is None or "results" not in state:
        _note("robustness sweep skipped: there is no model to vary (see the model step's "
              "note); the cluster-map sensitivity still runs.")
        _lisa_sensitivity(state, seed)
        return
    ecfg = state["config"]["exposure"]
    column = ecfg["column"]
    industry = state["columns"]["industry"]
    options = {"industry": industry if ecfg["same_industry"] else None,
               "log": "log1p", "standardize": True}
    weights = _with_first(cfg["weights"] if cfg["weights"] is not None
                          else _weights_alternatives(mcfg["weights"]), mcfg["weights"])
    models = _with_first(cfg["models"] if cfg["models"] is not None else ["ols"], mcfg["model"])
    alternatives = cfg["exposure"] if cfg["exposure"] is not None else ["count:15km", "kde:25km"]
    exposure = _with_first(alternatives, column)
    if cfg["focus"] is not None:
        focus = cfg["focus"]
    elif plan["variable"] is not None:
        focus = None  # robustness tracks every formula term involving the exposure
    else:
        focus = _focus_terms(state["results"], plan["variable"], plan["by"])
    if plan["variable"] is None:
        exposure = [column]
    kwargs: dict[str, Any] = dict(
        focus=focus, weights=weights, models=models, exposure=exposure,
        variable=plan["variable"] or column, exposure_options=options, n_jobs=cfg["n_jobs"],
        seed=_seed_int(seed), progress=not state["quiet"],
        reference={"weights": mcfg["weights"], "model": mcfg["model"], "exposure": column},
        missing=_get(state, "model", "missing", "drop") or "drop",
        isolates=_weights_policy(state)[1],
    )
    if mcfg["method"] != "ml":
        kwargs["methods"] = _with_first(["ml"], mcfg["method"])
    firms = state.get("model_firms", state["firms"])
    with _config_key("robustness", "focus" if cfg["focus"] is not None else "weights",
                     focus if cfg["focus"] is not None else weights):
        sweep = gc.robustness(plan["formula"], firms, **kwargs)
    state["robustness"] = sweep
    _save_figure(state, sweep.plot(), "specification_curve")
    for number, term in enumerate(list(sweep.focus)[1:], start=2):
        _save_figure(state, sweep.plot(term), f"specification_curve_{number}")
    summary = sweep.summary()
    _summary(state)["robustness"] = {
        "specifications": int(sweep.table["spec"].nunique()),
        "failed": int(sweep.table.loc[sweep.table["error"].notna(), "spec"].nunique()),
        "reference": {k: str(v) for k, v in dict(sweep.reference).items()},
        "focus": list(map(str, sweep.focus)),
        "share_significant_same_sign": {
            term: _float(v) for term, v in summary["share_significant_same_sign"].items()
        },
    }
    _lisa_sensitivity(state, seed)


def _lisa_sensitivity(state: dict, seed: np.random.Generator) -> None:

    cfg = state["config"]["robustness"]
    if state.get("units") is None:
        return
    acfg = state["config"]["areal"]
    own = acfg["weights"]
    given = cfg["lisa_weights"]
    if given is not None and len(given) == 0:
        return
    specs = _with_first(given if given is not None else _lisa_alternatives(own), own)
    options: dict[str, Any] = {"isolates": _isolates_for_stats(state),
                               "missing": _get(state, "areal", "missing", "raise") or "raise",
                               "reference": own}
    with _config_key("robustness", "lisa_weights", specs,
                     args={k: (f"[areal] {k}", acfg[k])
                           for k in ("permutations", "alpha", "correction")}):
        sens = gc.cluster_sensitivity(
            state["units"][[state["areal_column"], state["units"].geometry.name]],
            state["areal_column"], weights=specs,
            permutations=acfg["permutations"], alpha=acfg["alpha"],
            correction=None if acfg["correction"] == "none" else acfg["correction"],
            seed=state.get("areal_seed", _seed_int(seed)), **options,
        )
    state["lisa_sensitivity"] = sens
    _save_figure(state, sens.plot(), "lisa_sensitivity")


# --- outputs ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fixed_gpkg_date(date: str = GPKG_DATE) -> Iterator[None]:
    """GDAL writes ``date`` as every GeoPackage timestamp inside the block (``OGR_CURRENT_DATE``).

    GeoPackages record their last change in ``gpkg_contents.last_change``; with the wall
    clock, two runs with one seed would differ. The previous value is restored afterwards.
    """
    import pyogrio

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
            _clean_for_file(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio")
            written.append(name)
    return written


def write_outputs(state: dict, *, seed: np.random.Generator) -> None:
    folder: Path = state["folder"]
    layers = {
        "units": state.get("units"),
        "hotspots": state.get("hotspots"),
        "regions": state.get("regions"),
        "density_clusters": state.get("density_clusters"),
    }
    state["gpkg_layers"] = write_gpkg(layers, folder / "clusters.gpkg")
    firms = _clean_for_file(state["firms"])
    firms.to_parquet(folder / "firms.parquet")
    if "results" in state:
        (folder / "model.txt").write_text(str(state["results"].summary()))
        (folder / "model.json").write_text(
            json.dumps(state["model_record"], indent=2, default=_json_default)
        )
    if "robustness" in state:
        # no wall-clock columns: the same seed gives the same file (timings live in run.json)
        table = state["robustness"].table.drop(columns=["seconds"], errors="ignore")
        table.to_csv(folder / "robustness.csv", index=False)
    if "lisa_sensitivity" in state:
        state["lisa_sensitivity"].table.to_csv(folder / "lisa_sensitivity.csv", index=False)
    if "k_density" in state:
        frames = [kd.to_frame().assign(industry=label) for label, kd in state["k_density"].items()]
        table = pd.concat(frames, ignore_index=True)
        table = table[["industry", *[c for c in table.columns if c != "industry"]]]
        table.to_csv(folder / "k_density.csv", index=False)


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
        name = "id" if "id" not in out.columns else "row_id"
        out = out.rename_axis(name).reset_index()
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


def _map_fields(state: dict, firms: gpd.GeoDataFrame, key: str, value) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    bad = [n for n in names if n not in firms.columns]
    if bad:
        raise ConfigError(
            f"[maps] {key} = {value!r}: {', '.join(map(repr, bad))} not column(s) of the firm "
            f"table; its columns are {_column_list(firms)}. Name existing columns."
        )
    return names


def maps(state: dict, *, seed: np.random.Generator) -> None:
    cfg = state["config"]["maps"]
    firms = state["firms"]
    if len(firms) > cfg["max_firms"]:
        _note(f"[maps] max_firms = {cfg['max_firms']:,}: the map shows a random sample of "
              f"{cfg['max_firms']:,} of {len(firms):,} firms.")
        firms = firms.sample(cfg["max_firms"], random_state=_seed_int(seed))
    clusters = {}
    if state.get("density_clusters") is not None and len(state["density_clusters"]):
        clusters["Density clusters"] = state["density_clusters"]
    regions = state.get("regions")
    if regions is not None and len(regions) and (regions["cluster"] == "HH").any():
        clusters["High-high cluster regions"] = regions[regions["cluster"] == "HH"]
    columns = state["columns"]
    industry, size, name = columns["industry"], columns["employees"], columns["name"]
    color = "innovator_type" if "innovator_type" in firms.columns else industry
    if size is not None and not pd.api.types.is_numeric_dtype(firms[size]):
        size = None
    popup = _map_fields(state, firms, "popup", cfg.get("popup"))
    tooltip = _map_fields(state, firms, "tooltip", cfg.get("tooltip"))
    # Defaults: the tooltip shows the name (and the id, which the map always shows); a click
    # adds the firm's industry, size, exposure and density cluster.
    if popup is None:
        popup = [c for c in (name, industry, "innovator_type", size,
                             state["config"]["exposure"]["column"], "density_cluster")
                 if c and c in firms.columns]
    if tooltip is None and name is not None:
        tooltip = [name]
    tiles_value = cfg.get("tiles", "OpenStreetMap")
    tiles = None if tiles_value in (None, "none", "") else tiles_value
    with _config_key("maps", "tiles", tiles_value):
        m = gc.map(
            firms=firms, color=color, size=size, popup=popup or None,
            tooltip=tooltip or None, lisa=state.get("units"), hotspots=state.get("hotspots"),
            density=state.get("surface"), clusters=clusters or None, tiles=tiles,
        )
    gc.save_map(m, state["folder"] / "map.html", self_contained=cfg["self_contained"])


def report(state: dict, *, seed: np.random.Generator) -> None:
    from geocluster.viz.report import build_report

    html = build_report(state)
    (state["folder"] / "report.html").write_text(html, encoding="utf-8")


__all__ = ["load_firms", "areal_clusters", "density", "exposure", "model", "robustness",
           "write_outputs", "write_gpkg", "fixed_gpkg_date", "maps", "report", "model_plan",
           "model_title", "TECH_NAICS", "DEMO_FORMULA", "NAME_COLUMNS", "N_FOCUS",
           "STATE_ABBREVIATIONS", "InputError"]
