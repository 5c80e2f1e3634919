"""The one-page HTML report of a study run.

The page is self-contained (figures inlined as PNG data URIs, no scripts, no
external resources) so it opens offline and can be mailed. Every value that
comes from data or config is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["build_report"]

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
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


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
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return "", False
    return str(value), False


def _table(frame: pd.DataFrame, *, digits: int = 4, max_rows: int = 40) -> str:
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
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


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


def build_report(state: dict) -> str:
    """Assemble the report page from a study's state (see :mod:`geocluster.study`)."""
    config = state["config"]
    folder: Path = state["folder"]
    summary = state.get("summary", {})
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(config['study']['name'])}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(config['study']['name'])}</h1>",
        f"<p class=\"lead\">{_e(config['study']['description'])}</p>",
        "<p>Outputs: <a href=\"map.html\">interactive map</a> · "
        "<a href=\"clusters.gpkg\">clusters.gpkg</a> · <a href=\"firms.parquet\">firms.parquet</a>"
        " · <a href=\"model.txt\">model.txt</a> · <a href=\"model.json\">model.json</a>"
        + (" · <a href=\"robustness.csv\">robustness.csv</a>" if "robustness" in state else "")
        + " · <a href=\"run.json\">run.json</a></p>",
    ]
    parts.append(_firms_section(summary))
    if "units" in state:
        parts.append(_areal_section(state, folder, summary))
    if "density_clusters" in state:
        parts.append(_density_section(state, folder, summary))
    if "results" in state:
        parts.append(_model_section(state, folder))
    if "robustness" in state:
        parts.append(_robustness_section(state, folder))
    parts.append(
        "<h2>Settings</h2><p class=\"note\">The configuration as run (also in run.json).</p>"
        f"<pre>{_e(json.dumps(config, indent=2, default=str))}</pre>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _firms_section(summary: dict) -> str:
    rows = [("firms", summary.get("firms", ""))]
    rows += [(f"industry: {k}", v) for k, v in summary.get("industries", {}).items()]
    rows += [(f"innovator type: {k}", v) for k, v in summary.get("innovator_types", {}).items()]
    return "<h2>Firms</h2>" + _table(pd.DataFrame(rows, columns=["", "count"]))


def _areal_section(state: dict, folder: Path, summary: dict) -> str:
    info = summary.get("areal", {})
    regions = state.get("regions")
    out = [
        "<h2>Areal clusters</h2>",
        f"<p>Local Moran's I of <code>{_e(info.get('column', ''))}</code> on "
        f"{_e(info.get('units', ''))} units, weights <code>{_e(state['config']['areal']['weights'])}"
        f"</code>, {_e(state['config']['areal']['permutations'])} permutations, correction "
        f"<code>{_e(state['config']['areal']['correction'])}</code> (effective p cut-off "
        f"{_e(round(info.get('cutoff', float('nan')), 5))}).</p>",
    ]
    counts = pd.DataFrame(sorted(info.get("clusters", {}).items()), columns=["LISA class", "units"])
    out.append(_table(counts))
    if info.get("hh_regions"):
        digest = pd.DataFrame(
            [(r["region"], r["units"], ", ".join(r["places"])) for r in info["hh_regions"]],
            columns=["HH region", "units", "main places"],
        )
        out.append("<h3>High-high cluster regions (largest first)</h3>" + _table(digest))
    if regions is not None and len(regions):
        shown = pd.DataFrame(regions.drop(columns=[regions.geometry.name, "units"], errors="ignore"))
        out.append("<details><summary>All regions</summary>"
                   + _table(shown.reset_index(), max_rows=100) + "</details>")
    out.append('<div class="grid">')
    out.append(_figure(folder, "figures/lisa_map.png", "LISA cluster map"))
    out.append(_figure(folder, "figures/moran_scatter.png", "Moran scatterplot"))
    out.append(_figure(folder, "figures/hotspots_map.png", "Getis-Ord Gi* hot and cold spots"))
    out.append("</div>")
    return "\n".join(out)


def _density_section(state: dict, folder: Path, summary: dict) -> str:
    info = summary.get("density", {})
    clusters = state["density_clusters"]
    out = [
        "<h2>Density clusters</h2>",
        f"<p>Kernel density of <code>{_e(info.get('industry', ''))}</code> firms; clusters are "
        f"cells above the {_e(state['config']['density']['level'])} Monte Carlo envelope of "
        f"the null <code>{_e(state['config']['density']['null'])}</code> "
        f"({_e(state['config']['density']['simulations'])} simulations). "
        f"{_e(info.get('clusters', 0))} clusters hold {_e(info.get('firms_in_clusters', 0))} firms.</p>",
    ]
    if len(clusters):
        table = pd.DataFrame(clusters.drop(columns=clusters.geometry.name))
        out.append(_table(table.reset_index(drop=True)))
    out.append(_figure(folder, "figures/kde_clusters.png", "Kernel density and density clusters"))
    kd = info.get("k_density")
    if kd:
        verdict = "localised" if kd["localised"] else "not localised"
        out.append(
            f"<h3>Duranton-Overman K-density</h3><p>The industry is <b>{_e(verdict)}</b> "
            f"against random relocation among all firm sites (localisation index "
            f"{_e(round(kd['localisation_index'] or 0.0, 5))}, dispersion index "
            f"{_e(round(kd['dispersion_index'] or 0.0, 5))}; "
            "<a href=\"k_density.csv\">k_density.csv</a>).</p>"
        )
        out.append(_figure(folder, "figures/k_density.png", "K-density with confidence bands"))
    return "\n".join(out)


def _model_section(state: dict, folder: Path) -> str:
    results = state["results"]
    out = ["<h2>Internationalization model</h2>",
           f"<pre>{_e(str(results.summary()))}</pre>"]
    if "impacts" in state:
        out.append("<h3>Impacts (LeSage &amp; Pace)</h3>" + _table(state["impacts"].reset_index()))
    if "effects" in state:
        out.append("<h3>Marginal effects of clustering by innovator type</h3>"
                   + _table(state["effects"]))
    if "turning" in state:
        out.append("<h3>Turning points</h3>" + _table(state["turning"]))
    if "u_test" in state:
        out.append("<h3>Lind-Mehlum U-test</h3>" + _table(state["u_test"]))
    out.append(_figure(folder, "figures/effects_by_type.png",
                       "Predicted internationalization over clustering, by innovator type"))
    return "\n".join(out)


def _robustness_section(state: dict, folder: Path) -> str:
    sweep = state["robustness"]
    summary = sweep.summary()
    shown = summary[["specifications", "failed", "reference_estimate", "share_same_sign",
                     "share_significant_same_sign", "median_estimate", "min_estimate",
                     "max_estimate", "share_residual_autocorrelation"]]
    out = [
        "<h2>Robustness</h2>",
        f"<p>{_e(sweep.table['spec'].nunique())} specifications: weights "
        f"{_e(', '.join(map(str, sweep.dimensions.get('weights', []))))}; models "
        f"{_e(', '.join(map(str, sweep.dimensions.get('model', []))))}; clustering measures "
        f"{_e(', '.join(map(str, sweep.dimensions.get('exposure', []))))}. The reference "
        "specification is the first of each; shares are over the specifications that fitted "
        "(see robustness.csv for every row).</p>",
        _table(shown.reset_index()),
        '<div class="grid">',
    ]
    for number, term in enumerate(sweep.focus, start=1):
        name = "specification_curve" if number == 1 else f"specification_curve_{number}"
        out.append(_figure(folder, f"figures/{name}.png", f"Specification curve: {term}"))
    out.append("</div>")
    sens = state.get("lisa_sensitivity")
    if sens is not None:
        out.append("<h3>Cluster-map sensitivity</h3><p>High-high units of the local Moran map "
                   "under other weights, and their Jaccard overlap with the first.</p>")
        out.append(_table(sens.table))
        out.append(_figure(folder, "figures/lisa_sensitivity.png", "LISA HH units by weights"))
    return "\n".join(out)
