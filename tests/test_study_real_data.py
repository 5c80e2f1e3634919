"""The study on real-like firm registers: no industry, patents or internationalization columns.

A new user's national file (a few hundred headquarters with NAME, CITY, STATE, EMPLOYEES,
REVENUES; sentinel values, firms sharing an address, optional columns missing) must run
as it is. Each register is generated here with a fixed seed; its firms sit around the
representative points of bundled counties, so the places they fall in are known.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import time
import warnings
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import tomli_w

import geocluster as gc
from geocluster.pipeline import steps as study_steps
from geocluster.pipeline.cli import main
from geocluster.pipeline.study import run_study

pytestmark = pytest.mark.slow

N = 300
NAMES = ["Acme <b>Holdings</b>", "Café Ñandú & Co", "{{7*7}} Industries"]


# --- registers --------------------------------------------------------------------------


def _register(seed: int, *, n: int = N, sentinel: float | None = -99999, shared: int = 12,
              lowercase: bool = False, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counties = gc.datasets.load_counties("conus")
    # three blocks of ten neighbouring counties (so high-high regions form), by centroid
    centre = counties.geometry.representative_point()
    xy = np.column_stack([centre.x, centre.y])
    seeds = rng.choice(len(counties), 3, replace=False)
    blocks = [np.argsort(((xy - xy[s]) ** 2).sum(axis=1))[:10] for s in seeds]
    pick = counties.iloc[np.unique(np.concatenate(blocks))]
    centre = pick.geometry.representative_point()
    which = rng.integers(0, len(pick), n)
    lon = centre.x.to_numpy()[which] + rng.normal(0, 0.02, n)
    lat = centre.y.to_numpy()[which] + rng.normal(0, 0.02, n)
    same = rng.choice(n, shared, replace=False)  # one shared headquarters address
    lon[same], lat[same] = lon[same[0]], lat[same[0]]
    employees = rng.integers(5, 20_000, n).astype(float)
    revenues = np.round(np.exp(rng.normal(6, 1.5, n)), 1)
    if sentinel is not None:
        employees[rng.choice(n, 9, replace=False)] = sentinel
        revenues[rng.choice(n, 7, replace=False)] = sentinel
    names = [f"Firm {i:03d} Inc." for i in range(n)]
    names[: len(NAMES)] = NAMES
    table = pd.DataFrame({
        "NAME": names, "CITY": "Springfield", "STATE": pick["state"].to_numpy()[which],
        "COUNTYFIPS": pick["fips"].to_numpy()[which], "LATITUDE": lat, "LONGITUDE": lon,
        "EMPLOYEES": employees, "REVENUES": revenues,
        "PROFIT": np.round(rng.normal(10, 5, n), 2),
    }).drop(columns=list(drop))
    if lowercase:
        table.columns = [c.lower() for c in table.columns]
    return table


def _config(path: Path, **sections) -> dict:
    config = {
        "study": {"name": "Headquarters <script>alert(1)</script> {{7*7}}", "seed": 5},
        "firms": {"path": str(path)},
        # no correction: with a few hundred firms some high-high regions remain to name
        "areal": {"permutations": 99, "correction": "none"},
        "density": {"simulations": 19, "bandwidth": "30km", "cell_size": "10km",
                    "min_firms": 8},
        "robustness": {"lisa_weights": ["queen", "knn:6"]},
        "maps": {"tiles": "none"},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def _write(table: pd.DataFrame, folder: Path, kind: str) -> tuple[Path, dict]:
    """The register as a file of ``kind`` and the [firms] keys it needs."""
    if kind == "csv":
        path = folder / "hq.csv"
        table.to_csv(path, index=False)
        return path, {}
    if kind == "latin1":
        path = folder / "hq.csv"
        table.to_csv(path, index=False, encoding="latin-1")
        return path, {"encoding": "latin-1"}
    if kind == "gpkg":  # two layers: the config must name one
        path = folder / "hq.gpkg"
        lon = "longitude" if "longitude" in table.columns else "LONGITUDE"
        lat = "latitude" if "latitude" in table.columns else "LATITUDE"
        frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table[lon], table[lat]),
                                 crs=4326)
        frame.to_file(path, layer="headquarters", driver="GPKG")
        frame.head(5).to_file(path, layer="other", driver="GPKG")
        return path, {"layer": "headquarters"}
    raise AssertionError(kind)


REGISTERS = {
    # name: (register keyword arguments, file kind)
    "national-csv": (dict(), "csv"),
    "no-optional-columns": (dict(drop=("EMPLOYEES", "REVENUES", "PROFIT", "CITY")), "csv"),
    "lowercase-latin1": (dict(lowercase=True, sentinel=None), "latin1"),
    "geopackage-layer": (dict(shared=30), "gpkg"),
}


# --- parsing the outputs ----------------------------------------------------------------


class _Tables(HTMLParser):
    """The text of every <table id=...> of a page, as lists of rows of cells."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._id = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._id = attrs["id"]
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._id = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _tables(page: str) -> dict[str, pd.DataFrame]:
    parser = _Tables()
    parser.feed(page)
    return {k: pd.DataFrame(rows[1:], columns=rows[0]) for k, rows in parser.tables.items() if rows}


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _text(page: str) -> str:
    """The page as text: no figures, no tags, entities decoded."""
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


