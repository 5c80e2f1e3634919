"""Study configuration: a TOML file (or dict) -> a validated, typed :class:`StudyConfig`.

Every section and key is declared once, in :mod:`geocluster.pipeline.schema`, with its
type, allowed values and default; :func:`validate_config` checks a raw table against it
ONCE and returns frozen sections, so the steps read ``config.model.weights``, never a
string lookup. A typo or a bad value becomes a :class:`~geocluster.errors.ConfigError`
that names the file, the key, the value given and what is allowed. Spec strings are
checked by their one parser: weights specs by :func:`geocluster.weights.spec.parse_weights_spec`,
units, exposure specs and focus terms by :mod:`geocluster.robustness.specs` (their ``InputError`` or
``WeightsError`` becomes a ``ConfigError`` naming the key). The defaults make a minimal
config (a ``[firms]`` path) a complete study.
"""

from __future__ import annotations

import dataclasses
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geocluster.errors import ConfigError, GeoclusterError, GeoclusterWarning
from geocluster.pipeline.schema import (
    DEMO_COLUMNS,
    DEMO_FORMULA,
    GRID_UNITS,
    NAME_COLUMNS,
    SCHEMA,
    SECTIONS,
    ArealSection,
    DensitySection,
    EngineSection,
    ExposureSection,
    FirmsSection,
    Key,
    MapsSection,
    ModelSection,
    RobustnessSection,
    StudySection,
    WeightsSection,
    example_config,
)
from geocluster.robustness.specs import (
    EXPOSURE_FORMS,
    FOCUS_FORMS,
    parse_exposure_spec,
    parse_focus_term,
    parse_units_spec,
)
from geocluster.weights.spec import VALID_SPECS, parse_weights_spec

__all__ = ["StudyConfig", "SCHEMA", "load_config", "validate_config", "example_config",
           "DEMO_FORMULA", "DEMO_COLUMNS", "NAME_COLUMNS", "BUILT_IN_UNITS"]

#: ``[areal] units`` words that are not file paths.
BUILT_IN_UNITS = ("counties", *GRID_UNITS)


@dataclass(frozen=True)
class StudyConfig:
    """A validated study config: one frozen dataclass per section.

    Build it with :func:`validate_config` or :func:`load_config`; change a copy with
    :meth:`replace`.

    Examples
    --------
    >>> config = validate_config({"firms": {"path": "firms.csv"}})
    >>> config.model.weights, config.areal.years
    ('knn:8', (2011, 2015))
    >>> config.replace("model", model="error").model.model
    'error'
    """

    study: StudySection
    firms: FirmsSection
    weights: WeightsSection
    areal: ArealSection
    density: DensitySection
    exposure: ExposureSection
    model: ModelSection
    robustness: RobustnessSection
    maps: MapsSection
    engine: EngineSection

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The config as plain TOML-like tables (lists for tuples): run.json, the report.

        Examples
        --------
        >>> validate_config({"firms": {"synthetic": 10}}).to_dict()["areal"]["years"]
        [2011, 2015]
        """
        return {name: {f.name: _thawed(getattr(getattr(self, name), f.name))
                       for f in dataclasses.fields(SECTIONS[name])} for name in SECTIONS}

    def replace(self, section: str, **changes: Any) -> StudyConfig:
        """A copy with keys of one section changed (not validated again)."""
        new = dataclasses.replace(getattr(self, section), **changes)
        return dataclasses.replace(self, **{section: new})


def _thawed(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a TOML study file; relative paths are resolved from its folder.

    Parameters
    ----------
    path
        The study file (``geocluster config`` writes a commented example).

    Returns
    -------
    StudyConfig
        One frozen, validated section per config table, defaults filled in.

    Raises
    ------
    ConfigError
        The file does not exist, is a folder, is not UTF-8 TOML, or has a bad key or value.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "study.toml").write_text("[firms]" + chr(10) + "path = 'firms.csv'")
    >>> config = load_config(folder / "study.toml")
    >>> Path(config.firms.path) == folder / "firms.csv", config.model.weights
    (True, 'knn:8')
    """
    path = Path(path)
    raw = _read_toml(path)
    config = validate_config(raw, source=str(path))
    firms = config.firms
    if firms.path is not None and not Path(firms.path).is_absolute():
        config = config.replace("firms", path=str((path.parent / firms.path).resolve()))
    units = config.areal.units
    if units not in BUILT_IN_UNITS and not Path(units).is_absolute() and ":" not in units:
        config = config.replace("areal", units=str((path.parent / units).resolve()))
    return config


def _read_toml(path: Path) -> dict:
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
        return tomllib.loads(path.read_text(encoding="utf-8"))
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


