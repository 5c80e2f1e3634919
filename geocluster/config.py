"""Study configuration: a TOML file (or dict) -> a validated, fully defaulted dict.

Every section and key is declared in :data:`SCHEMA` with its type, allowed values and
default, so a typo or a bad value becomes a :class:`~geocluster.errors.ConfigError`
that names the key, the value given and what is allowed. The defaults make a
minimal config (a ``[firms]`` path) a complete study.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geocluster.errors import ConfigError, InputError
from geocluster.units import parse_distance

__all__ = ["SCHEMA", "load_config", "validate_config", "example_config"]


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


def _probability(value) -> str | None:
    return None if 0 < value < 1 else "a number between 0 and 1 (exclusive)"


def _weights_spec(value) -> str | None:
    from geocluster.weights import _DIST_RE, _KERNEL_RE, _KNN_RE, VALID_SPECS

    text = str(value).strip().lower()
    if text in ("queen", "rook") or _KNN_RE.match(text):
        return None
    match = _DIST_RE.match(text) or _KERNEL_RE.match(text)
    if match and _distance(match.groups()[-1]) is None:
        return None
    return VALID_SPECS


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

SCHEMA: dict[str, dict[str, Key]] = {
    "study": {
        "name": Key((str,), "geocluster study", doc="Title used in the report."),
        "seed": Key((int,), 2026, doc="Seed for every stochastic step."),
        "description": Key((str,), "", doc="Free text shown in the report."),
    },
    "firms": {
        "path": Key((str,), None, doc="Firm file (CSV, Parquet, GeoPackage, GeoJSON)."),
        "synthetic": Key((int,), None, check=_positive_int,
                         doc="Instead of a path: this many synthetic firms (make_firms)."),
        "lon": Key((str,), None), "lat": Key((str,), None), "id": Key((str,), None),
        "crs": Key((str, int), "EPSG:4326"),
        "on_invalid": Key((str,), "raise", choices=("raise", "drop")),
        "industry": Key((str,), "industry", doc="Column with the firm's industry."),
        "employees": Key((str,), "employees"),
        "patents": Key((str,), "patents_5y"),
        "age": Key((str,), "age"),
        "focus_industry": Key((str,), None,
                              doc="Industry whose density clusters are mapped (default: largest)."),
    },
    "areal": {
        "enabled": Key((bool,), True),
        "data": Key((str,), "firms", choices=("firms", "us_patents"),
                    doc="'firms': aggregate the study's firms; 'us_patents': bundled USPTO "
                        "patents by county and CBP technology employment."),
        "units": Key((str,), "counties",
                     doc="'counties' (bundled, contiguous US), 'grid', 'hex', or a polygon file."),
        "cell_size": Key((str, int, float), "50km", check=_distance),
        "weights": Key((str,), "queen", check=_weights_spec),
        "permutations": Key((int,), 999, check=_positive_int),
        "alpha": Key((float,), 0.05, check=_probability),
        "correction": Key((str,), "fdr", choices=("none", "fdr", "bonferroni")),
        "getis_ord": Key((bool,), True),
        "years": Key((list,), [2011, 2015], doc="Patent years (first, last) for 'us_patents'."),
        "min_firms": Key((int,), 30, doc="Minimum firms in a unit for its LQ."),
    },
    "density": {
        "enabled": Key((bool,), True),
        "bandwidth": Key((str, int, float), "25km", check=_bandwidth),
        "level": Key((float,), 0.95, check=_probability),
        "null": Key((str,), "firms", choices=("csr", "firms")),
        "simulations": Key((int,), 99, check=_positive_int),
        "min_firms": Key((int,), 10, check=_positive_int),
        "cell_size": Key((str, int, float), "5km", check=_distance),
        "k_density": Key((bool,), True, doc="Duranton-Overman K-density of the focus industry."),
        "k_density_bandwidth": Key((str, int, float), "10km", check=_distance),
        "k_density_max_distance": Key((str, int, float), "200km", check=_distance),
    },
    "exposure": {
        "method": Key((str,), "kde", choices=("kde", "count", "lq", "region")),
        "bandwidth": Key((str, int, float), "25km", check=_bandwidth),
        "radius": Key((str, int, float), "25km", check=_distance),
        "same_industry": Key((bool,), True),
        "log": Key((bool,), True),
        "standardize": Key((bool,), True, doc="Standardise to mean 0, sd 1 (as gc.exposure)."),
        "column": Key((str,), "cluster", doc="Name of the exposure column in the firm table."),
    },
    "model": {
        "enabled": Key((bool,), True),
        "formula": Key((str,), "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"),
        "model": Key((str,), "lag", choices=_MODELS),
        "weights": Key((str,), "knn:8", check=_weights_spec),
        "method": Key((str,), "ml", choices=("ml", "gmm")),
        "variable": Key((str,), "cluster", doc="The clustering term whose effects are reported."),
        "by": Key((str,), "serial", doc="Group column for effects (innovator type)."),
        "impacts_simulations": Key((int,), 1000, check=_positive_int),
    },
    "robustness": {
        "enabled": Key((bool,), True),
        "weights": Key((list,), ["knn:8", "knn:4", "knn:16"],
                       check=_list_of(_weights_spec)),
        "models": Key((list,), ["ols", "lag", "error"], check=_list_of_choices(_MODELS)),
        "exposure": Key((list,), ["count:15km", "kde:25km"], check=_list_of(_exposure_spec),
                        doc="Alternative clustering measures besides [exposure]."),
        "focus": Key((list,), ["serial:cluster", "cluster", "slope:cluster|serial=1",
                               "slope:cluster|serial=0"],
                     doc="Terms or effects tracked (see geocluster.robustness)."),
        "lisa_weights": Key((list,), ["knn:6", "knn:10", "queen"], check=_list_of(_weights_spec),
                            doc="Weights compared in the cluster-map sensitivity ([] to skip)."),
        "n_jobs": Key((int,), 1),
    },
    "maps": {
        "enabled": Key((bool,), True),
        "tiles": Key((str,), "none", doc="'none' (works offline) or a folium tile name."),
        "self_contained": Key((bool,), True),
        "max_firms": Key((int,), 100_000, check=_positive_int),
    },
}


def example_config() -> str:
    """A commented TOML config listing every section and key with its default.

    Examples
    --------
    >>> text = example_config()
    >>> "[model]" in text and 'model = "lag"' in text
    True
    """
    lines = ["# geocluster study configuration. Every key is optional except [firms] path."]
    for section, keys in SCHEMA.items():
        lines.append(f"\n[{section}]")
        for name, key in keys.items():
            comment = f"  # {key.doc}" if key.doc else ""
            if key.choices:
                comment += f"  # one of {list(key.choices)}" if not comment else f"; one of {list(key.choices)}"
            if key.default is None:
                lines.append(f"# {name} = ...{comment}")
            else:
                lines.append(f"{name} = {_toml_value(key.default)}{comment}")
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def load_config(path: str | Path) -> dict:
    """Read and validate a TOML study file; relative paths are resolved from its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study file '{path}' does not exist.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"'{path}' is not valid TOML: {exc}.") from None
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
        raise ConfigError(f"{source}: [firms] takes path or synthetic, not both.")
    years = config["areal"]["years"]
    if len(years) != 2 or not all(isinstance(y, int) for y in years) or years[0] > years[1]:
        raise ConfigError(
            f"{source}: [areal] years = {years!r}; give [first, last] within 2000-2015."
        )
    return config


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
        raise ConfigError(f"{where} has the wrong type; expected {expected}.")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{where} is not allowed; choose one of {list(key.choices)}.")
    if key.check is not None:
        problem = key.check(value)
        if problem:
            raise ConfigError(f"{where} is not allowed; expected {problem}.")
