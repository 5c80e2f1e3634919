"""The study config's sections as typed, frozen dataclasses, and the commented template.

Every key is one dataclass field whose ``metadata["key"]`` (a :class:`Key`) holds its
accepted TOML types, allowed values or light check, the spec language that parses it
(``spec``, applied by :mod:`geocluster.pipeline.config`) and its documentation. The
field's default is the key's default. :data:`SCHEMA` is the same declaration as a
``{section: {key: Key}}`` table, and :func:`example_config` prints it as TOML.

This module imports nothing of the scientific stack, so ``geocluster config`` starts at
once; the spec parsers (weights, exposure, units) run in :mod:`geocluster.pipeline.config`.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import tomli_w

from geocluster._distance import parse_distance
from geocluster.errors import InputError

__all__ = ["Key", "SCHEMA", "SECTIONS", "StudySection", "FirmsSection", "WeightsSection",
           "ArealSection", "DensitySection", "ExposureSection", "ModelSection",
           "RobustnessSection", "MapsSection", "example_config", "toml_value", "DEMO_FORMULA",
           "DEMO_COLUMNS", "NAME_COLUMNS", "MODELS", "GRID_UNITS", "EngineSection",
           "ENGINES"]


@dataclass(frozen=True)
class Key:
    """One config key: accepted Python types, allowed values or a check, its spec language.

    ``check`` returns an error text (what is expected) or None. ``spec`` names the parser
    that :mod:`geocluster.pipeline.config` applies to the value (``"weights"``,
    ``"exposure"``, ``"units"``, ``"focus"``); ``each=True`` applies it to every item of a list.
    """

    types: tuple[type, ...]
    default: Any = None
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None
    doc: str = ""
    spec: str | None = None
    each: bool = False


def _key(types: tuple[type, ...], default: Any = None, **options: Any) -> Any:
    """A dataclass field declaring one config key (lists are stored as tuples)."""
    key = Key(types, default, **options)
    return field(default=_frozen(default), metadata={"key": key})


def _frozen(value: Any) -> Any:
    """``value`` with lists as tuples (a frozen section holds no mutable values)."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _distance(value) -> str | None:
    try:
        parse_distance(value)
    except InputError:
        return "a distance such as '25km' or '500m'"
    return None


def _positive_int(value) -> str | None:
    return None if value > 0 else "a positive whole number"


def _seed(value) -> str | None:
    return None if 0 <= value < 2**63 else "a whole number from 0 to 2**63 - 1"


def _probability(value) -> str | None:
    return None if 0 < value < 1 else "a number between 0 and 1 (exclusive)"


def _list_of_choices(choices) -> Callable[[Any], str | None]:
    def inner(values) -> str | None:
        bad = [v for v in values if v not in choices]
        return f"a list drawn from {list(choices)} (bad items {bad})" if bad else None

    return inner


def _bandwidth(value) -> str | None:
    if isinstance(value, str) and value in ("scott", "silverman", "cv"):
        return None
    return _distance(value)


def _text_list(values) -> str | None:
    bad = [v for v in values if not isinstance(v, str)]
    return f"a list of column names (text; bad items {bad})" if bad else None


def _code_list(values) -> str | None:
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, str | int | float)]
    return f"a list of codes, numbers or texts (bad items {bad})" if bad else None


def _focus_industries(value) -> str | None:
    if isinstance(value, str):
        return None if value.strip() else "an industry name (not empty) or a list of them"
    bad = [v for v in value if not isinstance(v, str | int) or isinstance(v, bool)]
    if bad or not value:
        return f"an industry name or a non-empty list of them (bad items {bad})"
    return None


#: The spatial models a study fits.
MODELS = ("ols", "lag", "error", "durbin")
#: ``[model] family``: a linear outcome (gc.regress), a binary one (spatial probit) or one
#: censored at zero (spatial tobit); the demo's outcomes are intl, exports, sales_abroad.
FAMILIES = ("linear", "probit", "tobit")

#: ``[areal] units`` words that build a grid over the firms (``[areal] cell_size`` applies).
GRID_UNITS = ("grid", "hex")

#: The demo's model: internationalisation on cluster exposure by innovator type. The study
#: fits it when ``[model] formula`` is not given and the firm table has its variables.
DEMO_FORMULA = "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"

#: Names of the demo's firm columns; ``[firms]`` keys left unset use these only if the
#: data has them.
DEMO_COLUMNS = {"industry": "industry", "employees": "employees", "patents": "patents_5y",
                "age": "age"}