def validate_config(raw: Mapping[str, Any], *, source: str = "the config") -> StudyConfig:
    """Check every key and value of ``raw`` once and fill in defaults.

    Raises
    ------
    ConfigError
        Naming the section and key, the value given and the allowed values.

    Examples
    --------
    >>> config = validate_config({"firms": {"path": "firms.csv"}, "model": {"model": "error"}})
    >>> config.model.model, config.model.weights
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
    sections = {name: _section(raw, name, source) for name in SCHEMA}
    config = StudyConfig(**sections)
    _check_across_keys(config, source)
    for message in _ignored_options(raw, config):
        warnings.warn(f"{source}: {message}", GeoclusterWarning, stacklevel=2)
    return config


def _section(raw: Mapping[str, Any], section: str, source: str) -> Any:
    keys = SCHEMA[section]
    given = raw.get(section, {})
    if not isinstance(given, Mapping):
        raise ConfigError(f"{source}: [{section}] must be a table of keys, got {given!r}.")
    for name in given:
        if name not in keys:
            raise ConfigError(
                f"{source}: unknown key [{section}] {name}; allowed keys are {', '.join(keys)}."
            )
    values = {}
    for name, key in keys.items():
        if name in given and not (given[name] is None and key.default is None):
            _check_value(source, section, name, key, given[name])
            values[name] = _frozen(given[name])
    return SECTIONS[section](**values)


def _check_across_keys(config: StudyConfig, source: str) -> None:
    firms = config.firms
    if firms.path is None and firms.synthetic is None:
        raise ConfigError(
            f"{source}: [firms] needs path = \"your_firms.csv\" (or synthetic = N for a "
            "demonstration on N synthetic firms)."
        )
    if firms.path is not None and firms.synthetic is not None:
        raise ConfigError(f"{source}: [firms] takes path or synthetic, not both; remove one "
                          "of them (path for your firms, synthetic = N for a demonstration).")
    years = list(config.areal.years)
    if len(years) != 2 or not all(isinstance(y, int) for y in years) or years[0] > years[1]:
        raise ConfigError(
            f"{source}: [areal] years = {years!r}; give [first, last] within 2000-2015."
        )
    areal = config.areal
    _check_spec(source, "areal", "units", areal.units, "units", cell_size=areal.cell_size)
    engine = config.engine
    if engine.scheduler is not None:
        given = [k for k in ("workers", "memory_limit") if getattr(engine, k) is not None]
        if given:
            raise ConfigError(
                f"{source}: [engine] scheduler = {engine.scheduler!r} joins an existing "
                f"cluster, whose workers are its own; remove [engine] {', '.join(given)} "
                "(they size the LocalCluster started when no scheduler is given)."
            )


def _ignored_options(raw: Mapping[str, Any], config: StudyConfig) -> list[str]:
    """Options given in ``raw`` that the study will not use, as warning texts."""
    # Keys given with a value other than their default (the example config repeats defaults).
    given = {
        section: {k for k, v in keys.items()
                  if k in SCHEMA[section] and _frozen(v) != _frozen(SCHEMA[section][k].default)}
        for section, keys in raw.items() if isinstance(keys, Mapping)
    }
    notes = []
    if config.firms.synthetic is not None:
        unused = sorted(given.get("firms", set()) & {"layer", "encoding", "lon", "lat", "id",
                                                      "crs", "on_invalid"})
        if unused:
            notes.append(f"[firms] {', '.join(unused)} ignored: the firms are synthetic "
                         "([firms] synthetic); remove them or give [firms] path instead.")
    areal = config.areal
    if "years" in given.get("areal", set()) and areal.data != "us_patents":
        notes.append("[areal] years ignored: it applies only to data = 'us_patents'.")
    if "cell_size" in given.get("areal", set()) and areal.units not in GRID_UNITS:
        notes.append(f"[areal] cell_size ignored: units = {areal.units!r} is not a grid "
                     "('grid' or 'hex').")
    for section in ("areal", "density", "model", "robustness", "maps"):
        keys = given.get(section, set()) - {"enabled"}
        if keys and not getattr(config, section).enabled:
            notes.append(f"[{section}] {', '.join(sorted(keys))} ignored: [{section}] enabled = "
                         "false.")
    unused = sorted(given.get("engine", set()) - {"kind"})
    if unused and config.engine.kind == "local":
        notes.append(f"[engine] {', '.join(unused)} ignored: [engine] kind = 'local' runs "
                     "every step in this process; set kind = \"dask\" to use them.")
    if not config.model.enabled and config.robustness.enabled and given.get("robustness"):
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
    if key.spec is not None and key.spec != "units":  # units: with cell_size, across keys
        for item in (value if key.each else [value]):
            problem = _spec_problem(key.spec, item, f"[{section}] {name}")
            if problem:
                expected = f"a list of {problem} (bad item {item!r})" if key.each else problem
                raise ConfigError(f"{where} is not allowed; expected {expected}.")


def _spec_problem(spec: str, value: Any, where: str) -> str | None:
    """What ``value`` should be, by the spec's one parser, or None if it parses."""
    try:
        if spec == "weights":
            parse_weights_spec(value)
        elif spec == "exposure":
            parse_exposure_spec(value, where=where)
        elif spec == "focus":
            parse_focus_term(value, where=where)
    except GeoclusterError:
        return {"weights": VALID_SPECS, "exposure": EXPOSURE_FORMS, "focus": FOCUS_FORMS}[spec]
    return None


def _check_spec(source: str, section: str, name: str, value: Any, spec: str,
                **options: Any) -> None:
    """A spec checked with other keys (units with their cell size), errors naming the key."""
    try:
        parse_units_spec(value, where=f"[{section}] {name}", **options)
    except GeoclusterError as exc:
        raise ConfigError(f"{source}: {exc}") from None
