"""The one-page HTML report of a study run, rendered from ``templates/report.html.j2``.

The page is self-contained (figures inlined as PNG data URIs, no scripts, no external
resources) so it opens offline and can be mailed. The template is rendered by jinja2 with
autoescaping, and every value it prints goes through :func:`escape` (the environment's
``finalize``), which escapes ``<``, ``>``, ``&``, quotes and ``{``/``}``: a study name, an
industry value, a region name or a column name shows literally, never as markup and never
as a template expression.

The report reads one typed object, :class:`ReportData` (built by the study pipeline), and
prepares plain view values (:class:`Table`, :class:`Figure`, texts) for the template.
Layout: the title, then **Warnings and notes** (every warning of the run), then one section
per step that ran. Every count in the text is computed from the table shown beside it, so
the two cannot disagree.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from geocluster._base.jsonable import dumps

__all__ = ["build_report", "escape", "model_title", "ReportData", "ArealReport",
           "DensityReport", "ModelReport", "RobustnessReport", "Table", "Figure"]

_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def escape(value: Any) -> str:
    """``value`` as HTML text: ``<``, ``>``, ``&``, quotes and ``{``/``}`` escaped.

    Examples
    --------
    >>> escape("<b>{{7*7}}</b>")
    '&lt;b&gt;&#123;&#123;7*7&#125;&#125;&lt;/b&gt;'
    """
    return html.escape(str(value), quote=True).translate(_BRACES)


def model_title(outcome: str, *, internationalization: bool = False) -> str:
    """The model's heading: the demo's wording only for the demo's outcome.

    Examples
    --------
    >>> model_title("log(REVENUES)")
    'Model of log(REVENUES)'
    >>> model_title("intl", internationalization=True)
    'Internationalization model'
    """
    if internationalization:
        return "Internationalization model"
    return f"Model of {outcome}"


# --- the report's input ---------------------------------------------------------------------


@dataclass(frozen=True)
class ArealReport:
    """The areal step: local Moran on units, regions, and the settings shown."""

    units: pd.DataFrame
    regions: pd.DataFrame | None
    column: str
    weights: str
    permutations: int
    correction: str
    alpha: float


@dataclass(frozen=True)
class DensityReport:
    """The density step: the clusters of every group and the settings shown."""

    clusters: pd.DataFrame
    groups: Sequence[str]
    null: str
    alpha: float
    simulations: int
    min_firms: int


@dataclass(frozen=True)
class ModelReport:
    """The model step: the fitted result, its effects and the wording of its headings."""

    results: Any
    formula: str
    model: str
    weights: str
    outcome: str
    by: str | None = None
    variable: str | None = None
    innovators: bool = False
    internationalization: bool = False
    impacts: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    turning: pd.DataFrame | None = None
    u_test: pd.DataFrame | None = None


@dataclass(frozen=True)
class RobustnessReport:
    """The robustness step: the sweep (or None) and the cluster-map sensitivity (or None)."""

    sweep: Any = None
    sensitivity: Any = None
    areal_weights: str = ""


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows.

    ``summary`` is the run's summary (``run.json``): ``firms``, ``industries``,
    ``innovator_types``, ``areal``, ``density``, ...; ``warnings`` the run's warning records
    (``step``, ``category``, ``message``, ``count``); ``settings`` the config as run.
    """

    title: str
    folder: Path
    description: str = ""
    settings: dict = field(default_factory=dict)
    warnings: Sequence[dict] = ()
    summary: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)
    areal: ArealReport | None = None
    density: DensityReport | None = None
    model: ModelReport | None = None
    robustness: RobustnessReport | None = None


# --- view values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table as the template draws it: headings, rows of ``(text, numeric)`` cells."""

    headings: list[str]
    rows: list[list[tuple[str, bool]]]
    total: int
    max_rows: int
    id: str = ""


@dataclass(frozen=True)
class Figure:
    """An inlined PNG: ``src`` is its data URI, ``href`` the file beside the report."""

    src: str
    caption: str
    href: str


