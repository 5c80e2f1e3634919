"""The spec mini-languages of exposure measures, areal units and focus terms: one parser each.

The Python API (:func:`geocluster.robustness`) and the study config (``[areal] units``,
``[robustness] exposure`` and ``focus``) read these texts through the parsers here, so
both accept the same forms and give the same messages. A parser returns a frozen
dataclass; an error is an :class:`~geocluster.errors.InputError` that names the spec,
the calling function (``where``) and the accepted forms (the config wraps it as a
``ConfigError`` naming its key). The module imports no scientific package, so the config
checks and the command line stay instant; building what a spec describes (units, measures)
is :mod:`geocluster.robustness.measures`.

Exposure specs (:func:`parse_exposure_spec`)
    ``"kde:BANDWIDTH"``: leave-one-out kernel density at each firm, BANDWIDTH a distance
    (``"25km"``, ``"500m"``) or ``"scott"``, ``"silverman"``, ``"cv"``;
    ``"count:RADIUS"``: same-industry firms within RADIUS (a distance);
    ``"lq@UNITS"``: the location quotient of the firm's areal unit, UNITS a units spec.

Units specs (:func:`parse_units_spec`; built by :func:`geocluster.robustness.measures.build_units`)
    ``"counties"`` (bundled, contiguous US); ``"grid:SIZE"`` or ``"hex:SIZE"`` (square
    or hexagonal cells of that size over the firms, clipped to them); ``"grid"`` or
    ``"hex"`` with the size given separately (``cell_size=``, the config's
    ``[areal] cell_size``); or the path of a polygon file (GeoPackage, Shapefile,
    GeoJSON, ...).

Focus terms (:func:`parse_focus_term`, :func:`parse_focus_terms`)
    A coefficient name as :func:`geocluster.regress` reports it (``"cluster"``,
    ``"serial:cluster"``, ``"I(cluster ** 2)"``, ``"rho"``), or an effect
    ``"slope:VAR|BY=GROUP"`` (the direct marginal effect of VAR for the firms with
    BY == GROUP, at the median of VAR) with an optional level ``"@AT"``:
    ``"slope:cluster|serial=1@0.5"``.

Examples
--------
>>> parse_exposure_spec("kde:25km", where="robustness").exposure_options()
{'method': 'kde', 'bandwidth': '25km'}
>>> parse_units_spec("hex:50km", where="robustness")
UnitsSpec(text='hex:50km', kind='grid', shape='hex', cell_size='50km', path=None)
>>> parse_focus_term("slope:cluster|serial=1@0.5", where="robustness")
FocusTerm(text='slope:cluster|serial=1@0.5', variable='cluster', by='serial', group='1', at=0.5)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from geocluster._distance import parse_distance
from geocluster.errors import InputError

__all__ = [
    "ExposureSpec",
    "UnitsSpec",
    "FocusTerm",
    "parse_exposure_spec",
    "is_exposure_spec",
    "parse_units_spec",
    "parse_focus_term",
    "parse_focus_terms",
    "EXPOSURE_FORMS",
    "UNITS_FORMS",
    "FOCUS_FORMS",
    "BANDWIDTH_RULES",
    "spec_prefix",
]

#: The accepted forms, as the messages list them.
EXPOSURE_FORMS = ("'kde:BANDWIDTH' (e.g. 'kde:25km'), 'count:RADIUS' (e.g. 'count:10km') "
                  "or 'lq@UNITS' (e.g. 'lq@counties', 'lq@hex:50km')")
UNITS_FORMS = ("'counties', 'grid:SIZE' or 'hex:SIZE' (e.g. 'hex:50km'), 'grid' or 'hex' with "
               "a cell size, or the path of a polygon file (GeoPackage, Shapefile, GeoJSON)")
FOCUS_FORMS = ("a coefficient name (e.g. 'cluster', 'serial:cluster') or an effect "
               "'slope:VAR|BY=GROUP' with an optional level '@AT' (e.g. "
               "'slope:cluster|serial=1@0.5')")
#: Rule-of-thumb and cross-validated bandwidths ``kde:`` accepts besides distances.
BANDWIDTH_RULES = ("scott", "silverman", "cv")

_EXPOSURE_METHODS = ("kde", "count")
_GRID_SHAPES: dict[str, Literal["square", "hex"]] = {"grid": "square", "hex": "hex"}
_EFFECT_RE = re.compile(r"^slope:(?P<var>[^|@]+)\|(?P<by>[^=]+)=(?P<group>[^@]+)(?:@(?P<at>.+))?$")


def spec_prefix(where: str) -> str:
    """``"where: "`` (the start of a message), or nothing for an empty ``where``.

    Examples
    --------
    >>> spec_prefix("robustness"), spec_prefix("")
    ('robustness: ', '')
    """
    return f"{where}: " if where else ""


# --- units ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitsSpec:
    """Areal units as a spec says: bundled counties, a regular grid, or a polygon file.

    Attributes
    ----------
    text : str
        The spec as given (the label of an ``lq@`` exposure alternative).
    kind : str
        ``"counties"``, ``"grid"`` or ``"file"``.
    shape : str or None
        ``"square"`` or ``"hex"`` for a grid.
    cell_size : str, float or None
        A grid's cell size as given (``"50km"`` or metres).
    path : Path or None
        A polygon file's path.

    Examples
    --------
    >>> parse_units_spec("grid", where="study", cell_size="25km").cell_size
    '25km'
    """

    text: str
    kind: str
    shape: Literal["square", "hex"] | None = None
    cell_size: str | float | None = None
    path: Path | None = None


def parse_units_spec(
    text: str,
    *,
    where: str,
    cell_size: str | float | None = None,
    base: str | Path | None = None,
) -> UnitsSpec:
    """Parse a units spec (``"counties"``, ``"grid:50km"``, ``"hex"``, a polygon file).

    Parameters
    ----------
    text
        The spec.
    where
        The calling function or config key, for the messages.
    cell_size
        The cell size of a bare ``"grid"``/``"hex"`` (the config's ``[areal] cell_size``);
        ``"grid:SIZE"`` carries its own.
    base
        Folder a relative file path is taken from (the config's folder); default: as given.

    Returns
    -------
    UnitsSpec

    Raises
    ------
    InputError
        Naming the spec and the accepted forms. A file is only read (and its existence
        checked) by :func:`geocluster.robustness.measures.build_units`.

    Examples
    --------
    >>> parse_units_spec("counties", where="robustness").kind
    'counties'
    >>> parse_units_spec("grid", where="study", cell_size=5000)
    UnitsSpec(text='grid', kind='grid', shape='square', cell_size=5000, path=None)
    >>> parse_units_spec("countries", where="robustness")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: robustness: units spec 'countries' is not one of ...
    """
    head = spec_prefix(where)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{head}units spec {text!r} must be text: {UNITS_FORMS}.")
    spec = text.strip()
    if spec == "counties":
        return UnitsSpec(text=text, kind="counties")
    shape_word, colon, size = spec.partition(":")
    if shape_word in _GRID_SHAPES:
        if colon:
            return UnitsSpec(text=text, kind="grid", shape=_GRID_SHAPES[shape_word],
                             cell_size=_cell_size(size, text, head))
        if cell_size is None:
            raise InputError(
                f"{head}units spec {text!r} needs a cell size: write '{shape_word}:SIZE' "
                f"(e.g. '{shape_word}:50km') or give cell_size=."
            )
        return UnitsSpec(text=text, kind="grid", shape=_GRID_SHAPES[shape_word],
                         cell_size=_cell_size(cell_size, text, head))
    path = Path(spec)
    if not (path.suffix or "/" in spec or "\\" in spec):
        raise InputError(f"{head}units spec {text!r} is not one of {UNITS_FORMS}.")
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return UnitsSpec(text=text, kind="file", path=path)


def _cell_size(size, text: str, head: str) -> str | float:
    """The cell size as given, once it is known to be a distance."""
    if isinstance(size, str) and not size.strip():
        raise InputError(f"{head}units spec {text!r} has no size after ':'; e.g. 'hex:50km'.")
    try:
        parse_distance(size, name="cell size")
    except InputError as exc:
        raise InputError(f"{head}units spec {text!r}: {exc}") from None
    return size.strip() if isinstance(size, str) else size


# --- exposure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureSpec:
    """A clustering measure as a spec says: ``kde:``, ``count:`` or ``lq@``.

    Attributes
    ----------
    text : str
        The spec as given (the label of the exposure alternative).
    method : str
        ``"kde"``, ``"count"`` or ``"lq"``.
    distance : str, float or None
        The bandwidth (``kde``) or radius (``count``) as given.
    units : UnitsSpec or None
        The areal units of an ``lq@`` measure.

    Examples
    --------
    >>> parse_exposure_spec("lq@grid:50km", where="robustness").units.cell_size
    '50km'
    """

    text: str
    method: str
    distance: str | float | None = None
    units: UnitsSpec | None = None

    def exposure_options(self) -> dict:
        """``method`` and its distance, as :func:`geocluster.exposure` takes them.

        The units of an ``lq`` measure are built with
        :func:`geocluster.robustness.measures.build_units` and passed as ``units=``.

        Examples
        --------
        >>> parse_exposure_spec("count:10km", where="robustness").exposure_options()
        {'method': 'count', 'radius': '10km'}
        """
        if self.method == "kde":
            return {"method": "kde", "bandwidth": self.distance}
        if self.method == "count":
            return {"method": "count", "radius": self.distance}
        return {"method": "lq"}


def is_exposure_spec(text: object) -> bool:
    """Whether ``text`` is written as an exposure spec (``kde:``, ``count:``, ``lq@``).

    Examples
    --------
    >>> is_exposure_spec("kde:25km"), is_exposure_spec("lq@counties"), is_exposure_spec("cluster")
    (True, True, False)
    """
    if not isinstance(text, str):
        return False
    method, colon, _ = text.strip().partition(":")
    return bool(colon and method in _EXPOSURE_METHODS) or text.strip().startswith("lq@")


def parse_exposure_spec(text: str, *, where: str) -> ExposureSpec:
    """Parse an exposure spec: ``"kde:25km"``, ``"count:10km"`` or ``"lq@counties"``.

    Parameters
    ----------
    text
        The spec.
    where
        The calling function or config key, for the messages.

    Returns
    -------
    ExposureSpec

    Raises
    ------
    InputError
        Naming the spec and the accepted forms (or what is wrong with its distance or units).

    Examples
    --------
    >>> parse_exposure_spec("kde:cv", where="robustness").distance
    'cv'
    >>> parse_exposure_spec("kde25", where="robustness")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: robustness: exposure spec 'kde25' is not one of 'kde:BANDWIDTH' ...
    """
    head = spec_prefix(where)
    if not is_exposure_spec(text):
        raise InputError(f"{head}exposure spec {text!r} is not one of {EXPOSURE_FORMS}.")
    spec = text.strip()
    if spec.startswith("lq@"):
        units_text = spec[3:]
        if not units_text.strip():
            raise InputError(f"{head}exposure spec {text!r} names no units after 'lq@'; give "
                             f"{UNITS_FORMS}.")
        try:
            units = parse_units_spec(units_text, where="")
        except InputError as exc:
            raise InputError(f"{head}exposure spec {text!r}: {exc}") from None
        return ExposureSpec(text=text, method="lq", units=units)
    method, _, distance = spec.partition(":")
    distance = distance.strip()
    if method == "kde" and distance.lower() in BANDWIDTH_RULES:
        return ExposureSpec(text=text, method="kde", distance=distance.lower())
    what = "bandwidth" if method == "kde" else "radius"
    try:
        parse_distance(distance, name=what)
    except InputError:
        rules = " or 'scott', 'silverman', 'cv'" if method == "kde" else ""
        raise InputError(
            f"{head}exposure spec {text!r}: the {what} {distance!r} is not a distance; write "
            f"'{method}:25km' or '{method}:500m'{rules}. Accepted forms: {EXPOSURE_FORMS}."
        ) from None
    return ExposureSpec(text=text, method=method, distance=distance)


# --- focus terms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FocusTerm:
    """A tracked term: a coefficient name, or a slope effect for one group.

    Attributes
    ----------
    text : str
        The term as given (the ``term`` column of the robustness table).
    variable, by, group : str or None
        The effect ``slope:VARIABLE|BY=GROUP`` (None for a coefficient).
    at : float or None
        The level of VARIABLE the slope is evaluated at (None: its median).

    Examples
    --------
    >>> parse_focus_term("serial:cluster", where="robustness").is_effect
    False
    """

    text: str
    variable: str | None = None
    by: str | None = None
    group: str | None = None
    at: float | None = None

    @property
    def is_effect(self) -> bool:
        """True for a ``slope:`` effect, False for a coefficient name."""
        return self.variable is not None


def parse_focus_term(text: str, *, where: str) -> FocusTerm:
    """Parse one focus term: a coefficient name or ``"slope:VAR|BY=GROUP[@AT]"``.

    Parameters
    ----------
    text
        The term.
    where
        The calling function or config key, for the messages.

    Returns
    -------
    FocusTerm
        A coefficient name is checked against the model's terms only when a model is fitted.

    Raises
    ------
    InputError
        A term that is not text, or a ``slope:`` effect not in the accepted form.

    Examples
    --------
    >>> parse_focus_term("slope:cluster|serial=1", where="robustness").at is None
    True
    >>> parse_focus_term("slope:cluster", where="robustness")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: robustness: focus term 'slope:cluster' is not an effect ...
    """
    head = spec_prefix(where)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{head}focus term {text!r} must be text: {FOCUS_FORMS}.")
    if not text.startswith("slope:"):
        return FocusTerm(text=text)
    match = _EFFECT_RE.match(text)
    parts = [] if match is None else [match[k].strip() for k in ("var", "by", "group")]
    if match is None or not all(parts):
        raise InputError(
            f"{head}focus term {text!r} is not an effect 'slope:VAR|BY=GROUP' with an optional "
            "level '@AT' (e.g. 'slope:cluster|serial=1' or 'slope:cluster|serial=1@0.5')."
        )
    level = match["at"]
    at = None if level is None else _level(level)
    if at is not None and not math.isfinite(at):
        raise InputError(
            f"{head}focus term {text!r}: the level after '@' must be a number, e.g. "
            f"'slope:{parts[0]}|{parts[1]}={parts[2]}@0.5'."
        )
    return FocusTerm(text=text, variable=parts[0], by=parts[1], group=parts[2], at=at)


def _level(text: str) -> float:
    """The number after ``@`` (NaN when it is not one)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_focus_terms(
    focus: str | Sequence[str] | None, *, where: str
) -> tuple[FocusTerm, ...] | None:
    """Parse ``focus=``: one term, a list of terms, or None (the model's clustering terms).

    Examples
    --------
    >>> [t.text for t in parse_focus_terms(["cluster", "slope:cluster|serial=1"], where="x")]
    ['cluster', 'slope:cluster|serial=1']
    >>> parse_focus_terms(None, where="x") is None
    True
    """
    if focus is None:
        return None
    items = [focus] if isinstance(focus, str) else focus
    if not isinstance(items, Sequence) or not items:
        raise InputError(
            f"{spec_prefix(where)}focus= is empty; name at least one term, e.g. 'cluster' (or "
            "focus=None for the formula's clustering terms)."
            if isinstance(items, Sequence) else
            f"{spec_prefix(where)}focus={focus!r} must be a term or a list of terms: {FOCUS_FORMS}."
        )
    return tuple(parse_focus_term(item, where=where) for item in items)
