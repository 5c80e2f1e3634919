"""Study configuration: a TOML file (or dict) -> a validated, fully defaulted dict.

Every section and key is declared in :data:`SCHEMA` with its type, allowed values and
default, so a typo or a bad value becomes a :class:`~geocluster.errors.ConfigError`
that names the key, the value given and what is allowed. The defaults make a
minimal config (a ``[firms]`` path) a complete study.
"""

from __future__ import annotations

import copy
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geocluster._distance import parse_distance
from geocluster.errors import ConfigError, GeoclusterWarning, InputError, WeightsError

__all__ = ["SCHEMA", "load_config", "validate_config", "example_config", "DEMO_FORMULA",
           "DEMO_COLUMNS", "NAME_COLUMNS"]


@dataclass(frozen=True)
class Key:
    """One config key: accepted Python types, allowed values or a check, default."""

    types: tuple[type, ...]
    default: Any = None
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    doc: str = ""


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


def _weights_spec(value) -> str | None:
    from geocluster.weights import VALID_SPECS, check_spec

    try:
        check_spec(value)
    except WeightsError:
        return VALID_SPECS
    return None


def _list_of(check) -> Callable[[Any], str | None]:
    def inner(values) -> str | None:
        for item in values:
            problem = check(item)
            if problem:
                return f"a list of {problem} (bad item {item!r})"
        return None

    return inner


def _list_of_choices(choices) -> Callable[[Any], str | None]:
    def inner(values) -> str | None:
        bad = [v for v in values if v not in choices]
        return f"a list drawn from {list(choices)} (bad items {bad})" if bad else None

    return inner


def _exposure_spec(value) -> str | None:
    method, _, distance = str(value).partition(":")
    if method in ("kde", "count") and distance and _distance(distance) is None:
        return None
    return "'kde:25km' or 'count:10km'"


def _bandwidth(value) -> str | None:
    if isinstance(value, str) and value in ("scott", "silverman", "cv"):
        return None
    return _distance(value)


_MODELS = ("ols", "lag", "error", "durbin")

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


def _text_list(values) -> str | None:
    bad = [v for v in values if not isinstance(v, str)]
    return f"a list of column names (text; bad items {bad})" if bad else None


def _code_list(values) -> str | None:
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (str, int, float))]
    return f"a list of codes, numbers or texts (bad items {bad})" if bad else None


def _focus_industries(value) -> str | None:
    if isinstance(value, str):
        return None if value.strip() else "an industry name (not empty) or a list of them"
    bad = [v for v in value if not isinstance(v, (str, int)) or isinstance(v, bool)]
    if bad or not value:
        return f"an industry name or a non-empty list of them (bad items {bad})"
    return None


def _column(doc: str, demo: str | None = None) -> Key:
    if demo is not None:
        doc += (f" Default: the demo's column '{demo}' if the data has it, else none (the steps "
                "that need it are skipped with a note).")
    return Key((str,), None, doc=doc)