#: Name-like columns looked for (case-insensitive, in this order) when ``[firms] name`` is unset.
NAME_COLUMNS = ("name", "firm_name", "company_name", "company", "business_name", "firm",
                "business", "establishment", "organization", "org_name")


def _column(doc: str, demo: str | None = None) -> Any:
    if demo is not None:
        doc += (f" Default: the demo's column '{demo}' if the data has it, else none (the steps "
                "that need it are skipped with a note).")
    return _key((str,), None, doc=doc)


@dataclass(frozen=True)
class StudySection:
    """``[study]``: the title and the one seed of every stochastic step."""

    name: str = _key((str,), "geocluster study", doc="Title used in the report.")
    seed: int = _key((int,), 2026, check=_seed,
                     doc="Seed for every stochastic step (same seed, same output bytes).")
    description: str = _key((str,), "", doc="Free text shown in the report.")


@dataclass(frozen=True)
class FirmsSection:
    """``[firms]``: where the firms come from and which of their columns the study uses."""

    path: str | None = _key(
        (str,), None, doc="Firm file (CSV, TSV, Parquet, GeoPackage, GeoJSON, Shapefile, "
        "FlatGeobuf); relative paths are read from the config's folder.")
    synthetic: int | None = _key((int,), None, check=_positive_int,
                                 doc="Instead of a path: this many synthetic firms (make_firms).")
    layer: str | None = _key(
        (str,), None, doc="Layer of a multi-layer file (GeoPackage). Default: the only layer; "
        "a file with several layers is an error listing them.")
    encoding: str | None = _key((str,), None, doc="Text encoding of a CSV/TSV file, e.g. "
                                "'latin-1'. Default: detected.")
    na_values: tuple[str | int | float, ...] | None = _key(
        (list,), None, check=_code_list,
        doc="Codes that mean 'missing' in the register, e.g. [-99999, 'NOT AVAILABLE'] "
            "(read_firms(na_values=)). Default: only empty cells are missing.")
    lon: str | None = _key((str,), None, doc="Longitude / x column. Default: detected (lon, "
                           "lng, long, longitude, x; any case).")
    lat: str | None = _key((str,), None, doc="Latitude / y column. Default: detected (lat, "
                           "latitude, y; any case).")
    id: str | None = _key((str,), None, doc="Column with a unique firm id. Default: row numbers.")
    crs: str | int = _key((str, int), "EPSG:4326",
                          doc="CRS of the coordinate columns, e.g. 'EPSG:4326' (degrees) or "
                              "'EPSG:5070' (metres).")
    on_invalid: Literal["raise", "drop"] = _key((str,), "raise", choices=("raise", "drop"),
                           doc="Rows with missing or out-of-range coordinates: 'raise' stops, "
                               "'drop' drops them with a warning giving their count.")
    name: str | None = _key(
        (str,), None, doc="Column with the firm's name (map popups and tooltips). Default: the "
        "first name-like column (" + ", ".join(NAME_COLUMNS[:5]) + ", ...; any case), if any.")
    industry: str | None = _column("Column with the firm's industry.", "industry")
    employees: str | None = _column("Column with the firm's number of employees.", "employees")
    patents: str | None = _column("Column with the firm's patent count (innovator types).",
                                  "patents_5y")
    age: str | None = _column("Column with the firm's age in years.", "age")
    focus_industry: str | tuple[str | int, ...] | None = _key(
        (str, list), None, check=_focus_industries,
        doc="Industry (or list of industries) whose density clusters are mapped. Default: the "
            "3 industries with the highest maximum LQ over units with at least [areal] "
            "min_firms firms (industries with at least [density] min_firms firms).")


@dataclass(frozen=True)
class WeightsSection:
    """``[weights]``: policies for every weights spec the study builds."""

    coincident: Literal["raise", "jitter"] = _key(
        (str,), "raise", choices=("raise", "jitter"),
        doc="Firms sharing a location in distance/knn weights: 'raise' stops with their count, "
            "'jitter' moves them apart by a tiny random offset (seeded by [study] seed). "
            "Applies to every weights spec of the study.")
    isolates: Literal["keep", "drop", "raise"] = _key(
        (str,), "keep", choices=("keep", "drop", "raise"),
        doc="Units or firms without neighbours: 'keep' them (statistics that cannot use them "
            "say so), 'drop' them with a warning, or 'raise'.")