# --- the runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(REGISTERS))
def run(request, tmp_path_factory):
    kwargs, kind = REGISTERS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    table = _register(seed=len(request.param), **kwargs)
    path, firm_keys = _write(table, folder, kind)
    config = _config(path, firms=firm_keys)
    config_path = folder / "study.toml"
    config_path.write_text(tomli_w.dumps(config))
    out = folder / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["run", str(config_path), "--out", str(out)])
    return {"name": request.param, "code": code, "out": out, "table": table,
            "console": stdout.getvalue(), "path": path}


def test_the_study_runs_on_the_register(run):
    assert run["code"] == 0, run["console"]
    for name in ("report.html", "map.html", "clusters.gpkg", "firms.parquet", "run.json"):
        assert (run["out"] / name).is_file(), name
    firms = gpd.read_parquet(run["out"] / "firms.parquet")
    assert len(firms) == N
    # no model was asked for and the demo's variables are absent: no model outputs
    assert not (run["out"] / "model.json").exists()


def test_report_has_no_innovator_or_internationalization_wording(run):
    page = (run["out"] / "report.html").read_text(encoding="utf-8")
    text = _text(page)
    for word in ("innovat", "internationali", "serial"):
        assert word not in text.lower(), word


def test_report_opens_with_warnings_and_notes(run):
    page = (run["out"] / "report.html").read_text(encoding="utf-8")
    assert page.index("Warnings and notes") < page.index("<h2>Firms</h2>")
    warned = _tables(page)["warnings-table"]
    run_json = json.loads((run["out"] / "run.json").read_text())
    assert len(warned) == len(run_json["warnings"]) > 0
    messages = " ".join(warned["message"])
    assert "no industry column" in messages and "model step skipped" in messages


def test_counts_agree_between_console_report_and_tables(run):
    out = run["out"]
    page = (out / "report.html").read_text(encoding="utf-8")
    tables = _tables(page)
    layers = set(pyogrio.list_layers(out / "clusters.gpkg")[:, 0])
    clusters = (gpd.read_file(out / "clusters.gpkg", layer="density_clusters")
                if "density_clusters" in layers else pd.DataFrame({"n_firms": []}))
    firms = gpd.read_parquet(out / "firms.parquet")
    inside = int((firms["density_cluster"] != 0).sum())
    # the clusters table of the GeoPackage, the firms' labels, the report, the console
    assert int(clusters["n_firms"].sum()) == inside
    groups = tables["density-groups"]
    assert groups["firms of"].tolist() == ["all firms"]
    assert _number(groups["clusters"].iloc[0]) == len(clusters)
    assert _number(groups["firms inside clusters"].iloc[0]) == inside
    assert _number(groups["firms"].iloc[0]) == N
    if len(clusters):
        shown = tables["density-clusters"]
        assert [_number(v) for v in shown["n_firms"]] == clusters["n_firms"].tolist()
    assert f"Density clusters of all firms: {len(clusters)} ({inside} firms inside)" \
        in run["console"]
    # LISA classes: the report's counts are those of the units layer
    units = gpd.read_file(out / "clusters.gpkg", layer="units")
    classes = tables["lisa-classes"].set_index("LISA class")["units"].map(_number)
    assert classes.to_dict() == units["lisa_cluster"].astype(str).value_counts().to_dict()
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["summary"]["density"]["firms_in_clusters"] == inside
    assert run_json["summary"]["firms"] == N