def _cell(value, digits: int) -> tuple[str, bool]:
    """Text of a table cell and whether it is a number (right-aligned)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)), False
    if isinstance(value, int | np.integer):
        return f"{int(value):,}", True
    if isinstance(value, float | np.floating):
        number = float(value)
        if not np.isfinite(number):
            return "", True
        if number.is_integer() and abs(number) < 1e12:
            return f"{int(number):,}", True
        if abs(number) < 1e-3 or abs(number) >= 1e5:
            return f"{value:.{digits}g}", True
        return f"{value:.{digits}f}", True
    if isinstance(value, list | tuple):
        return "; ".join(map(str, value)), False
    if value is None or pd.isna(value):
        return "", False
    return str(value), False


def table(frame: pd.DataFrame, *, digits: int = 4, max_rows: int = 40, id: str = "") -> Table:  # noqa: A002
    """A :class:`Table` of the first ``max_rows`` rows of ``frame``."""
    shown = frame.head(max_rows)
    rows = [[_cell(v, digits) for v in values]
            for values in shown.itertuples(index=False, name=None)]
    return Table([str(c) for c in frame.columns], rows, len(frame), max_rows, id)


def _figure(folder: Path, relative: str, caption: str) -> Figure | None:
    path = folder / relative
    if not path.is_file():
        return None
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Figure(f"data:image/png;base64,{data}", caption, relative)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


# --- rendering --------------------------------------------------------------------------------


def _finalize(value: Any) -> Any:
    """Every printed value escaped by :func:`escape` (braces too); tags the template wrote stay."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.Markup(escape("" if value is None else value))


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("geocluster.viz", "templates"),
    autoescape=True,
    finalize=_finalize,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["plural"] = _plural


def build_report(data: ReportData) -> str:
    """The report page of a study run, rendered from ``templates/report.html.j2``.

    Examples
    --------
    >>> import tempfile
    >>> page = build_report(ReportData(title="<b>{{x}}</b>", folder=Path(tempfile.gettempdir())))
    >>> "&lt;b&gt;&#123;&#123;x&#125;&#125;&lt;/b&gt;" in page and "<b>" not in page
    True
    """
    folder = data.folder
    names = [("map.html", "interactive map"), ("clusters.gpkg", "clusters.gpkg"),
             ("firms.parquet", "firms.parquet"), ("model.txt", "model.txt"),
             ("model.json", "model.json"), ("robustness.csv", "robustness.csv"),
             ("lisa_sensitivity.csv", "lisa_sensitivity.csv"), ("k_density.csv", "k_density.csv")]
    links = [(n, label) for n, label in names if (folder / n).is_file()]
    links.append(("run.json", "run.json"))  # written after the report
    view = {
        "data": data, "links": links, "warnings": _warnings_view(data.warnings),
        "firms": _firms_view(data),
        "areal": _areal_view(data, data.areal) if data.areal is not None else None,
        "density": _density_view(data, data.density) if data.density is not None else None,
        "model": _model_view(data, data.model) if data.model is not None else None,
        "robustness": (_robustness_view(data, data.robustness)
                       if data.robustness is not None else None),
        "settings": dumps(data.settings, indent=2),
    }
    return _ENVIRONMENT.get_template("report.html.j2").render(**view)


def _warnings_view(records: Sequence[dict]) -> dict | None:
    if not records:
        return None
    total = sum(int(r.get("count", 1)) for r in records)
    frame = pd.DataFrame(
        [(str(r.get("step", "")), str(r.get("message", "")), int(r.get("count", 1)))
         for r in records], columns=["step", "message", "times"])
    return {"head": (_plural(len(records), "distinct warning or note",
                             "distinct warnings and notes") + f" ({_plural(total, 'occurrence')})"),
            "table": table(frame, max_rows=200, id="warnings-table")}