@dataclass(frozen=True)
class ArealSection:
    """``[areal]``: location quotients, local Moran's I and Gi* on areal units."""

    enabled: bool = _key((bool,), True, doc="Areal clusters: LQs, local Moran's I and Gi*.")
    data: Literal["firms", "us_patents"] = _key((str,), "firms", choices=("firms", "us_patents"),
                     doc="'firms': aggregate the study's firms; 'us_patents': bundled USPTO "
                         "patents by county and CBP technology employment.")
    units: str = _key((str,), "counties", spec="units",
                      doc="'counties' (bundled, contiguous US), 'grid', 'hex', or a polygon file.")
    cell_size: str | int | float = _key((str, int, float), "50km", check=_distance,
                                        doc="Cell size of a 'grid' or 'hex' (metres, or '50km').")
    weights: str = _key((str,), "queen", spec="weights",
                        doc="Weights between units: 'queen', 'rook', 'knn:K', 'distance:25km', "
                            "'kernel:gaussian:25km'.")
    permutations: int = _key((int,), 999, check=_positive_int,
                             doc="Permutations for the pseudo p-values.")
    alpha: float = _key((float,), 0.05, check=_probability, doc="Significance level.")
    correction: Literal["none", "fdr", "bonferroni"] = _key(
        (str,), "fdr", choices=("none", "fdr", "bonferroni"),
                           doc="Multiple-testing correction of the local p-values.")
    getis_ord: bool = _key((bool,), True, doc="Also compute Getis-Ord Gi* hot spots.")
    years: tuple[int, int] = _key((list,), [2011, 2015],
                                  doc="Patent years (first, last) for 'us_patents'.")
    min_firms: int = _key((int,), 30, doc="Minimum firms in a unit for its LQ (smaller units "
                          "get no LQ, with a warning giving their count).")
    missing: Literal["raise", "drop"] = _key(
        (str,), "raise", choices=("raise", "drop"),
                        doc="Units with a missing value of the analysed column: 'raise' stops, "
                            "'drop' leaves them out with a warning.")


@dataclass(frozen=True)
class DensitySection:
    """``[density]``: kernel density and Monte Carlo density clusters, K-density."""

    enabled: bool = _key((bool,), True, doc="Density clusters (KDE, Monte Carlo).")
    bandwidth: str | int | float = _key(
        (str, int, float), "25km", check=_bandwidth,
        doc="KDE bandwidth: a distance, or 'scott', 'silverman', 'cv'.")
    alpha: float = _key((float,), 0.05, check=_probability,
                        doc="Significance of the density threshold: the (1 - alpha) quantile "
                            "of the simulated maxima under the null.")
    null: Literal["csr", "firms"] = _key((str,), "firms", choices=("csr", "firms"),
                     doc="Null model: 'firms' (all firms' locations) or 'csr' (complete spatial "
                         "randomness).")
    simulations: int = _key((int,), 99, check=_positive_int, doc="Monte Carlo simulations.")
    min_firms: int = _key((int,), 10, check=_positive_int,
                          doc="Minimum firms in a density cluster.")
    cell_size: str | int | float = _key((str, int, float), "5km", check=_distance,
                                        doc="KDE grid cell size.")
    k_density: bool = _key((bool,), True, doc="Duranton-Overman K-density of the focus industry.")
    k_density_bandwidth: str | int | float = _key((str, int, float), "10km", check=_distance,
                                                  doc="Bandwidth of the K-density.")
    k_density_max_distance: str | int | float = _key(
        (str, int, float), "200km", check=_distance, doc="Largest distance of the K-density.")


