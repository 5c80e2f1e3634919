"""The study report: warnings first, every data or config text escaped, counts from tables."""

from __future__ import annotations

import html
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

import geocluster as gc
from geocluster.pipeline.study import run_study
from geocluster.viz.report import DensityReport, ReportData, build_report, escape, model_title

PAYLOADS = ["{{7*7}}", "{% if 1 %}x{% endif %}", "<script>alert(1)</script>", "a & \"b\" 'c'"]


def _text(page: str) -> str:
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_leaves_no_markup_or_template_syntax(payload):
    out = escape(payload)
    assert not set("<>{}\"'") & set(out)
    assert html.unescape(out) == payload


def test_escape_exact():
    assert escape("<b>{{7*7}}</b> & 'x'") == (
        "&lt;b&gt;&#123;&#123;7*7&#125;&#125;&lt;/b&gt; &amp; &#x27;x&#x27;")


def _state(tmp_path, **extra) -> ReportData:
    options = {"title": "Study {{7*7}} <script>alert(1)</script>",
               "description": "{% if 1 %}x{% endif %} & more", "folder": tmp_path,
               "summary": {"firms": 5}, "warnings": [], "settings": {"study": {"seed": 1}}}
    options.update(extra)
    return ReportData(**options)


def test_title_and_description_are_literal(tmp_path):
    page = build_report(_state(tmp_path))
    assert "<script>alert" not in page and "{{" not in page and "{%" not in page
    text = _text(page)
    assert "Study {{7*7}} <script>alert(1)</script>" in text
    assert "{% if 1 %}x{% endif %} & more" in text
    assert "Study 49" not in text


def test_warnings_section_comes_first_with_counts(tmp_path):
    warnings = [
        {"step": "reading firms", "category": "GeoclusterWarning",
         "message": "no industry column <{{x}}>", "count": 1},
        {"step": "areal clusters", "category": "GeoclusterWarning",
         "message": "3 of 300 firms lie outside the study's units", "count": 4},
    ]
    page = build_report(_state(tmp_path, warnings=warnings))
    assert page.index("Warnings and notes") < page.index("<h2>Firms</h2>") \
        < page.index("<h2>Settings</h2>")
    text = _text(page)
    assert "2 distinct warnings and notes (5 occurrences)" in text
    assert "no industry column <{{x}}>" in text and "<{{x}}>" not in page
    row = re.search(r"<tr><td[^>]*>areal clusters</td><td[^>]*>(.*?)</td><td>(.*?)</td></tr>",
                    page)
    assert row and row.group(2) == "4" and "outside the study&#x27;s units" in row.group(1)


def test_no_warnings_says_so(tmp_path):
    text = _text(build_report(_state(tmp_path)))
    assert "Warnings and notes" in text and "every step ran without a warning" in text


def test_links_only_to_files_that_exist(tmp_path):
    (tmp_path / "map.html").write_text("x")
    page = build_report(_state(tmp_path))
    assert 'href="map.html"' in page and 'href="run.json"' in page
    assert 'href="model.txt"' not in page and 'href="robustness.csv"' not in page


def _density_state(tmp_path, industries):
    clusters = gpd.GeoDataFrame(
        {"industry": [industries[0], industries[0], industries[1]],
         "cluster_id": [1, 2, 3], "area_km2": [10.0, 5.0, 2.0], "n_firms": [12, 7, 9],
         "places": ["Montgomery, MD", "Travis, TX", "King, WA"]},
        geometry=[Point(0, 0).buffer(1), Point(5, 5).buffer(1), Point(9, 9).buffer(1)],
        crs=5070)
    per = [{"industry": industries[0], "firms": 40, "clusters": 2, "firms_in_clusters": 19},
           {"industry": industries[1], "firms": 30, "clusters": 1, "firms_in_clusters": 9}]
    summary = {"firms": 70, "industries": {industries[0]: 40, industries[1]: 30},
               "density": {"by_industry": per, "focus_rule": "named in [firms] focus_industry",
                           "k_density": {industries[0]: {"localised": True,
                                                         "localisation_index": 0.1,
                                                         "dispersion_index": 0.0}}}}
    density = DensityReport(clusters=clusters, groups=list(industries), null="firms",
                            alpha=0.05, simulations=99, min_firms=10)
    return _state(tmp_path, density=density, summary=summary)