SCHEMA: dict[str, dict[str, Key]] = {
    "study": {
        "name": Key((str,), "geocluster study", doc="Title used in the report."),
        "seed": Key((int,), 2026, check=_seed,
                    doc="Seed for every stochastic step (same seed, same output bytes)."),
        "description": Key((str,), "", doc="Free text shown in the report."),
    },
    "firms": {
        "path": Key((str,), None, doc="Firm file (CSV, TSV, Parquet, GeoPackage, GeoJSON, "
                    "Shapefile, FlatGeobuf); relative paths are read from the config's folder."),
        "synthetic": Key((int,), None, check=_positive_int,
                         doc="Instead of a path: this many synthetic firms (make_firms)."),
        "layer": Key((str,), None, doc="Layer of a multi-layer file (GeoPackage). Default: the "
                     "only layer; a file with several layers is an error listing them."),
        "encoding": Key((str,), None, doc="Text encoding of a CSV/TSV file, e.g. 'latin-1'. "
                        "Default: detected."),
        "na_values": Key((list,), None, check=_code_list,
                         doc="Codes that mean 'missing' in the register, e.g. [-99999, "
                             "'NOT AVAILABLE'] (read_firms(na_values=)). Default: only empty "
                             "cells are missing."),
        "lon": Key((str,), None, doc="Longitude / x column. Default: detected (lon, lng, long, "
                   "longitude, x; any case)."),
        "lat": Key((str,), None, doc="Latitude / y column. Default: detected (lat, latitude, y; "
                   "any case)."),
        "id": Key((str,), None, doc="Column with a unique firm id. Default: row numbers."),
        "crs": Key((str, int), "EPSG:4326",
                   doc="CRS of the coordinate columns, e.g. 'EPSG:4326' (degrees) or "
                       "'EPSG:5070' (metres)."),
        "on_invalid": Key((str,), "raise", choices=("raise", "drop"),
                          doc="Rows with missing or out-of-range coordinates: 'raise' stops, "
                              "'drop' drops them with a warning giving their count."),
        "name": Key((str,), None, doc="Column with the firm's name (map popups and tooltips). "
                    "Default: the first name-like column (" + ", ".join(NAME_COLUMNS[:5])
                    + ", ...; any case), if any."),
        "industry": _column("Column with the firm's industry.", "industry"),
        "employees": _column("Column with the firm's number of employees.", "employees"),
        "patents": _column("Column with the firm's patent count (innovator types).",
                           "patents_5y"),
        "age": _column("Column with the firm's age in years.", "age"),
        "focus_industry": Key((str, list), None, check=_focus_industries,
                              doc="Industry (or list of industries) whose density clusters are "
                                  "mapped. Default: the 3 industries with the highest maximum "
                                  "LQ over units with at least [areal] min_firms firms "
                                  "(industries with at least [density] min_firms firms)."),
    },
    "weights": {
        "coincident": Key((str,), "raise", choices=("raise", "jitter"),
                          doc="Firms sharing a location in distance/knn weights: 'raise' stops "
                              "with their count, 'jitter' moves them apart by a tiny random "
                              "offset (seeded by [study] seed). Applies to every weights spec "
                              "of the study."),
        "isolates": Key((str,), "keep", choices=("keep", "drop", "raise"),
                        doc="Units or firms without neighbours: 'keep' them (statistics that "
                            "cannot use them say so), 'drop' them with a warning, or 'raise'."),
    },
    "areal": {
        "enabled": Key((bool,), True, doc="Areal clusters: LQs, local Moran's I and Gi*."),
        "data": Key((str,), "firms", choices=("firms", "us_patents"),
                    doc="'firms': aggregate the study's firms; 'us_patents': bundled USPTO "
                        "patents by county and CBP technology employment."),
        "units": Key((str,), "counties",
                     doc="'counties' (bundled, contiguous US), 'grid', 'hex', or a polygon file."),
        "cell_size": Key((str, int, float), "50km", check=_distance,
                         doc="Cell size of a 'grid' or 'hex' (metres, or '50km')."),
        "weights": Key((str,), "queen", check=_weights_spec,
                       doc="Weights between units: 'queen', 'rook', 'knn:K', 'distance:25km', "
                           "'kernel:gaussian:25km'."),
        "permutations": Key((int,), 999, check=_positive_int,
                            doc="Permutations for the pseudo p-values."),
        "alpha": Key((float,), 0.05, check=_probability, doc="Significance level."),
        "correction": Key((str,), "fdr", choices=("none", "fdr", "bonferroni"),
                          doc="Multiple-testing correction of the local p-values."),
        "getis_ord": Key((bool,), True, doc="Also compute Getis-Ord Gi* hot spots."),
        "years": Key((list,), [2011, 2015], doc="Patent years (first, last) for 'us_patents'."),
        "min_firms": Key((int,), 30, doc="Minimum firms in a unit for its LQ (smaller units "
                         "get no LQ, with a warning giving their count)."),
        "missing": Key((str,), "raise", choices=("raise", "drop"),
                       doc="Units with a missing value of the analysed column: 'raise' stops, "
                           "'drop' leaves them out with a warning."),
    },
    "density": {
        "enabled": Key((bool,), True, doc="Density clusters (KDE, Monte Carlo)."),
        "bandwidth": Key((str, int, float), "25km", check=_bandwidth,
                         doc="KDE bandwidth: a distance, or 'scott', 'silverman', 'cv'."),
        "level": Key((float,), 0.95, check=_probability,
                     doc="Confidence level of the significant-density threshold."),
        "null": Key((str,), "firms", choices=("csr", "firms"),
                    doc="Null model: 'firms' (all firms' locations) or 'csr' (complete spatial "
                        "randomness)."),
        "simulations": Key((int,), 99, check=_positive_int, doc="Monte Carlo simulations."),
        "min_firms": Key((int,), 10, check=_positive_int,
                         doc="Minimum firms in a density cluster."),
        "cell_size": Key((str, int, float), "5km", check=_distance, doc="KDE grid cell size."),
        "k_density": Key((bool,), True, doc="Duranton-Overman K-density of the focus industry."),
        "k_density_bandwidth": Key((str, int, float), "10km", check=_distance,
                                   doc="Bandwidth of the K-density."),
        "k_density_max_distance": Key((str, int, float), "200km", check=_distance,
                                      doc="Largest distance of the K-density."),
    },
    "exposure": {
        "method": Key((str,), "kde", choices=("kde", "count", "lq", "region"),
                      doc="Clustering measure per firm: density at the firm, same-industry "
                          "neighbours within radius, LQ of its unit, or density-cluster "
                          "membership."),
        "bandwidth": Key((str, int, float), "25km", check=_bandwidth,
                         doc="Bandwidth for method 'kde'."),
        "radius": Key((str, int, float), "25km", check=_distance,
                      doc="Radius for method 'count'."),
        "same_industry": Key((bool,), True, doc="Count only firms of the firm's own industry."),
        "log": Key((bool,), True, doc="Use log(1 + measure)."),
        "standardize": Key((bool,), True, doc="Standardise to mean 0, sd 1 (as gc.exposure)."),
        "column": Key((str,), "cluster", doc="Name of the exposure column in the firm table."),
    },
    "model": {
        "enabled": Key((bool,), True, doc="Spatial regression and effects by group (innovator "
                                          "type when the data have it)."),
        "formula": Key((str,), None,
                       doc="Model formula, e.g. 'y ~ cluster + np.log(employees)'. Default: the "
                           f"demo's formula '{DEMO_FORMULA}' when the data has its variables, "
                           "else the model step is skipped with a note."),
        "model": Key((str,), "lag", choices=_MODELS, doc="Spatial model."),
        "weights": Key((str,), "knn:8", check=_weights_spec, doc="Weights between firms."),
        "method": Key((str,), "ml", choices=("ml", "gmm"), doc="Estimator."),
        "variable": Key((str,), None, doc="The clustering term whose effects are reported. "
                        "Default: the [exposure] column."),
        "by": Key((str,), None, doc="Group column for effects (innovator type). Default: "
                  "'serial' if the data has (or the study derives) it, else none."),
        "missing": Key((str,), "drop", choices=("drop", "raise"),
                       doc="Firms with a missing model variable: 'drop' them with a warning, "
                           "or 'raise'."),
        "impacts_simulations": Key((int,), 1000, check=_positive_int,
                                   doc="Simulations for the impacts' standard errors."),
    },
    "robustness": {
        "enabled": Key((bool,), True, doc="Robustness sweep over specifications."),
        "weights": Key((list,), None, check=_list_of(_weights_spec),
                       doc="Weights specs compared. Default: the model's weights and k/2, 2k "
                           "neighbours."),
        "models": Key((list,), None, check=_list_of_choices(_MODELS),
                      doc="Models compared. Default: 'ols' and the study's model."),
        "exposure": Key((list,), ["count:15km", "kde:25km"], check=_list_of(_exposure_spec),
                        doc="Alternative clustering measures besides [exposure]."),
        "focus": Key((list,), None,
                     doc="Terms or effects tracked (see geocluster.robustness). Default: the "
                         "terms of the study's model that hold the exposure column."),
        "lisa_weights": Key((list,), None, check=_list_of(_weights_spec),
                            doc="Weights compared in the cluster-map sensitivity ([] to skip). "
                                "Default: the areal weights and two alternatives."),
        "n_jobs": Key((int,), 1, doc="Parallel workers (1 = serial; same results)."),
    },
    "maps": {
        "enabled": Key((bool,), True, doc="Interactive map (map.html)."),
        "tiles": Key((str,), "OpenStreetMap",
                     doc="Background tiles: a folium tile name, or 'none' (works offline)."),
        "popup": Key((list,), None, check=_text_list,
                     doc="Columns shown in a firm's popup. Default: the name column, the id, "
                         "industry, size, exposure and density cluster (those present)."),
        "tooltip": Key((list,), None, check=_text_list,
                       doc="Columns shown on hover. Default: the name column and the id."),
        "self_contained": Key((bool,), True, doc="Inline every script and style (one file)."),
        "max_firms": Key((int,), 100_000, check=_positive_int,
                         doc="Firms drawn at most (a seeded sample beyond that)."),
    },
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
                    _toml_value(c) for c in key.choices) + "."
            for text in _wrap(doc):
                lines.append(f"# {text}")
            if key.default is None:
                lines.append(f"# {name} = ...")
            else:
                lines.append(f"{name} = {_toml_value(key.default)}")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int = 88) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width) if text else []