def _firms_view(data: ReportData) -> dict:
    summary = data.summary
    rows: list[tuple[str, Any]] = [("firms", summary.get("firms", ""))]
    rows += [(f"industry: {k}", v) for k, v in summary.get("industries", {}).items()]
    rows += [(f"innovator type: {k}", v) for k, v in summary.get("innovator_types", {}).items()]
    columns = data.columns or summary.get("columns") or {}
    used = None
    if columns:
        used = table(pd.DataFrame(
            [(role, "none (not in the data)" if col is None else col)
             for role, col in columns.items()], columns=["role", "column used"]))
    return {"counts": table(pd.DataFrame(rows, columns=["", "count"]), max_rows=60),
            "used": used}


def _cutoff_text(cutoff, areal: ArealReport) -> str:
    if cutoff is None or not np.isfinite(cutoff):
        return "no p-value cut-off recorded"
    if cutoff <= 0:
        return (f"no unit's p-value passes the {areal.correction} cut-off at alpha "
                f"{areal.alpha}, so every unit is not significant")
    return f"effective p cut-off {round(float(cutoff), 5)}"


def _areal_view(data: ReportData, areal: ArealReport) -> dict:
    info = data.summary.get("areal", {})
    counts = areal.units["lisa_cluster"].astype(str).value_counts().sort_index()
    regions = areal.regions
    hh = regions[regions["cluster"] == "HH"] if regions is not None and len(regions) else None
    view: dict[str, Any] = {
        "a": areal, "n_units": _plural(len(areal.units), "unit"),
        "cutoff": _cutoff_text(info.get("cutoff"), areal),
        "outside": _plural(int(info["firms_outside"]), "firm") if info.get("firms_outside")
        else None,
        "classes": table(pd.DataFrame({"LISA class": counts.index, "units": counts.to_numpy()}),
                         id="lisa-classes"),
        "hh_title": info.get("hh_title", "High-high cluster regions"), "hh": None, "all": None,
    }
    if hh is not None and len(hh):
        shown = hh.head(20)
        digest = pd.DataFrame({
            "HH region": shown.index.astype(str), "units": shown["n_units"].to_numpy(),
            "main places": shown["places"].to_numpy() if "places" in shown.columns
            else [""] * len(shown),
        })
        view["hh"] = {"head": _plural(len(hh), "high-high region")
                      + ("; the 20 largest are listed" if len(hh) > 20 else ""),
                      "table": table(digest, id="hh-regions")}
    if regions is not None and len(regions):
        shown = pd.DataFrame(regions.drop(columns=[regions.geometry.name, "units"],
                                          errors="ignore"))
        view["all"] = {"head": f"All {_plural(len(regions), 'region')}",
                       "table": table(shown.reset_index(), max_rows=100)}
    view["figures"] = [f for f in (
        _figure(data.folder, "figures/lisa_map.png", "LISA cluster map"),
        _figure(data.folder, "figures/moran_scatter.png", "Moran scatterplot"),
        _figure(data.folder, "figures/hotspots_map.png", "Getis-Ord Gi* hot and cold spots"),
    ) if f is not None]
    return view


_NULLS = {"firms": "the group's firms relabelled at random among all firm sites",
          "csr": "complete spatial randomness over the study area"}