@dataclass(frozen=True)
class ExposureSection:
    """``[exposure]``: the clustering measure written for every firm."""

    method: Literal["kde", "count", "lq", "region"] = _key(
        (str,), "kde", choices=("kde", "count", "lq", "region"),
                       doc="Clustering measure per firm: density at the firm, same-industry "
                           "neighbours within radius, LQ of its unit, or density-cluster "
                           "membership.")
    bandwidth: str | int | float = _key((str, int, float), "25km", check=_bandwidth,
                                        doc="Bandwidth for method 'kde'.")
    radius: str | int | float = _key((str, int, float), "25km", check=_distance,
                                     doc="Radius for method 'count'.")
    same_industry: bool = _key((bool,), True,
                               doc="Count only firms of the firm's own industry.")
    log: bool = _key((bool,), True, doc="Use log(1 + measure).")
    standardize: bool = _key((bool,), True,
                             doc="Standardise to mean 0, sd 1 (as gc.exposure).")
    name: str = _key((str,), "cluster", doc="Name of the exposure column written to the "
                     "firm table (gc.exposure(name=)).")


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: the spatial regression and its effects by group."""

    enabled: bool = _key((bool,), True, doc="Spatial regression and effects by group "
                         "(innovator type when the data have it).")
    formula: str | None = _key(
        (str,), None, doc="Model formula, e.g. 'y ~ cluster + np.log(employees)'. Default: the "
        f"demo's formula '{DEMO_FORMULA}' when the data has its variables, else the model "
        "step is skipped with a note.")
    model: Literal["ols", "lag", "error", "durbin"] = _key((str,), "lag", choices=MODELS,
                                                           doc="Spatial model.")
    weights: str = _key((str,), "knn:8", spec="weights", doc="Weights between firms.")
    method: Literal["ml", "gmm"] = _key((str,), "ml", choices=("ml", "gmm"), doc="Estimator.")
    variable: str | None = _key((str,), None, doc="The clustering term whose effects are "
                                "reported. Default: the [exposure] name column.")
    by: str | None = _key((str,), None, doc="Group column for effects (innovator type). "
                          "Default: 'serial' if the data has (or the study derives) it, else "
                          "none.")
    missing: Literal["drop", "raise"] = _key((str,), "drop", choices=("drop", "raise"),
                        doc="Firms with a missing model variable: 'drop' them with a warning, "
                            "or 'raise'.")
    impacts_simulations: int = _key((int,), 1000, check=_positive_int,
                                    doc="Simulations for the impacts' standard errors.")
    family: Literal["linear", "probit", "tobit"] = _key(
        (str,), "linear", choices=FAMILIES,
        doc="'linear' (gc.regress), 'probit' (binary outcome: spatial_probit, the demo's "
            "'exports') or 'tobit' (censored at 0: spatial_tobit, the demo's 'sales_abroad'). "
            "Probit and tobit are Bayesian (MCMC): model = 'lag' or 'durbin' fits the SAR, "
            "'error' the SEM, 'ols' the non-spatial model.")
    draws: int = _key((int,), 2000, check=_positive_int,
                      doc="Probit/tobit: posterior draws kept per chain (2 chains).")
    burn_in: int = _key((int,), 500, check=_positive_int,
                        doc="Probit/tobit: iterations discarded before the kept draws.")


@dataclass(frozen=True)
class RobustnessSection:
    """``[robustness]``: the specification sweep and the cluster-map sensitivity."""

    enabled: bool = _key((bool,), True, doc="Robustness sweep over specifications.")
    weights: tuple[str, ...] | None = _key(
        (list,), None, spec="weights", each=True,
        doc="Weights specs compared. Default: the model's weights and k/2, 2k neighbours.")
    models: tuple[str, ...] | None = _key((list,), None, check=_list_of_choices(MODELS),
                                          doc="Models compared. Default: 'ols' and the "
                                              "study's model.")
    exposure: tuple[str, ...] = _key((list,), ["count:15km", "kde:25km"], spec="exposure",
                                     each=True,
                                     doc="Alternative clustering measures besides [exposure].")
    focus: tuple[str, ...] | None = _key(
        (list,), None, spec="focus", each=True, doc="Terms or effects tracked (see geocluster.robustness). Default: the "
        "terms of the study's model that hold the exposure column.")
    lisa_weights: tuple[str, ...] | None = _key(
        (list,), None, spec="weights", each=True,
        doc="Weights compared in the cluster-map sensitivity ([] to skip). Default: the areal "
            "weights and two alternatives.")
    n_jobs: int = _key((int,), 1, doc="Parallel workers (1 = serial; same results).")


@dataclass(frozen=True)
class MapsSection:
    """``[maps]``: the interactive map."""

    enabled: bool = _key((bool,), True, doc="Interactive map (map.html).")
    tiles: str = _key((str,), "OpenStreetMap",
                      doc="Background tiles: a folium tile name, or 'none' (works offline).")
    popup: tuple[str, ...] | None = _key(
        (list,), None, check=_text_list,
        doc="Columns shown in a firm's popup. Default: the name column, the id, industry, "
            "size, exposure and density cluster (those present).")
    tooltip: tuple[str, ...] | None = _key((list,), None, check=_text_list,
                                           doc="Columns shown on hover. Default: the name "
                                               "column and the id.")
    self_contained: bool = _key((bool,), True, doc="Inline every script and style (one file).")
    max_firms: int = _key((int,), 100_000, check=_positive_int,
                          doc="Firms drawn at most (a seeded sample beyond that).")


#: ``[engine] kind``: the study in this process, or its point-heavy steps on dask.
ENGINES = ("local", "dask")
_MEMORY = re.compile(r"\d+(\.\d+)?\s*([kMGT]i?B|B)", re.IGNORECASE)


def _memory_limit(value) -> str | None:
    if value == "auto" or _MEMORY.fullmatch(value.strip()):
        return None
    return "memory per worker such as '4GB', '3.5GiB' or '500MB', or 'auto'"


def _scheduler(value) -> str | None:
    host = value.partition("://")[2]
    if value.startswith(("tcp://", "tls://")) and host and not host.startswith(":"):
        return None
    return "a scheduler address such as 'tcp://10.0.0.5:8786' (tcp:// or tls://, host and port)"


@dataclass(frozen=True)
class EngineSection:
    """``[engine]``: where the point-heavy steps run (this process, or dask)."""

    kind: Literal["local", "dask"] = _key(
        (str,), "local", choices=ENGINES,
        doc="'local': every step in this process (pandas/geopandas). 'dask': the firms are "
            "read as a partitioned dask GeoDataFrame and the point-heavy steps (aggregation, "
            "KDE, count/kde exposure) run on a dask cluster: a LocalCluster started for the "
            "run (workers, memory_limit) or the scheduler named by scheduler. Needs pip "
            "install 'geocluster[dask]'.")
    workers: int | None = _key(
        (int,), None, check=_positive_int,
        doc="kind = 'dask': worker processes of the LocalCluster started for the run. "
            "Default: one per core.")
    memory_limit: str | None = _key(
        (str,), None, check=_memory_limit,
        doc="kind = 'dask': memory per worker of the LocalCluster, e.g. '4GB'. Default: "
            "the machine's memory shared among the workers.")
    scheduler: str | None = _key(
        (str,), None, check=_scheduler,
        doc="kind = 'dask': join an existing cluster at this address (e.g. "
            "'tcp://10.0.0.5:8786') instead of starting a LocalCluster; then workers and "
            "memory_limit are the cluster's own and may not be given.")
    partitions: int | None = _key(
        (int,), None, check=_positive_int,
        doc="kind = 'dask': partitions of firms that do not come partitioned (synthetic "
            "firms, a single file). Default: 2 per worker.")


#: The sections in file order: ``{name: dataclass}``.
SECTIONS: dict[str, type] = {
    "study": StudySection, "firms": FirmsSection, "weights": WeightsSection,
    "areal": ArealSection, "density": DensitySection, "exposure": ExposureSection,
    "model": ModelSection, "robustness": RobustnessSection, "maps": MapsSection,
    "engine": EngineSection,
}

#: Every section and key: ``{section: {key: Key}}`` (the same declaration as the dataclasses).
SCHEMA: dict[str, dict[str, Key]] = {
    section: {f.name: f.metadata["key"] for f in dataclasses.fields(cls)}
    for section, cls in SECTIONS.items()
}


def example_config() -> str:
    """A commented TOML config listing every section and key with its choices and default.

    Keys without a default are shown commented out (``# key = ...``).

    Examples
    --------
    >>> import tomllib
    >>> text = example_config()
    >>> "[model]" in text and 'model = "lag"' in text
    True
    >>> sorted(tomllib.loads(text)["weights"])
    ['coincident', 'isolates']
    """
    lines = [
        "# geocluster study configuration.",
        "# Every key is optional except [firms] path (or [firms] synthetic).",
        "# Keys shown commented out have no fixed default; the comment says what happens.",
    ]
    for section, keys in SCHEMA.items():
        lines.append(f"\n[{section}]")
        for name, key in keys.items():
            doc = key.doc
            if key.choices:
                doc += (" " if doc else "") + "One of " + ", ".join(
                    toml_value(c) for c in key.choices) + "."
            lines.extend(f"# {text}" for text in (textwrap.wrap(doc, width=88) if doc else []))
            if key.default is None:
                lines.append(f"# {name} = ...")
            else:
                lines.append(f"{name} = {toml_value(key.default)}")
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """``value`` as one line of TOML (strings escaped by tomli_w).

    Examples
    --------
    >>> print(toml_value(["a\\"b", 2, True]))
    ["a\\"b", 2, true]
    """
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()
