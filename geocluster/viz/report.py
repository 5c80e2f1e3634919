"""The one-page HTML report of a study run.

The page is self-contained (figures inlined as PNG data URIs, no scripts, no
external resources) so it opens offline and can be mailed. Every value that
comes from data or config goes through :func:`escape`, which escapes ``<``, ``>``,
``&``, quotes and ``{``/``}``, so a study name, an industry value, a region name or a
column name shows literally (never as markup, never as a template expression).

Layout: the title, then **Warnings and notes** (every warning of the run, from
``state["warnings"]``), then one section per step that ran. Every count in the text
is computed from the table shown beside it, so the two cannot disagree.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["build_report", "escape", "model_title"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #ddd;
padding-bottom:.2rem}
p.lead{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:.86rem;margin:.6rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e5e5e5;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#f0f0f0}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}
code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}
pre{padding:.8rem;overflow-x:auto;font-size:.8rem}
.note{font-size:.85rem;color:#666}
#warnings td{text-align:left;vertical-align:top}
#warnings{border-left:4px solid #e0a800;padding-left:1rem}
"""

_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def escape(value: Any) -> str:
    """``value`` as HTML text: ``<``, ``>``, ``&``, quotes and ``{``/``}`` escaped.

    Examples
    --------
    >>> escape("<b>{{7*7}}</b>")
    '&lt;b&gt;&#123;&#123;7*7&#125;&#125;&lt;/b&gt;'
    """
    return html.escape(str(value), quote=True).translate(_BRACES)


_e = escape


def model_title(plan: dict) -> str:
    """The model's heading: the demo's wording only for the demo's outcome.

    Examples
    --------
    >>> model_title({"internationalization": False, "outcome": "log(REVENUES)"})
    'Model of log(REVENUES)'
    """
    if plan.get("internationalization"):
        return "Internationalization model"
    return f"Model of {plan['outcome']}"