def test_density_counts_come_from_the_cluster_table(tmp_path):
    industries = ["<script>x</script>", "{{7*7}}"]
    page = build_report(_density_state(tmp_path, industries))
    text = _text(page)
    # 12 + 7 firms in the first group's two clusters, 9 in the second's one: 3 clusters, 28 firms
    assert "3 clusters in all, holding 28 firms of their group." in text
    assert "<script>x</script>" not in page and "{{7*7}}" not in page
    assert "<script>x</script> 40 2 19" in " ".join(text.split())
    assert "{{7*7}} 30 1 9" in " ".join(text.split())
    assert "Montgomery, MD" in text
    assert "<script>x</script> localised 0.1000 0" in " ".join(text.split())


def test_model_titles_name_the_outcome_unless_the_demo():
    assert model_title("intl", internationalization=True) == "Internationalization model"
    assert model_title("log(REVENUES)", internationalization=False) == "Model of log(REVENUES)"


@pytest.mark.slow
def test_payloads_in_data_are_literal_in_report_and_map(tmp_path):
    rng = np.random.default_rng(8)
    counties = gc.datasets.load_counties("conus")
    chosen = counties[counties["state_fips"].isin(["24", "51", "11"])]
    centre = chosen.geometry.representative_point()
    n = 240
    which = rng.integers(0, len(chosen), n)
    industries = np.array(PAYLOADS[:3])[rng.integers(0, 3, n)]
    table = pd.DataFrame({
        "NAME": [f"{PAYLOADS[i % 4]} firm {i}" for i in range(n)],
        "SECTOR": industries,
        "LONGITUDE": centre.x.to_numpy()[which] + rng.normal(0, 0.03, n),
        "LATITUDE": centre.y.to_numpy()[which] + rng.normal(0, 0.03, n),
    })
    path = tmp_path / "firms.csv"
    table.to_csv(path, index=False)
    config = {
        "study": {"name": "<script>alert(1)</script> {{7*7}}", "seed": 2},
        "firms": {"path": str(path), "industry": "SECTOR", "focus_industry": PAYLOADS[0]},
        "areal": {"permutations": 19, "min_firms": 5},
        "density": {"simulations": 19, "bandwidth": "15km", "cell_size": "5km",
                    "min_firms": 5, "k_density": False},
        "model": {"enabled": False},
        "maps": {"tiles": "none"},
    }
    out = tmp_path / "out"
    run_study(config, out, quiet=True)
    page = (out / "report.html").read_text(encoding="utf-8")
    for raw in ("<script>alert", "{{", "{%"):
        assert raw not in page, raw
    text = " ".join(_text(page).split())
    assert "<script>alert(1)</script> {{7*7}}" in text
    for payload in PAYLOADS[:3]:
        assert f"industry: {payload}" in text  # the firms table shows the values as typed
    assert "industry: 49" not in text and "industry: x " not in text
    assert "Kernel density and density clusters: {{7*7}}" in text
    mapped = (out / "map.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in mapped
    assert "firm 17" in mapped  # the names are in the popups
    assert "49 firm" not in mapped and "x firm 1" not in mapped


def test_report_is_rendered_from_the_packaged_template():
    from importlib import resources

    template = resources.files("geocluster.viz").joinpath("templates/report.html.j2")
    assert template.is_file() and "{{ data.title }}" in template.read_text(encoding="utf-8")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_text_of_the_report_is_escaped(tmp_path, payload):
    data = ReportData(
        title=payload, description=payload, folder=tmp_path,
        settings={"study": {"name": payload}},
        warnings=[{"step": payload, "category": "GeoclusterWarning", "message": payload,
                   "count": 2}],
        summary={"firms": 3, "industries": {payload: 3}}, columns={"industry": payload},
    )
    page = build_report(data)
    body = page.split("</style>", 1)[1]
    assert not set("{}") & set(body)  # braces only in the template's own CSS
    assert "<script>" not in page
    assert "{{" not in page and "{%" not in page
    text = _text(body)
    assert text.count(payload) >= 4  # title, description, warning, industry (and settings)