def test_places_carry_the_state(run):
    out = run["out"]
    page = (out / "report.html").read_text(encoding="utf-8")
    tables = _tables(page)
    place = re.compile(r"^[A-Z][\w .'-]*, [A-Z]{2}$")
    clusters = gpd.read_file(out / "clusters.gpkg", layer="density_clusters")
    assert len(clusters) > 0
    for value in clusters["places"]:
        assert place.match(value), value
    # every cluster's place is a county one of the register's firms was placed in
    counties = gc.datasets.load_counties("conus")
    abbreviations = study_steps.STATE_ABBREVIATIONS
    fips = set(run["table"].get("COUNTYFIPS", run["table"].get("countyfips")))
    known = {f"{counties.loc[f, 'name']}, {abbreviations[f[:2]]}" for f in fips}
    assert set(clusters["places"]) <= known
    assert "hh-regions" in tables, "no high-high region to name"
    for cell in tables["hh-regions"]["main places"]:
        for name in cell.split("; "):
            assert place.match(name), name


def test_map_popups_carry_the_firm_names(run):
    page = (run["out"] / "map.html").read_text(encoding="utf-8")
    for name in ("Firm 010 Inc.", "Firm 299 Inc."):
        assert name in page
    # names that look like markup or template code are data, not code
    assert "<b>Holdings</b>" not in page and "Acme" in page


