"""The weights specification grammar: ``"queen"``, ``"knn:8"``, ``"distance:25km"``, ...

One parser, :func:`parse_weights_spec`, for the Python API (:func:`geocluster.weights`)
and the study configuration: it needs no data, so a configuration file or a command line
can be checked before anything is read. Whether ``K`` fits the number of units is checked
when the weights are built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from geocluster.errors import InputError, WeightsError
from geocluster.units import parse_distance

__all__ = [
    "KERNELS",
    "TRANSFORMS",
    "VALID_SPECS",
    "WeightsSpec",
    "check_spec",
    "parse_weights_spec",
]

#: The valid forms, as every message lists them.
VALID_SPECS = (
    "'queen', 'rook', 'knn:K' (e.g. 'knn:8'), 'distance:D' (e.g. 'distance:25km'), "
    "'kernel:NAME:D' (e.g. 'kernel:gaussian:25km'), or a libpysal.graph.Graph"
)
#: Kernel names of ``"kernel:NAME:D"`` (libpysal's kernels).
KERNELS = ("gaussian", "triangular", "epanechnikov", "bisquare", "cosine", "boxcar", "exponential")
#: Transformations of :func:`geocluster.weights` (``transform=``).
TRANSFORMS = ("r", "b", "v", "d")

_KNN_RE = re.compile(r"^knn:(\d+)$")
_DIST_RE = re.compile(r"^distance:(.+)$")
_KERNEL_RE = re.compile(r"^kernel:([a-z]+):(.+)$")


@dataclass(frozen=True)
class WeightsSpec:
    """A parsed weights specification.

    Attributes
    ----------
    text
        The normalised specification, e.g. ``"knn:8"`` or ``"kernel:gaussian:25km"``.
    kind
        ``"queen"``, ``"rook"``, ``"knn"``, ``"distance"`` or ``"kernel"``.
    k
        The number of neighbours of ``"knn"`` (else None).
    distance
        The band of ``"distance"`` or the bandwidth of ``"kernel"``, in metres (else None).
    kernel
        The kernel name of ``"kernel"`` (else None).
    """

    text: str
    kind: str
    k: int | None = None
    distance: float | None = None
    kernel: str | None = None

    def __str__(self) -> str:
        return self.text

    @property
    def needs_metres(self) -> bool:
        """True for specs that measure distances (``distance``, ``kernel``)."""
        return self.kind in ("distance", "kernel")

    @property
    def is_contiguity(self) -> bool:
        """True for ``queen`` and ``rook`` (polygons only)."""
        return self.kind in ("queen", "rook")


def parse_weights_spec(spec) -> WeightsSpec:
    """Parse a weights specification string (case and surrounding spaces do not matter).

    Parameters
    ----------
    spec
        ``"queen"``, ``"rook"``, ``"knn:K"``, ``"distance:D"`` or ``"kernel:NAME:D"``,
        with ``D`` a distance such as ``"25km"`` or ``"500 m"``.

    Returns
    -------
    WeightsSpec

    Raises
    ------
    WeightsError
        ``spec`` is not a string or not one of the valid forms; the message names the
        spec and lists the valid forms.

    Examples
    --------
    >>> parse_weights_spec(" KNN:08 ")
    WeightsSpec(text='knn:8', kind='knn', k=8, distance=None, kernel=None)
    >>> parse_weights_spec("kernel:Gaussian:25km").distance
    25000.0
    """
    if not isinstance(spec, str):
        raise WeightsError(
            f"spec={spec!r} is not a weights specification (a {type(spec).__name__}); "
            f"use {VALID_SPECS}."
        )
    text = spec.strip().lower()
    if text in ("queen", "rook"):
        return WeightsSpec(text, text)
    if match := _KNN_RE.match(text):
        k = int(match.group(1))
        if k < 1:
            raise WeightsError(
                f"weights spec {spec!r}: K must be at least 1; use e.g. 'knn:8'. "
                f"Valid forms are {VALID_SPECS}."
            )
        return WeightsSpec(f"knn:{k}", "knn", k=k)
    if match := _DIST_RE.match(text):
        threshold = _distance(match.group(1), spec)
        return WeightsSpec(f"distance:{match.group(1).strip()}", "distance", distance=threshold)
    if match := _KERNEL_RE.match(text):
        name = match.group(1)
        if name not in KERNELS:
            raise WeightsError(
                f"weights spec {spec!r}: unknown kernel {name!r}; choose one of "
                f"{', '.join(KERNELS)}, e.g. 'kernel:gaussian:25km'. "
                f"Valid forms are {VALID_SPECS}."
            )
        bandwidth = _distance(match.group(2), spec)
        return WeightsSpec(f"kernel:{name}:{match.group(2).strip()}", "kernel",
                           distance=bandwidth, kernel=name)
    raise WeightsError(
        f"unknown weights spec {spec!r}; valid forms are {VALID_SPECS}. "
        "Check the spelling (e.g. 'queen', not 'queens') and the separator ':'."
    )


def check_spec(spec: object) -> str:
    """Check a weights specification string and return it normalised.

    Parameters
    ----------
    spec
        ``"queen"``, ``"rook"``, ``"knn:K"``, ``"distance:D"`` or ``"kernel:NAME:D"``
        (case and surrounding spaces do not matter).

    Returns
    -------
    str
        The specification in lower case without spaces around it and with ``K`` as a
        plain integer, e.g. ``"knn:8"`` or ``"distance:25km"``.

    Raises
    ------
    WeightsError
        As :func:`parse_weights_spec`.

    Examples
    --------
    >>> check_spec(" KNN:08 ")
    'knn:8'
    >>> check_spec("kernel:Gaussian:25km")
    'kernel:gaussian:25km'
    >>> check_spec("queens")
    Traceback (most recent call last):
    ...
    geocluster.errors.WeightsError: unknown weights spec 'queens'; ...
    """
    return parse_weights_spec(spec).text


def _distance(text: str, spec: str) -> float:
    try:
        return parse_distance(text, name=f"the distance in '{spec}'")
    except InputError as exc:
        raise WeightsError(f"weights spec {spec!r}: {exc} Valid forms are {VALID_SPECS}.") from None