def _toml_value(value) -> str:
    """``value`` as TOML text (one line; strings escaped by tomli_w)."""
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def load_config(path: str | Path) -> dict:
    """Read and validate a TOML study file; relative paths are resolved from its folder.

    Raises
    ------
    ConfigError
        The file does not exist, is a folder, is not UTF-8 TOML, or has a bad key or value.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"study file '{path}' is a folder; give the path of a .toml file (e.g. "
            f"'{path / 'study.toml'}'; 'geocluster config' prints a template)."
        )
    if not path.is_file():
        raise ConfigError(
            f"study file '{path}' does not exist; check the path ('geocluster config' prints "
            "a template, 'geocluster validate FIRMS --write-config study.toml' writes one)."
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"'{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"'{path}' is not valid TOML: {exc}. Fix that line (strings need double quotes, "
            "sections look like [firms]); 'geocluster config' prints a valid template."
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read study file '{path}': {exc.strerror}; check its "
                          "permissions.") from None
    config = validate_config(raw, source=str(path))
    firm_path = config["firms"]["path"]
    if firm_path is not None and not Path(firm_path).is_absolute():
        config["firms"]["path"] = str((path.parent / firm_path).resolve())
    units = config["areal"]["units"]
    if units not in ("counties", "grid", "hex") and not Path(units).is_absolute():
        config["areal"]["units"] = str((path.parent / units).resolve())
    return config


def validate_config(raw: Mapping[str, Any], *, source: str = "the config") -> dict:
    """Check every key and value of ``raw`` and fill in defaults.

    Raises
    ------
    ConfigError
        Naming the section and key, the value given and the allowed values.

    Examples
    --------
    >>> config = validate_config({"firms": {"path": "firms.csv"}, "model": {"model": "error"}})
    >>> config["model"]["model"], config["model"]["weights"]
    ('error', 'knn:8')
    >>> validate_config({"model": {"modle": "lag"}})
    Traceback (most recent call last):
    ...
    geocluster.errors.ConfigError: the config: unknown key [model] modle; allowed keys are ...
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a table of sections, got {type(raw).__name__}.")
    unknown = [s for s in raw if s not in SCHEMA]
    if unknown:
        raise ConfigError(
            f"{source}: unknown section [{unknown[0]}]; allowed sections are "
            f"{', '.join('[' + s + ']' for s in SCHEMA)}."
        )
    config: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table of keys, got {given!r}.")
        for name in given:
            if name not in keys:
                raise ConfigError(
                    f"{source}: unknown key [{section}] {name}; allowed keys are "
                    f"{', '.join(keys)}."
                )
        config[section] = {}
        for name, key in keys.items():
            value = given.get(name, copy.deepcopy(key.default))
            if name in given and not (value is None and key.default is None):
                _check_value(source, section, name, key, value)
            config[section][name] = value
    firms = config["firms"]
    if firms["path"] is None and firms["synthetic"] is None:
        raise ConfigError(
            f"{source}: [firms] needs path = \"your_firms.csv\" (or synthetic = N for a "
            "demonstration on N synthetic firms)."
        )
    if firms["path"] is not None and firms["synthetic"] is not None:
        raise ConfigError(f"{source}: [firms] takes path or synthetic, not both; remove one "
                          "of them (path for your firms, synthetic = N for a demonstration).")
    years = config["areal"]["years"]
    if len(years) != 2 or not all(isinstance(y, int) for y in years) or years[0] > years[1]:
        raise ConfigError(
            f"{source}: [areal] years = {years!r}; give [first, last] within 2000-2015."
        )
    for message in _ignored_options(raw, config):
        warnings.warn(f"{source}: {message}", GeoclusterWarning, stacklevel=2)
    return config