def test_report_shows_payloads_literally(run):
    page = (run["out"] / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "{{7*7}}" not in page  # braces are escaped in the source ...
    text = _text(page)
    assert "Headquarters <script>alert(1)</script> {{7*7}}" in text  # ... and shown as typed
    assert "Headquarters <script>alert(1)</script> 49" not in text


# --- a user formula on a register --------------------------------------------------------


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    table = _register(seed=3, sentinel=None)
    table.loc[table.sample(6, random_state=1).index, "REVENUES"] = np.nan  # empty cells
    path = folder / "hq.csv"
    table.to_csv(path, index=False)
    config = _config(
        path,
        weights={"coincident": "jitter"},  # 12 firms share one address
        model={"formula": "np.log(REVENUES) ~ cluster + np.log(EMPLOYEES)", "model": "lag",
               "weights": "knn:6", "impacts_simulations": 50},
        robustness={"exposure": ["count:20km"], "lisa_weights": []},
        exposure={"method": "count", "radius": "20km"},
    )
    out = folder / "out"
    result = run_study(config, out, quiet=True)
    return result, out


def test_user_formula_model_is_titled_neutrally(model_run):
    result, out = model_run
    page = (out / "report.html").read_text(encoding="utf-8")
    text = _text(page)
    assert "Model of log(REVENUES)" in text
    assert "Internationalization" not in text and "innovator" not in text.lower()
    record = json.loads((out / "model.json").read_text())
    assert record["nobs"] == N - 6  # the six empty revenues are dropped, nothing else


def test_robustness_reference_is_the_study_model(model_run):
    result, out = model_run
    sweep = pd.read_csv(out / "robustness.csv")
    assert "seconds" not in sweep.columns
    flag = "reference" if "reference" in sweep.columns else "is_reference"
    reference = sweep[sweep[flag].astype(bool)].iloc[0]
    assert (reference["weights"], reference["model"], reference["exposure"]) == \
        ("knn:6", "lag", "cluster")
    record = json.loads((out / "model.json").read_text())
    estimate = {row["term"]: row for row in record["table"]}["cluster"]
    ref_row = sweep[sweep[flag].astype(bool) & (sweep["term"] == "cluster")].iloc[0]
    assert ref_row["estimate"] == pytest.approx(estimate[_estimate_key(estimate)], rel=1e-9)


def _estimate_key(row: dict) -> str:
    return next(k for k in ("estimate", "coef", "coefficient", "params") if k in row)


def test_two_runs_with_one_seed_give_the_same_bytes(model_run, tmp_path):
    result, out = model_run
    config = json.loads((out / "run.json").read_text())["config"]
    again = tmp_path / "again"
    run_study(config, again, quiet=True)
    for name in ("clusters.gpkg", "robustness.csv", "firms.parquet", "model.json",
                 "report.html"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_gpkg_writes_are_byte_identical(tmp_path):
    from geocluster.pipeline.steps import write_gpkg

    frame = gc.datasets.load_counties("conus").head(40).assign(CRIME=np.arange(40.0))
    first, second = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    assert write_gpkg({"units": frame, "empty": frame.iloc[:0]}, first) == ["units"]
    time.sleep(1.1)  # GDAL's timestamps have a resolution of a second (or a millisecond)
    write_gpkg({"units": frame}, second)
    assert first.read_bytes() == second.read_bytes()
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # restored
    back = gpd.read_file(first, layer="units")
    assert back["CRIME"].tolist() == list(range(40))


def test_sentinel_codes_are_noted_with_counts(run):
    messages = " ".join(w["message"] for w in
                        json.loads((run["out"] / "run.json").read_text())["warnings"])
    if run["name"] in ("national-csv", "geopackage-layer"):  # 9 and 7 rows set to -99999
        assert "in EMPLOYEES (9 rows: -99999); REVENUES (7 rows: -99999)" in messages
    else:
        assert "often use for 'missing'" not in messages


# --- the default focus industries ---------------------------------------------------------


def _industry_firms() -> gpd.GeoDataFrame:
    """Four counties x five industries with known counts (see the LQs worked out below)."""
    counties = gc.datasets.load_counties("conus")
    fips = ["24031", "48453", "53033", "06085"]
    counts = {  # industry: firms in each county
        "alpha": [30, 0, 0, 0], "beta": [0, 20, 0, 0], "gamma": [0, 0, 10, 10],
        "delta": [10, 20, 30, 30], "epsilon": [0, 0, 0, 5],
    }
    rows = []
    for industry, per in counts.items():
        for code, k in zip(fips, per, strict=True):
            point = counties.loc[code].geometry.representative_point()
            rows += [(industry, point)] * k
    return gpd.GeoDataFrame({"sector": [r[0] for r in rows]},
                            geometry=[r[1] for r in rows], crs=4326)


def _focus_state(firms, focus=None, **areal):
    from geocluster.pipeline.config import validate_config
    from geocluster.pipeline.steps import Columns, StudyUnits

    config = validate_config({"firms": {"path": "x.csv", "industry": "sector",
                                        "focus_industry": focus},
                              "areal": areal, "density": {"min_firms": 10}})
    return StudyUnits(config, firms, Columns(industry="sector"))


def _focus_industries(units) -> list[str]:
    return list(units.focus.industries)


def test_default_focus_is_the_most_localised_industries():
    # 165 firms; county totals 40, 40, 40, 45. Maximum LQs: alpha (30/40)/(30/165) = 4.125,
    # beta (20/40)/(20/165) = 4.125 (fewer firms, so second), gamma (10/40)/(20/165) = 2.0625,
    # delta (30/40)/(90/165) = 1.375; epsilon's 3.667 does not count: 5 firms < [density]
    # min_firms = 10.
    with pytest.warns(gc.GeoclusterWarning, match=r"alpha, beta, gamma, the 3 industries "
                                                   r"with the highest maximum location quotient"):
        assert _focus_industries(_focus_state(_industry_firms())) == ["alpha", "beta", "gamma"]


def test_default_focus_without_large_enough_units_is_the_largest_industry():
    # no county has the 50 firms an LQ needs: delta (90 firms) is the largest industry
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _focus_industries(_focus_state(_industry_firms(), min_firms=50)) == ["delta"]
    messages = [str(w.message) for w in caught]
    assert any("blanked the LQ of 4 of 4 non-empty units" in m for m in messages)
    assert any(re.search(r"'delta', the largest industry .*lower \[areal\] min_firms", m)
               for m in messages)


def test_named_focus_industries_are_kept_in_order():
    state = _focus_state(_industry_firms(), focus=["delta", "alpha"])
    assert _focus_industries(state) == ["delta", "alpha"]


def test_integer_industry_codes_match_a_focus_given_as_number_or_text(tmp_path):
    table = _register(seed=9, sentinel=None)
    table["NAICS"] = np.where(np.arange(N) % 3 == 0, 5415, 3254)  # 100 firms of 5415
    path = tmp_path / "hq.csv"
    table.to_csv(path, index=False)
    for focus in ([5415], "5415"):
        config = _config(path, firms={"industry": "NAICS", "focus_industry": focus},
                         areal={"enabled": False}, model={"enabled": False},
                         maps={"enabled": False}, density={"k_density": False})
        out = tmp_path / f"out-{type(focus).__name__}"
        result = run_study(config, out, quiet=True)
        (group,) = result.summary["density"]["by_industry"]
        assert (group["industry"], group["firms"]) == ("5415", 100)
        clusters = gpd.read_file(out / "clusters.gpkg", layer="density_clusters") \
            if group["clusters"] else pd.DataFrame({"n_firms": []})
        assert int(clusters["n_firms"].sum()) == group["firms_in_clusters"]