def _density_view(data: ReportData, density: DensityReport) -> dict:
    info = data.summary.get("density", {})
    clusters = density.clusters
    rows = []
    for group in info.get("by_industry", []):
        part = clusters[clusters["industry"] == group["industry"]] if len(clusters) else clusters
        inside = int(part["n_firms"].sum()) if len(part) else 0
        rows.append((group["industry"], group["firms"], len(part), inside))
    groups = pd.DataFrame(rows, columns=["firms of", "firms", "clusters", "firms inside clusters"])
    view: dict[str, Any] = {
        "d": density, "null_text": _NULLS.get(density.null, ""),
        "level": round(1 - density.alpha, 10), "focus_rule": info.get("focus_rule", ""),
        "groups": table(groups, id="density-groups") if len(groups) else None,
        "totals": (f"{_plural(int(groups['clusters'].sum()), 'cluster')} in all, holding "
                   f"{_plural(int(groups['firms inside clusters'].sum()), 'firm')} of their "
                   "group.") if len(groups) else None,
        "clusters": table(pd.DataFrame(clusters.drop(columns=clusters.geometry.name))
                          .reset_index(drop=True), max_rows=60, id="density-clusters")
        if len(clusters) else None,
    }
    names = list(density.groups) or [info.get("industry", "")]
    view["figures"] = [f for f in (
        _figure(data.folder, f"figures/kde_clusters{'' if n == 1 else f'_{n}'}.png",
                f"Kernel density and density clusters: {group}")
        for n, group in enumerate(names, start=1)) if f is not None]
    kd_info = info.get("k_density") or {}
    view["k_density"] = None
    if kd_info:
        rows = [(label, "localised" if kd["localised"] else "not localised",
                 kd["localisation_index"], kd["dispersion_index"])
                for label, kd in kd_info.items()]
        figures = [_figure(data.folder, f"figures/k_density{'' if n == 1 else f'_{n}'}.png",
                           f"K-density of {label} ({row[1]}) with confidence bands")
                   for n, (label, row) in enumerate(zip(kd_info, rows, strict=True), start=1)]
        view["k_density"] = {
            "table": table(pd.DataFrame(rows, columns=["industry", "verdict",
                                                       "localisation index", "dispersion index"])),
            "figures": [f for f in figures if f is not None]}
    return view


def _model_view(data: ReportData, m: ModelReport) -> dict:
    group = "innovator type" if m.innovators else f"{m.by}"
    outcome = "internationalization" if m.internationalization else m.outcome
    return {
        "m": m, "title": model_title(m.outcome, internationalization=m.internationalization),
        "n": _plural(int(m.results.nobs), "firm"), "summary": str(m.results.summary()),
        "group": group,
        "impacts": table(m.impacts.reset_index()) if m.impacts is not None else None,
        "effects": table(m.effects) if m.effects is not None else None,
        "turning": table(m.turning) if m.turning is not None else None,
        "u_test": table(m.u_test) if m.u_test is not None else None,
        "figure": _figure(data.folder, "figures/effects_by_type.png",
                          f"Predicted {outcome} over {m.variable}, by {group}"),
    }


_SWEEP_COLUMNS = ["specifications", "failed", "other_samples", "left_out_other_samples",
                  "reference_estimate", "share_same_sign", "share_significant_same_sign",
                  "median_estimate", "min_estimate", "max_estimate",
                  "share_residual_autocorrelation"]


def _robustness_view(data: ReportData, r: RobustnessReport) -> dict:
    view: dict[str, Any] = {"sweep": None, "sensitivity": None}
    sweep = r.sweep
    if sweep is not None:
        summary = sweep.summary()
        frame = summary.to_frame()
        shown = frame[[c for c in _SWEEP_COLUMNS if c in frame.columns]]
        dims = sweep.dimensions
        view["sweep"] = {
            "n": _plural(int(sweep.table["spec"].nunique()), "specification"),
            "weights": ", ".join(map(str, dims.get("weights", []))),
            "models": ", ".join(map(str, dims.get("model", []))),
            "exposure": ", ".join(map(str, dims.get("exposure", []))),
            "reference": sweep.reference_label(),
            "notes": " ".join(map(str, summary.notes)),
            "table": table(shown.reset_index()),
            "figures": [f for f in (
                _figure(data.folder, "figures/specification_curve.png" if n == 1
                        else f"figures/specification_curve_{n}.png", f"Specification curve: {term}")
                for n, term in enumerate(sweep.focus, start=1)) if f is not None],
        }
    sens = r.sensitivity
    if sens is not None:
        jaccard = pd.to_numeric(sens.table.get("jaccard_vs_reference"), errors="coerce")
        undefined = int(jaccard.isna().sum()) if jaccard is not None else 0
        view["sensitivity"] = {
            "own": r.areal_weights,
            "undefined": _plural(undefined, "overlap") if undefined else None,
            "table": table(sens.table),
            "figure": _figure(data.folder, "figures/lisa_sensitivity.png",
                              "LISA HH units by weights"),
        }
    return view