def _cell(value, digits: int) -> tuple[str, bool]:
    """Text of a table cell and whether it is a number (right-aligned)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)), False
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}", True
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "", True
        if float(value).is_integer() and abs(value) < 1e12:
            return f"{int(value):,}", True
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.{digits}g}", True
        return f"{value:.{digits}f}", True
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value)), False
    if value is None or pd.isna(value):
        return "", False
    return str(value), False


def _table(frame: pd.DataFrame, *, digits: int = 4, max_rows: int = 40, id_: str = "") -> str:
    total = len(frame)
    frame = frame.head(max_rows)
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for value in values:
            text, numeric = _cell(value, digits)
            style = "" if numeric else ' style="text-align:left"'
            cells.append(f"<td{style}>{_e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="note">First {max_rows:,} of {total:,} rows.</p>' if total > max_rows
            else "")
    attr = f' id="{_e(id_)}"' if id_ else ""
    return (f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            f"</table>{more}")


def _figure(folder: Path, relative: str, caption: str) -> str:
    path = folder / relative
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)} (<a href=\"{_e(relative)}\">{_e(relative)}</a>)"
        "</figcaption></figure>"
    )


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def build_report(state: dict) -> str:
    """Assemble the report page from a study's state (see :mod:`geocluster.pipeline.study`).

    Parameters
    ----------
    state
        The study's state after every other step: ``config``, ``folder``, ``summary``,
        ``warnings`` (a list of ``{"step", "category", "message", "count"}``) and the
        results of the steps that ran.

    Returns
    -------
    str
        The HTML page.
    """
    config = state["config"]
    folder: Path = state["folder"]
    summary = state.get("summary", {})
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(config['study']['name'])}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(config['study']['name'])}</h1>",
    ]
    if config["study"].get("description"):
        parts.append(f"<p class=\"lead\">{_e(config['study']['description'])}</p>")
    parts.append(_links(state, folder))
    parts.append(_warnings_section(state.get("warnings") or []))
    parts.append(_firms_section(state, summary))
    if "units" in state:
        parts.append(_areal_section(state, folder, summary))
    if "density_clusters" in state:
        parts.append(_density_section(state, folder, summary))
    if "results" in state:
        parts.append(_model_section(state, folder))
    if "robustness" in state or "lisa_sensitivity" in state:
        parts.append(_robustness_section(state, folder))
    parts.append(
        "<h2>Settings</h2><p class=\"note\">The configuration as run (also in run.json).</p>"
        f"<pre>{_e(json.dumps(config, indent=2, default=str))}</pre>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _links(state: dict, folder: Path) -> str:
    names = [("map.html", "interactive map"), ("clusters.gpkg", "clusters.gpkg"),
             ("firms.parquet", "firms.parquet"), ("model.txt", "model.txt"),
             ("model.json", "model.json"), ("robustness.csv", "robustness.csv"),
             ("lisa_sensitivity.csv", "lisa_sensitivity.csv"), ("k_density.csv", "k_density.csv")]
    links = [f'<a href="{_e(n)}">{_e(label)}</a>' for n, label in names if (folder / n).is_file()]
    links.append('<a href="run.json">run.json</a>')  # written after the report
    return "<p>Outputs: " + " · ".join(links) + "</p>"


def _warnings_section(records: list[dict]) -> str:
    out = ['<section id="warnings"><h2>Warnings and notes</h2>']
    if not records:
        out.append("<p>None: every step ran without a warning.</p></section>")
        return "\n".join(out)
    total = sum(int(r.get("count", 1)) for r in records)
    out.append(f"<p>{_plural(len(records), 'distinct warning or note', 'distinct warnings and notes')}"
               f" ({_plural(total, 'occurrence')}), in the order they occurred. They are also "
               "in run.json.</p>")
    frame = pd.DataFrame(
        [(str(r.get("step", "")), str(r.get("message", "")), int(r.get("count", 1)))
         for r in records],
        columns=["step", "message", "times"],
    )
    out.append(_table(frame, max_rows=200, id_="warnings-table"))
    out.append("</section>")
    return "\n".join(out)


def _firms_section(state: dict, summary: dict) -> str:
    columns = state.get("columns") or summary.get("columns") or {}
    n = summary.get("firms", len(state["firms"]) if "firms" in state else "")
    rows: list[tuple[str, Any]] = [("firms", n)]
    rows += [(f"industry: {k}", v) for k, v in summary.get("industries", {}).items()]
    rows += [(f"innovator type: {k}", v) for k, v in summary.get("innovator_types", {}).items()]
    out = ["<h2>Firms</h2>", _table(pd.DataFrame(rows, columns=["", "count"]), max_rows=60)]
    if columns:
        used = pd.DataFrame(
            [(role, "none (not in the data)" if col is None else col)
             for role, col in columns.items()], columns=["role", "column used"])
        out.append("<h3>Columns used</h3>" + _table(used))
    return "\n".join(out)


def _areal_section(state: dict, folder: Path, summary: dict) -> str:
    info = summary.get("areal", {})
    acfg = state["config"]["areal"]
    regions = state.get("regions")
    lisa = state["units"]
    counts = lisa["lisa_cluster"].astype(str).value_counts().sort_index()
    out = [
        "<h2>Areal clusters</h2>",
        f"<p>Local Moran's I of <code>{_e(state.get('areal_column', info.get('column', '')))}"
        f"</code> on {_plural(len(lisa), 'unit')}, weights <code>{_e(acfg['weights'])}</code>, "
        f"{_e(acfg['permutations'])} permutations, correction <code>{_e(acfg['correction'])}"
        f"</code> ({_cutoff_text(info.get('cutoff'), acfg)}).</p>",
    ]
    outside = info.get("firms_outside")
    if outside:
        out.append(f"<p>{_plural(int(outside), 'firm')} lie outside every unit and are not "
                   "counted here (see Warnings and notes).</p>")
    out.append(_table(pd.DataFrame({"LISA class": counts.index, "units": counts.to_numpy()}),
                      id_="lisa-classes"))
    hh = regions[regions["cluster"] == "HH"] if regions is not None and len(regions) else None
    title = info.get("hh_title", "High-high cluster regions")
    if hh is not None and len(hh):
        shown = hh.head(20)
        digest = pd.DataFrame({
            "HH region": shown.index.astype(str),
            "units": shown["n_units"].to_numpy(),
            "main places": shown["places"].to_numpy() if "places" in shown.columns
            else [""] * len(shown),
        })
        head = (f"{_plural(len(hh), 'high-high region')}"
                + ("; the 20 largest are listed" if len(hh) > 20 else ""))
        out.append(f"<h3>{_e(title)} (largest first)</h3><p>{_e(head)}.</p>" + _table(digest, id_="hh-regions"))
    else:
        out.append(f"<h3>{_e(title)}</h3><p>No high-high region at this significance level.</p>")
    if regions is not None and len(regions):
        shown = pd.DataFrame(regions.drop(columns=[regions.geometry.name, "units"], errors="ignore"))
        out.append(f"<details><summary>All {_plural(len(regions), 'region')}</summary>"
                   + _table(shown.reset_index(), max_rows=100) + "</details>")
    out.append('<div class="grid">')
    out.append(_figure(folder, "figures/lisa_map.png", "LISA cluster map"))
    out.append(_figure(folder, "figures/moran_scatter.png", "Moran scatterplot"))
    out.append(_figure(folder, "figures/hotspots_map.png", "Getis-Ord Gi* hot and cold spots"))
    out.append("</div>")
    return "\n".join(out)


_NULLS = {"firms": "the group's firms relabelled at random among all firm sites",
          "csr": "complete spatial randomness over the study area"}


def _cutoff_text(cutoff, acfg: dict) -> str:
    if cutoff is None or not np.isfinite(cutoff):
        return "no p-value cut-off recorded"
    if cutoff <= 0:
        return (f"no unit's p-value passes the {_e(acfg['correction'])} cut-off at alpha "
                f"{_e(acfg['alpha'])}, so every unit is not significant")
    return f"effective p cut-off {_e(round(float(cutoff), 5))}"


def _density_section(state: dict, folder: Path, summary: dict) -> str:
    info = summary.get("density", {})
    dcfg = state["config"]["density"]
    clusters = state["density_clusters"]
    groups = state.get("density_groups") or [info.get("industry", "")]
    null = state.get("density_null", dcfg["null"])
    out = [
        "<h2>Density clusters</h2>",
        f"<p>Kernel density of the firms of each group below; clusters are areas above the "
        f"{_e(dcfg['level'])} Monte Carlo envelope of the null <code>{_e(null)}</code> "
        f"({_NULLS.get(null, '')}; {_e(dcfg['simulations'])} simulations) holding at least "
        f"{_e(dcfg['min_firms'])} firms of the group. Groups: "
        f"{_e(info.get('focus_rule', ''))}.</p>",
    ]
    rows = []
    for group in info.get("by_industry", []):
        part = clusters[clusters["industry"] == group["industry"]] if len(clusters) else clusters
        inside = int(part["n_firms"].sum()) if len(part) else 0
        rows.append((group["industry"], group["firms"], len(part), inside))
    table = pd.DataFrame(rows, columns=["firms of", "firms", "clusters", "firms inside clusters"])
    if len(table):
        out.append(_table(table, id_="density-groups"))
        total = int(table["clusters"].sum())
        inside = int(table["firms inside clusters"].sum())
        out.append(f"<p>{_plural(total, 'cluster')} in all, holding {_plural(inside, 'firm')} "
                   "of their group.</p>")
    if len(clusters):
        shown = pd.DataFrame(clusters.drop(columns=clusters.geometry.name))
        out.append("<h3>Clusters (largest first within each group)</h3>"
                   + _table(shown.reset_index(drop=True), max_rows=60, id_="density-clusters"))
    for number, group in enumerate(groups, start=1):
        suffix = "" if number == 1 else f"_{number}"
        out.append(_figure(folder, f"figures/kde_clusters{suffix}.png",
                           f"Kernel density and density clusters: {group}"))
    kd_info = info.get("k_density") or {}
    if kd_info:
        out.append("<h3>Duranton-Overman K-density</h3>"
                   "<p>Each industry against random relocation among all firm sites "
                   "(<a href=\"k_density.csv\">k_density.csv</a>).</p>")
        rows = [(label, "localised" if kd["localised"] else "not localised",
                 kd["localisation_index"], kd["dispersion_index"])
                for label, kd in kd_info.items()]
        out.append(_table(pd.DataFrame(rows, columns=["industry", "verdict",
                                                      "localisation index", "dispersion index"])))
        out.append('<div class="grid">')
        for number, label in enumerate(kd_info, start=1):
            suffix = "" if number == 1 else f"_{number}"
            verdict = "localised" if kd_info[label]["localised"] else "not localised"
            out.append(_figure(folder, f"figures/k_density{suffix}.png",
                               f"K-density of {label} ({verdict}) with confidence bands"))
        out.append("</div>")
    return "\n".join(out)


def _model_section(state: dict, folder: Path) -> str:
    results = state["results"]
    plan = state.get("model_plan") or {}
    title = model_title(plan) if plan else "Model"
    out = [f"<h2>{_e(title)}</h2>",
           f"<p>Formula <code>{_e(plan.get('formula', ''))}</code>, model "
           f"<code>{_e(state['config']['model']['model'])}</code>, weights "
           f"<code>{_e(state['config']['model']['weights'])}</code>, "
           f"{_plural(int(results.nobs), 'firm')} used.</p>",
           f"<pre>{_e(str(results.summary()))}</pre>"]
    if "impacts" in state:
        out.append("<h3>Impacts (LeSage &amp; Pace)</h3>" + _table(state["impacts"].reset_index()))
    by, variable = plan.get("by"), plan.get("variable")
    group = "innovator type" if plan.get("innovators") else f"{by}"
    if "effects" in state:
        out.append(f"<h3>Marginal effects of {_e(variable)} by {_e(group)}</h3>"
                   + _table(state["effects"]))
    if "turning" in state:
        out.append("<h3>Turning points</h3>" + _table(state["turning"]))
    if "u_test" in state:
        out.append("<h3>Lind-Mehlum U-test</h3>" + _table(state["u_test"]))
    outcome = ("internationalization" if plan.get("internationalization")
               else plan.get("outcome", "the outcome"))
    out.append(_figure(folder, "figures/effects_by_type.png",
                       f"Predicted {outcome} over {variable}, by {group}"))
    return "\n".join(out)


def _robustness_section(state: dict, folder: Path) -> str:
    out = ["<h2>Robustness</h2>"]
    sweep = state.get("robustness")
    if sweep is not None:
        summary = sweep.summary()
        wanted = ["specifications", "failed", "other_samples", "left_out_other_samples",
                  "reference_estimate", "share_same_sign", "share_significant_same_sign",
                  "median_estimate", "min_estimate", "max_estimate",
                  "share_residual_autocorrelation"]
        shown = summary[[c for c in wanted if c in summary.columns]]
        if hasattr(sweep, "reference_label"):
            ref_text = sweep.reference_label()
        else:
            ref = dict(getattr(sweep, "reference", {}) or {})
            ref_text = ", ".join(f"{k} {v}" for k, v in ref.items()
                                 if k in ("weights", "model", "exposure", "method"))
        n_spec = int(sweep.table["spec"].nunique())
        note = summary.attrs.get("note")
        out += [
            f"<p>{_plural(n_spec, 'specification')}: weights "
            f"{_e(', '.join(map(str, sweep.dimensions.get('weights', []))))}; models "
            f"{_e(', '.join(map(str, sweep.dimensions.get('model', []))))}; clustering measures "
            f"{_e(', '.join(map(str, sweep.dimensions.get('exposure', []))))}. The reference "
            f"specification is the study's own model ({_e(ref_text)}); shares are over the "
            "specifications that fitted (see robustness.csv for every row)."
            + (f" {_e(note)}" if note else "") + "</p>",
            _table(shown.reset_index()),
            '<div class="grid">',
        ]
        for number, term in enumerate(sweep.focus, start=1):
            name = "specification_curve" if number == 1 else f"specification_curve_{number}"
            out.append(_figure(folder, f"figures/{name}.png", f"Specification curve: {term}"))
        out.append("</div>")
    sens = state.get("lisa_sensitivity")
    if sens is not None:
        own = state["config"]["areal"]["weights"]
        jaccard = pd.to_numeric(sens.table.get("jaccard_vs_reference"), errors="coerce")
        undefined = int(jaccard.isna().sum()) if jaccard is not None else 0
        out.append("<h3>Cluster-map sensitivity</h3><p>High-high units of the local Moran map "
                   "under other weights, and their Jaccard overlap with the map under the "
                   f"study's own weights (<code>{_e(own)}</code>)"
                   + (f"; {_plural(undefined, 'overlap')} undefined (no HH unit in either map)"
                      if undefined else "") + ".</p>")
        out.append(_table(sens.table))
        out.append(_figure(folder, "figures/lisa_sensitivity.png", "LISA HH units by weights"))
    return "\n".join(out)