def _ignored_options(raw: Mapping[str, Any], config: dict) -> list[str]:
    """Options given in ``raw`` that the study will not use, as warning texts."""
    # Keys given with a value other than their default (the example config repeats defaults).
    given = {
        section: {k for k, v in keys.items() if k in SCHEMA[section] and v != SCHEMA[section][k].default}
        for section, keys in raw.items() if isinstance(keys, Mapping)
    }
    notes = []
    if config["firms"]["synthetic"] is not None:
        unused = sorted(given.get("firms", set()) & {"layer", "encoding", "lon", "lat", "id",
                                                      "crs", "on_invalid"})
        if unused:
            notes.append(f"[firms] {', '.join(unused)} ignored: the firms are synthetic "
                         "([firms] synthetic); remove them or give [firms] path instead.")
    areal = config["areal"]
    if "years" in given.get("areal", set()) and areal["data"] != "us_patents":
        notes.append("[areal] years ignored: it applies only to data = 'us_patents'.")
    if "cell_size" in given.get("areal", set()) and areal["units"] not in ("grid", "hex"):
        notes.append(f"[areal] cell_size ignored: units = {areal['units']!r} is not a grid "
                     "('grid' or 'hex').")
    for section in ("areal", "density", "model", "robustness", "maps"):
        keys = given.get(section, set()) - {"enabled"}
        if keys and not config[section]["enabled"]:
            notes.append(f"[{section}] {', '.join(sorted(keys))} ignored: [{section}] enabled = "
                         "false.")
    if not config["model"]["enabled"] and config["robustness"]["enabled"] and given.get(
            "robustness"):
        notes.append("[robustness] ignored: the robustness sweep needs the model ([model] "
                     "enabled = false).")
    return notes


def _check_value(source: str, section: str, name: str, key: Key, value) -> None:
    where = f"{source}: [{section}] {name} = {value!r}"
    types = key.types
    ok_type = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        ok_type = True
    if not ok_type:
        expected = " or ".join(t.__name__ for t in types).replace("str", "text").replace(
            "bool", "true/false"
        )
        raise ConfigError(f"{where} has the wrong type; expected {expected}"
                          + (" (a TOML list such as [\"a\", \"b\"])" if list in types else "")
                          + (" (text needs double quotes)" if str in types and not
                             isinstance(value, str) and list not in types else "") + ".")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{where} is not allowed; choose one of {list(key.choices)}.")
    if key.check is not None:
        problem = key.check(value)
        if problem:
            raise ConfigError(f"{where} is not allowed; expected {problem}.")
