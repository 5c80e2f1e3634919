"""Interactive maps of firms and clusters (folium / Leaflet).

:func:`make_map` (exported as ``gc.map``) returns a :class:`folium.Map` with the layers
asked for; :func:`save_map` writes it as one HTML file that opens with no network.

How the layers are drawn
------------------------
* **Firms** are one layer of circle markers on a single canvas renderer, built in the
  browser from compact columns (coordinates rounded to 1e-5 degrees, categories as codes).
  100,000 firms make a file of a few megabytes that is interactive within a couple of
  seconds (see ``docs/benchmarks/maps.md``), where folium's one ``CircleMarker`` per firm
  writes 50 MB. Canvas rendering was chosen over marker clustering (which hides where the
  firms are, the point of a cluster map) and over aggregation (which the LISA, Gi*,
  choropleth and KDE layers already provide).
* **LISA**, **Gi*** and **choropleth** layers are filled polygons (or points), with GeoDa's
  LISA colours and ArcGIS-style hot/cold spot colours from :mod:`geocluster._base.plotting`.
  Only the first of them is switched on at the start: they cover each other.
* The **KDE** surface is resampled onto a Web Mercator grid and inlined as a PNG image,
  translucent, drawn above the areas and outlines and below the firms.
* **Cluster** polygons are outlines drawn above the areas.
* Every layer has a legend that is shown only while the layer is; a layer control, a scale
  bar, bounds fitted to the data and a choice of base map (including none) complete it.

* Popups and tooltips list field names and values in two columns; a field name longer
  than 20 characters takes a row of its own above its value, so it cannot squeeze the
  values into a narrow column. Text is cut to 500 characters (names of fields, layers and
  legend entries to 200) with its full length ("… (200,000 characters)"), in the file as
  well as on screen. Clicking a place shared by several firms (a shared address) lists all
  of them, up to 50, then "and N more". The tooltip and popup share one copy of each
  column in the file.

Safety
------
Text from the data (firm names, column names and values, categories, layer names such
as cluster names or the choropleth's, legend titles and labels, region names) can never
run as a template, as HTML or as script; this holds by construction, not by filtering:

* **No template ever sees the data as source.** folium's elements are branca templates,
  and branca's ``MacroElement.render`` compiles each element's *rendered* markup as a new
  Jinja template (``Element(text)``), so data inside it would run (``{{7*7}}`` in a firm
  name became ``49``; ``{{ lipsum.__globals__.os.popen(...) }}`` ran a shell command).
  Every element geocluster adds (layers, tile layers, layer control, bounds, the runtime)
  renders through :func:`geocluster.viz.layers.render_raw`: its template runs once with
  the data as *variables*, and the output is kept as raw text that branca never compiles.
* **One serialiser for data.** Every payload from the data is written by
  :func:`geocluster.viz.assets.safe_json`, which escapes ``<``, ``>``, ``&``, quotes,
  backticks and, inside strings, ``{``/``}`` as ``\\uXXXX``; the result contains no
  ``{{``, ``{%`` or ``{#`` whatever the data (so even a template pass would find none),
  and cannot end its ``<script type="application/json">`` element.
* **Text is set as text.** The browser runtime writes every string with ``textContent``,
  never ``innerHTML``. Layer names, which Leaflet's layer control writes as HTML, are
  HTML-escaped (braces as ``&#123;``/``&#125;`` too) by
  :func:`geocluster.viz.layers.layer_label`.

A firm called ``<img src=x onerror=alert(1)>`` or ``{{7*7}}`` is shown as that text.

Same input, same bytes: element ids are derived from the layer names and their order
(and ``seed=`` when given) instead of folium's random ids, so two identical calls of
:func:`make_map` and :func:`save_map` write identical files.
"""

from __future__ import annotations

import base64
import io
import os
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base import plotting
from geocluster.errors import CRSError, GeoclusterWarning, InputError
from geocluster.viz.assets import inline_assets
from geocluster.viz.layers import (
    MAX_LABEL,
    GeoclusterLayer,
    Ready,
    SafeFitBounds,
    SafeLayerControl,
    SafeTileLayer,
    check_colour,
    clip_text,
    feature_collection,
    forget_rendered,
    info_specs,
    install_runtime,
    is_missing,
    is_scalar_column,
    layer_label,
    rename,
    stable_id,
)

__all__ = ["make_map", "map", "save_map"]

#: Most categories given their own colour; the rest are lumped into "other".
MAX_CATEGORIES = 12
#: Label of the lumped categories beyond MAX_CATEGORIES.
OTHER = "other (lumped)"
#: Circle radii in pixels when ``size=`` is given.
MIN_RADIUS, MAX_RADIUS = 2.0, 10.0
#: Widest side of the KDE image in pixels.
MAX_IMAGE_PIXELS = 1200

_CHOROPLETH_KEYS = {"data", "column", "scheme", "k", "cmap", "name", "tooltip"}
#: Columns taken as a firm's (or a unit's) name, in this order, matched case-insensitively.
NAME_COLUMNS = ("name", "company", "company_name", "firm_name", "firm")
#: Smallest extent (degrees) the view is fitted to, e.g. around a single firm.
FIT_MIN_EXTENT = 0.01
#: The base map of ``gc.map`` (CartoDB tiles now need an API key).
DEFAULT_TILES = "OpenStreetMap"


# ============================================================================= public API


def make_map(
    *,
    firms: gpd.GeoDataFrame | None = None,
    color: str | None = None,
    size: str | None = None,
    popup: str | Sequence[str] | bool | None = None,
    tooltip: str | Sequence[str] | bool | None = None,
    lisa: gpd.GeoDataFrame | None = None,
    hotspots: gpd.GeoDataFrame | None = None,
    density: Any = None,
    clusters: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame] | None = None,
    choropleth: tuple[gpd.GeoDataFrame, str] | Mapping[str, Any] | None = None,
    tiles: str | Sequence[str] | None = DEFAULT_TILES,
    m: folium.Map | None = None,
    seed: int | None = None,
) -> folium.Map:
    """An interactive map of firms and cluster results (exported as ``gc.map``).

    Parameters
    ----------
    firms
        Point GeoDataFrame of firms (any CRS; it is shown in longitude/latitude).
    color
        Column that colours the firms: categories (innovator type, industry...) get
        their own colours (the innovator palette for ``innovator_type``; at most 12, the
        rest become "other"); a numeric column with more than 12 values is split into
        quintiles. Default: ``"innovator_type"`` if the column exists, else one colour.
    size
        Numeric column (e.g. ``"employees"``) that sizes the circles: area proportional
        to the value, capped at its 99th percentile.
    popup, tooltip
        Columns shown on click / hover, as a name or a list of names; ``True`` shows
        every column (the first 25), ``False`` none. By default both show the firm's
        name (the first column called ``name``, ``company``, ``company_name``,
        ``firm_name`` or ``firm``, in any case), the index (the firm id) and the
        ``color`` and ``size`` columns. With ``popup=False`` a click (or a tap on a touch
        screen, which cannot hover) shows the tooltip's fields; areas show their name,
        id and statistics on hover and click. A click on a place shared by several firms
        lists all of them (up to 50).
    lisa
        Frame from :func:`geocluster.local_moran` (``lisa_cluster`` in HH/LL/LH/HL/ns),
        drawn in GeoDa's colours.
    hotspots
        Frame from :func:`geocluster.getis_ord` (``gi_hotspot``), hot and cold spots.
    density
        A ``DensitySurface`` from :func:`geocluster.kde`, or any object with a 2-D
        ``values`` array (density per km², first row at the lowest y unless it has
        ``origin="upper"``), ``bounds`` ``(xmin, ymin, xmax, ymax)`` and ``crs``.
    clusters
        Polygons of density clusters or cluster regions: a GeoDataFrame, or a mapping
        ``{layer name: GeoDataFrame}`` for several layers.
    choropleth
        ``(frame, column)`` or a dict with keys ``data``, ``column`` and optionally
        ``scheme`` (a mapclassify scheme: ``"quantiles"`` (default), ``"fisher_jenks"``
        (optimal natural breaks), ``"natural_breaks"``, ``"equal_interval"``,
        ``"std_mean"``, ...), ``k`` (classes, default 5), ``cmap`` (matplotlib colormap,
        default ``"YlOrRd"``), ``name`` (layer name) and ``tooltip`` (extra columns).
    tiles
        Base map: a provider name known to folium/xyzservices (default
        ``"OpenStreetMap"``), a list of them (the first is shown, all are offered in the
        layer control next to "No base map"), or ``None`` (also ``"none"`` or ``""``, as a
        config file writes it) for no base map and no network request at all. Ignored when
        ``m`` is given.
    m
        An existing map (from :func:`make_map` or folium) to add the layers to.
    seed
        Optional non-negative int mixed into the page's element ids. Ids are always
        deterministic (derived from the layer names and order, so the same call gives
        the same file); give different seeds to maps that must not share ids, e.g. two
        maps placed in one page.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` for a self-contained file.

    Examples
    --------
    >>> import geopandas as gpd, geocluster as gc
    >>> firms = gpd.GeoDataFrame(
    ...     {"name": ["Acme", "Globex", "Initech"], "innovator_type": ["serial", "large", "serial"],
    ...      "employees": [12, 800, 40]},
    ...     geometry=gpd.points_from_xy([-71.06, -71.10, -71.03], [42.36, 42.37, 42.35]),
    ...     crs="EPSG:4326")
    >>> m = gc.map(firms=firms, size="employees", tooltip=["name", "employees"], tiles=None)
    >>> type(m).__name__
    'Map'

    Add LISA clusters to the same map (``lisa = gc.local_moran(counties, "lq")``):
    ``gc.map(lisa=lisa, m=m)``; then ``gc.save_map(m, "map.html")``.
    """
    if seed is not None and (
        not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0
    ):
        raise InputError(
            f"seed={seed!r} must be None or a non-negative int (it only names the page's "
            "elements); e.g. seed=1."
        )
    if m is not None and not isinstance(m, folium.Map):
        raise InputError(
            f"m= must be a folium.Map (e.g. from gc.map()); got {type(m).__name__}. Leave "
            "m= out to start a new map."
        )
    layers = _build_layers(
        firms=firms, color=color, size=size, popup=popup, tooltip=tooltip, lisa=lisa,
        hotspots=hotspots, density=density, clusters=clusters, choropleth=choropleth,
    )
    if m is None:
        m = _new_map(tiles, seed)
    install_runtime(m)
    root = m.get_root()
    for key in [k for k, c in m._children.items()
                if isinstance(c, folium.LayerControl | Ready | folium.FitBounds)]:
        forget_rendered(root, m._children.pop(key).get_name())
    taken = {c.layer_name for c in m._children.values() if isinstance(c, folium.map.Layer)}
    for layer in layers:
        base, k = layer.plain_name, 2
        while layer.layer_name in taken:
            layer.rename_layer(f"{base} ({k})")
            k += 1
        taken.add(layer.layer_name)
        m.add_child(layer)
    _fit(m)
    m.add_child(SafeLayerControl(collapsed=False))
    m.add_child(Ready())
    _stable_ids(m, seed)
    return m


#: ``gc.map``: the name the issue and the README use. It shadows the builtin only inside
#: geocluster's namespace.
map = make_map  # noqa: A001


def save_map(m: folium.Map, path: str | os.PathLike, *, self_contained: bool = True) -> Path:
    """Write a map to one HTML file.

    Parameters
    ----------
    m
        A map from :func:`make_map` (or any folium map).
    path
        Output file (a str or path); its folder must exist. The page is written to a
        temporary file in that folder and then renamed, so a failed save leaves no
        partial file (and an existing file at ``path`` unchanged).
    self_contained
        Inline Leaflet's JavaScript and CSS (vendored from the npm package
        ``leaflet@1.9.4``) and drop folium's other CDN assets, so that the file opens with
        no network at all, e.g. inside a secure data enclave. Base-map tiles still need
        the network; make the map with ``tiles=None`` for a file that requests nothing.
        With ``False`` the file links the CDNs as folium does.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib, geopandas as gpd, geocluster as gc
    >>> firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy([-71.06, -71.1], [42.36, 42.37]),
    ...                          crs="EPSG:4326")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "map.html"
    >>> path = gc.save_map(gc.map(firms=firms, tiles=None), out)
    >>> text = path.read_text()
    >>> "<script src=" in text, "<link rel='stylesheet'" in text.replace('"', "'")  # nothing to fetch
    (False, False)
    """
    if not isinstance(m, folium.Map):
        raise InputError(f"save_map needs a folium.Map (from gc.map()); got {type(m).__name__}.")
    if not isinstance(path, str | os.PathLike):
        raise InputError(
            f"path={path!r} must be a file path (a str or pathlib.Path such as 'map.html'), "
            f"not {type(path).__name__}."
        )
    path = Path(path)
    try:
        _check_target(path)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror or exc}. Choose a folder you can write to and "
            "a valid file name (such as map.html)."
        ) from None
    page = m.get_root().render()
    if self_contained:
        page = inline_assets(page)
    try:
        _write_whole(path, page)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror or exc}. Choose a folder you can write to and "
            "a valid file name (such as map.html)."
        ) from None
    return path


def _check_target(path: Path) -> None:
    """Refuse a save target that cannot be a new or replaced file (OSError passes up)."""
    if path.is_dir():
        raise InputError(
            f"cannot write {path}: it is a folder. Name a file, such as {path / 'map.html'}."
        )
    if not path.parent.exists():
        raise InputError(
            f"cannot write {path}: folder {path.parent} does not exist. Create it first, or "
            "save into an existing folder."
        )
    if not path.parent.is_dir():
        raise InputError(
            f"cannot write {path}: {path.parent} is a file, not a folder. Choose a path inside "
            "a folder, such as map.html."
        )
    if path.exists() and not path.stat().st_mode & 0o222:
        raise InputError(
            f"cannot overwrite {path}: the file is read-only. Make it writable "
            f"(chmod u+w {path}) or save under another name."
        )


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` to a new file beside ``path``, then rename it over ``path``: a failed
    write leaves ``path`` as it was (no partial file)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:  # "x": a fresh file, umask permissions
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ============================================================================= map and layers


def _salt(seed) -> str:
    return "" if seed is None else f"seed={int(seed)}"


def _stable_ids(m: folium.Map, seed) -> None:
    """Give geocluster's elements on ``m`` ids derived from the map's id, their class,
    their order among elements of that class and their layer name (and ``seed``)."""
    seen: dict[str, int] = {}
    ours = (GeoclusterLayer, SafeTileLayer, SafeLayerControl, SafeFitBounds, Ready)
    for child in list(m._children.values()):
        if not isinstance(child, ours):
            continue
        kind = type(child).__name__
        seen[kind] = seen.get(kind, -1) + 1
        rename(child, stable_id(_salt(seed), m.get_name(), kind, seen[kind],
                                getattr(child, "layer_name", "")))


def _new_map(tiles, seed) -> folium.Map:
    if isinstance(tiles, str) and tiles.strip().lower() in ("", "none"):
        tiles = None
    m = folium.Map(location=[0, 0], zoom_start=2, tiles=None, control_scale=True)
    old = m.get_name()
    m._id = stable_id(_salt(seed), "map")
    figure = m.get_root()
    figure._children = OrderedDict(
        (m.get_name() if key == old else key, child) for key, child in figure._children.items()
    )
    figure._id = stable_id(_salt(seed), "figure")
    if tiles is None:
        return m
    if isinstance(tiles, str):
        names = [tiles]
    elif isinstance(tiles, Sequence) and tiles and all(isinstance(t, str) for t in tiles):
        names = list(tiles)
    else:
        raise InputError(
            f"tiles= must be a base map name (e.g. 'OpenStreetMap', 'CartoDB positron'), a "
            f"list of names, or None for no base map; got {tiles!r}."
        )
    for k, name in enumerate(names):
        try:
            tile = SafeTileLayer(name, name=layer_label(name), overlay=False, show=k == 0)
        except (ValueError, KeyError) as exc:
            raise InputError(
                f"unknown base map tiles={clip_text(name, MAX_LABEL)!r} ({exc}). Use a name "
                "xyzservices knows, such as 'OpenStreetMap' or 'CartoDB positron', or None "
                "for no base map."
            ) from None
        m.add_child(tile)
    m.add_child(GeoclusterLayer("none", {}, name="No base map", overlay=False, show=False))
    return m


def _fit(m: folium.Map) -> None:
    boxes = [
        c.data_bounds
        for c in m._children.values()
        if isinstance(c, GeoclusterLayer) and c.data_bounds is not None
    ]
    if not boxes:
        return
    arr = np.asarray(boxes, dtype=float)
    w, s = arr[:, 0].min(), arr[:, 1].min()
    e, n = arr[:, 2].max(), arr[:, 3].max()
    # One point (or firms all at one address) has no extent: Leaflet would zoom to NaN.
    half = FIT_MIN_EXTENT / 2
    if e - w < FIT_MIN_EXTENT:
        w, e = (w + e) / 2 - half, (w + e) / 2 + half
    if n - s < FIT_MIN_EXTENT:
        s, n = (s + n) / 2 - half, (s + n) / 2 + half
    # Room on the right for the legends, which sit at the bottom right.
    m.add_child(SafeFitBounds([[float(s), float(w)], [float(n), float(e)]],
                              padding_top_left=(12, 12), padding_bottom_right=(220, 12)))


def _build_layers(*, firms, color, size, popup, tooltip, lisa, hotspots, density, clusters,
                  choropleth) -> list[GeoclusterLayer]:
    """Validate every input and build the layers, bottom to top."""
    if firms is None:
        for arg, value in (("color", color), ("size", size), ("popup", popup)):
            if value not in (None, False):
                raise InputError(f"{arg}={value!r} styles firms, but no firms= were given.")
    areal: list[GeoclusterLayer] = []
    if lisa is not None:
        areal.append(_lisa_layer(lisa))
    if hotspots is not None:
        areal.append(_hotspot_layer(hotspots))
    if choropleth is not None:
        areal.append(_choropleth_layer(choropleth))
    for k, layer in enumerate(areal):
        layer.show = k == 0
    layers = list(areal)
    if density is not None:
        layers.append(_surface_layer(density))
    if clusters is not None:
        layers.extend(_cluster_layers(clusters))
    if firms is not None:
        layers.append(_firm_layer(firms, color=color, size=size, popup=popup, tooltip=tooltip))
    return layers


# ----------------------------------------------------------------------------- checks


def _check_frame(gdf, arg: str, columns: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """Check a frame to draw (``columns``: option name -> column it names) and return it in
    EPSG:4326 without the rows that have no (finite) geometry."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        hint = (" It has no geometry column: read firm tables with gc.read_firms(), or build "
                "one with geopandas.GeoDataFrame(frame, geometry=..., crs=...)."
                if isinstance(gdf, pd.DataFrame) else
                " Read firm tables with gc.read_firms().")
        raise InputError(f"{arg}= must be a GeoDataFrame; got {type(gdf).__name__}.{hint}")
    if gdf.crs is None:
        raise CRSError(
            f"{arg}= has no CRS, so it cannot be placed on a map. Set it first, e.g. "
            f"{arg}.set_crs('EPSG:4326') for longitude/latitude."
        )
    for option, column in (columns or {}).items():
        if column not in gdf.columns or column == gdf.geometry.name:
            available = _names(gdf.columns.drop(gdf.geometry.name))
            remedy = f"Use one of them, or leave {option} out." if option.endswith("=") \
                else "Use one of them."
            raise InputError(
                f"{arg}= has no column {clip_text(repr(column), MAX_LABEL)} (named by "
                f"{option}). Available columns: "
                f"{', '.join(clip_text(a, 60) for a in available[:40]) or 'none'}"
                f"{' ...' if len(available) > 40 else ''}. {remedy}"
            )
    if len(gdf) == 0:
        raise InputError(
            f"{arg}= has 0 rows, so there is nothing to draw. Pass a frame with rows, or "
            f"leave {arg}= out."
        )
    empty = (gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
    if not empty.all():
        empty = empty | ~np.isfinite(gdf.geometry.bounds.to_numpy()).all(axis=1)
    if empty.all():
        raise InputError(
            f"{arg}= has no geometries to draw ({len(gdf):,} rows, none with finite "
            f"coordinates). Give the rows geometries (gc.read_firms() builds them from "
            f"longitude/latitude columns), or leave {arg}= out."
        )
    positions = np.flatnonzero(~empty)
    if empty.any():
        warnings.warn(
            f"{arg}=: {int(empty.sum()):,} of {len(gdf):,} rows have no geometry (or "
            "non-finite coordinates) and are not drawn.",
            GeoclusterWarning,
            stacklevel=4,
        )
        gdf = gdf[~empty]
    source_crs = gdf.crs
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    b = gdf.geometry.bounds.to_numpy()
    with np.errstate(invalid="ignore"):
        ok = (b[:, 0] >= -180) & (b[:, 2] <= 180) & (b[:, 1] >= -90) & (b[:, 3] <= 90)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise CRSError(
            f"{arg}= has {int((~ok).sum()):,} of {len(gdf):,} rows outside the range of "
            f"longitude/latitude in {source_crs.to_string()} (first: row {positions[k] + 1}, "
            f"index {gdf.index[k]!r}, bounds {tuple(round(float(v), 3) for v in b[k])}). The "
            "CRS is probably wrong (metres labelled as degrees?): set the right one with "
            f"{arg}.set_crs(..., allow_override=True)."
        )
    return gdf


def _names(values) -> list[str]:
    return [str(v) for v in values]


def _fields(arg: str, value, gdf: gpd.GeoDataFrame, default: list[str]) -> list[str]:
    if value is None:
        return default
    if value is False:
        return []
    if value is True:
        return [c for c in gdf.columns if c != gdf.geometry.name][:25]
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, Sequence | pd.Index) and not isinstance(value, bytes):
        names = list(value)
    else:
        raise InputError(
            f"{arg}= must be a column name, a list of column names, True (all columns) or "
            f"False (none); got {type(value).__name__}. E.g. {arg}=['name']."
        )
    available = _names(gdf.columns.drop(gdf.geometry.name))
    for name in names:
        if not isinstance(name, str | int) or name not in gdf.columns or name == gdf.geometry.name:
            raise InputError(
                f"{arg}= names column {clip_text(repr(name), MAX_LABEL)}, which firms= does not "
                f"have. Available columns: {', '.join(clip_text(a, 60) for a in available[:40])}"
                f"{' ...' if len(available) > 40 else ''}. Use one of them, or leave {arg}= out "
                "for the default (the name and id)."
            )
    return names


def _name_column(gdf: pd.DataFrame) -> str | None:
    """The column holding names (``name``, ``company``, ... in any case), or None."""
    lower = {}
    for c in gdf.columns:
        if isinstance(c, str):
            lower.setdefault(c.lower(), c)
    for candidate in NAME_COLUMNS:
        if candidate in lower:
            return lower[candidate]
    return None


def _bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    w, s, e, n = (float(v) for v in gdf.total_bounds)
    return w, s, e, n


def _index_label(gdf: pd.DataFrame) -> str:
    return str(gdf.index.name) if gdf.index.name is not None else "id"


# ----------------------------------------------------------------------------- categories


def _classes(series: pd.Series, *, palette: dict[str, str] | None):
    """Codes, colours and legend labels for a category or a numeric column."""
    s = series.reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if numeric and not isinstance(s.dtype, pd.CategoricalDtype) and s.nunique() > MAX_CATEGORIES:
        import mapclassify

        y = s.to_numpy(dtype="float64", na_value=np.nan)
        ok = np.isfinite(y)
        classifier = mapclassify.Quantiles(y[ok], k=5)
        codes = np.full(len(y), -1, dtype=np.int64)
        codes[ok] = classifier.yb
        colours = plotting.sample_cmap("viridis", len(classifier.bins))
        labels = _bin_labels(y[ok].min(), classifier.bins)
        counts = np.bincount(codes[ok], minlength=len(labels))
        labels = [f"{lab} ({c:,})" for lab, c in zip(labels, counts, strict=True)]
        return _with_missing(codes, colours, labels)
    text = pd.Series([None if is_missing(v) else str(v) for v in s], dtype="object")
    counts = text.value_counts()
    if isinstance(s.dtype, pd.CategoricalDtype):
        order = [str(c) for c in s.cat.categories if str(c) in counts.index]
    elif numeric or pd.api.types.is_bool_dtype(s):
        order = [str(v) for v in sorted(s.dropna().unique())]
    else:
        known = [k for k in (palette or {}) if k in counts.index]
        order = known + [k for k in counts.index if k not in known]
    lumped = len(order) > MAX_CATEGORIES
    if lumped:
        keep = set(counts.index[: MAX_CATEGORIES - 1])
        order = [k for k in order if k in keep]
        text = text.map(lambda v: v if v is None or v in keep else OTHER)
        order.append(OTHER)
        counts = text.value_counts()
    colour_of = plotting.category_colors(order, palette=palette)
    if lumped:
        colour_of[OTHER] = plotting.OTHER_COLOR
    lookup = {k: i for i, k in enumerate(order)}
    codes = text.map(lambda v: -1 if v is None else lookup[v]).to_numpy(dtype=np.int64)
    labels = [f"{clip_text(k, MAX_LABEL)} ({int(counts[k]):,})" for k in order]
    return _with_missing(codes, [colour_of[k] for k in order], labels)


def _with_missing(codes: np.ndarray, colours: list[str], labels: list[str]):
    n_missing = int((codes < 0).sum())
    if n_missing:
        codes = np.where(codes < 0, len(colours), codes)
        colours = [*colours, plotting.MISSING_COLOR]
        labels = [*labels, f"missing ({n_missing:,})"]
    return codes, [check_colour(c) for c in colours], labels


def _bin_labels(low: float, bins: Sequence[float]) -> list[str]:
    edges = [float(low), *(float(b) for b in bins)]
    return [f"{edges[i]:,.4g} – {edges[i + 1]:,.4g}" for i in range(len(bins))]


def _legend_items(colours: list[str], labels: list[str], shape: str = "box") -> list[dict]:
    return [
        {"color": c, "label": lab, "shape": shape} for c, lab in zip(colours, labels, strict=True)
    ]


# ----------------------------------------------------------------------------- firms


def _firm_layer(firms, *, color, size, popup, tooltip) -> GeoclusterLayer:
    gdf = _check_frame(firms, "firms",
                       {k: v for k, v in (("color=", color), ("size=", size)) if v is not None})
    kinds = set(gdf.geometry.geom_type.unique())
    if not kinds <= {"Point"}:
        raise InputError(
            f"firms= must hold points; found {sorted(kinds - {'Point'})}. Use "
            "firms.representative_point() (or centroids) to place each firm at one point."
        )
    n = len(gdf)
    lon = np.round(gdf.geometry.x.to_numpy(), 5)
    lat = np.round(gdf.geometry.y.to_numpy(), 5)
    if color is None and "innovator_type" in gdf.columns:
        color = "innovator_type"
    legend: dict[str, Any] = {"id": "firms", "title": f"Firms ({n:,})", "items": []}
    if color is None:
        codes, colours = None, [plotting.POINT_COLOR]
        legend["items"] = [{"color": plotting.POINT_COLOR, "label": "firm", "shape": "circle"}]
    else:
        levels = set(gdf[color].dropna().astype(str).unique())
        palette = (
            plotting.INNOVATOR_COLORS
            if color == "innovator_type" or (levels and levels <= set(plotting.INNOVATOR_COLORS))
            else None
        )
        codes, colours, labels = _classes(gdf[color], palette=palette)
        legend["title"] = f"Firms ({n:,}) by {clip_text(color, MAX_LABEL)}"
        legend["items"] = _legend_items(colours, labels, "circle")
    default_radius = 4.0 if n <= 10_000 else 3.0
    radius: float | list[float] = default_radius
    if size is not None:
        radius, legend["sizes"] = _radii(gdf[size], size)
    default = [c for c in dict.fromkeys([_name_column(gdf), color, size]) if c is not None]
    tip_fields = _fields("tooltip", tooltip, gdf, default)
    pop_fields = _fields("popup", popup, gdf, default)
    columns, specs = info_specs(
        gdf,
        {"tooltip": tip_fields if tooltip is not False else None,
         "popup": pop_fields if pop_fields else None},
        index_label=_index_label(gdf),
    )
    payload = {
        "lat": lat.tolist(),
        "lon": lon.tolist(),
        "codes": None if codes is None else codes.tolist(),
        "palette": colours,
        "radius": radius,
        "stroke": "#ffffff",
        "weight": 0.6 if n <= 20_000 else 0.0,
        "fillOpacity": 0.8,
        "columns": columns,
        "tooltip": specs["tooltip"],
        "popup": specs["popup"],
        "legend": legend,
    }
    return GeoclusterLayer("points", payload, name="Firms", bounds=_bounds(gdf))


def _radii(values: pd.Series, column: str):
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError(
            f"size={column!r} must be a numeric column (e.g. employees); it has dtype {values.dtype}."
        )
    v = values.to_numpy(dtype="float64", na_value=np.nan)
    if np.nanmin(v, initial=0.0) < 0:
        raise InputError(
            f"size={column!r} has negative values (min {np.nanmin(v):g}); circle areas need "
            "values >= 0."
        )
    finite = v[np.isfinite(v)]
    cap = float(np.quantile(finite, 0.99)) if finite.size else 0.0
    if cap <= 0:
        cap = float(finite.max()) if finite.size and finite.max() > 0 else 1.0

    def radius(x):
        return MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * np.sqrt(np.clip(x, 0, cap) / cap)

    r = np.where(np.isfinite(v), radius(np.nan_to_num(v)), MIN_RADIUS)
    samples = sorted({_nice(cap * f) for f in (0.05, 0.3, 1.0)} - {0})
    sizes = {
        "title": f"circle area ∝ {clip_text(column, MAX_LABEL)}" + (" (capped at the 99th percentile)" if finite.size and finite.max() > cap else ""),
        "items": [{"radius": round(float(radius(x)), 1), "label": f"{x:,g}"} for x in samples],
    }
    return np.round(r, 1).tolist(), sizes


def _nice(x: float) -> float:
    if x <= 0:
        return 0.0
    mag = 10 ** np.floor(np.log10(x))
    for step in (1, 2, 5, 10):
        if x <= step * mag * 1.0001:
            return float(step * mag)
    return float(10 * mag)


# ----------------------------------------------------------------------------- areal layers


def _feature_layer(gdf, *, codes, colours, name, legend, fields, show=True, outline=False,
                   fill_opacity=0.7, weight=0.5, stroke="#ffffff") -> GeoclusterLayer:
    columns, specs = info_specs(gdf, {"tooltip": fields}, index_label=_index_label(gdf))
    payload = {
        "palette": colours,
        "stroke": stroke,
        "weight": weight,
        "fillOpacity": fill_opacity,
        "outline": outline,
        "radius": 5,
        "count": len(gdf),
        "columns": columns,
        "tooltip": specs["tooltip"],
        "popup": None,
        "legend": legend,
    }
    geojson = feature_collection(gdf.geometry.to_numpy(), codes)
    return GeoclusterLayer(
        "features", payload, name=name, show=show, extra=geojson, bounds=_bounds(gdf)
    )


def _category_layer(gdf, column, colours_of, labels_of, *, arg, producer, name, title, extra):
    gdf = _check_frame(gdf, arg)
    if column not in gdf.columns:
        raise InputError(
            f"{arg}= needs the column {column!r}: pass the frame returned by {producer}."
        )
    values = gdf[column].astype("object")
    bad = sorted({str(v) for v in values.dropna().unique()} - set(colours_of))
    if bad or values.isna().any():
        shown = [clip_text(v, 60) for v in bad[:5]] + (["missing"] if values.isna().any() else [])
        raise InputError(
            f"{arg}= column {column!r} has values {shown} outside {list(colours_of)}; pass the "
            f"frame returned by {producer}."
        )
    keys = list(colours_of)
    codes = values.map({k: i for i, k in enumerate(keys)}).to_numpy(dtype=np.int64)
    counts = np.bincount(codes, minlength=len(keys))
    labels = [f"{labels_of(k)} ({c:,})" for k, c in zip(keys, counts, strict=True)]
    colours = [check_colour(colours_of[k]) for k in keys]
    fields = [c for c in dict.fromkeys((_name_column(gdf), *extra)) if c in gdf.columns]
    legend = {"id": arg, "title": title, "items": _legend_items(colours, labels)}
    return _feature_layer(gdf, codes=codes, colours=colours, name=name, legend=legend,
                          fields=fields)


def _lisa_layer(lisa) -> GeoclusterLayer:
    return _category_layer(
        lisa, "lisa_cluster", plotting.LISA_COLORS,
        lambda k: f"{plotting.LISA_LABELS[k]} ({k})" if k != "ns" else plotting.LISA_LABELS[k],
        arg="lisa", producer="gc.local_moran()", name="LISA clusters",
        title="Local Moran's I clusters",
        extra=("lisa_cluster", "lisa_I", "lisa_p", "lisa_q", "lisa_region"),
    )


def _hotspot_layer(hotspots) -> GeoclusterLayer:
    return _category_layer(
        hotspots, "gi_hotspot", plotting.HOTSPOT_COLORS,
        lambda k: {"ns": "Not significant"}.get(k, k.replace("%", "% confidence")),
        arg="hotspots", producer="gc.getis_ord()", name="Gi* hot and cold spots",
        title="Getis-Ord Gi* hot and cold spots", extra=("gi_hotspot", "gi_z", "gi_p"),
    )


def _choropleth_layer(spec) -> GeoclusterLayer:
    if isinstance(spec, tuple) and len(spec) == 2:
        opts: dict[str, Any] = {"data": spec[0], "column": spec[1]}
    elif isinstance(spec, Mapping):
        opts = dict(spec)
        unknown = sorted(set(opts) - _CHOROPLETH_KEYS)
        if unknown or "data" not in opts or "column" not in opts:
            raise InputError(
                f"choropleth= dict needs keys 'data' and 'column' (optional: scheme, k, cmap, "
                f"name, tooltip); got {sorted(opts)}."
            )
    else:
        raise InputError(
            "choropleth= must be (frame, column) or a dict with 'data' and 'column'; got "
            f"{type(spec).__name__}."
        )
    column = opts["column"]
    gdf = _check_frame(opts["data"], "choropleth", {"the choropleth's column": column})
    scheme = str(opts.get("scheme", "quantiles"))
    k = opts.get("k", 5)
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 2:
        raise InputError(f"choropleth k={k!r} must be an integer >= 2 (the number of classes).")
    y_series = gdf[column]
    if not pd.api.types.is_numeric_dtype(y_series) or pd.api.types.is_bool_dtype(y_series):
        raise InputError(
            f"choropleth column {column!r} must be numeric to classify; it has dtype "
            f"{y_series.dtype}. Colour categories with color= on firms instead."
        )
    y = y_series.to_numpy(dtype="float64", na_value=np.nan)
    ok = np.isfinite(y)
    if not ok.any():
        raise InputError(f"choropleth column {column!r} has no finite values to classify.")
    import mapclassify

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier = mapclassify.classify(y[ok], scheme, k=int(k))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"choropleth scheme={scheme!r} failed ({exc}). Use a mapclassify scheme such as "
            "'quantiles', 'fisher_jenks', 'natural_breaks', 'equal_interval' or 'std_mean'."
        ) from None
    cmap = str(opts.get("cmap", plotting.SEQUENTIAL_CMAP))
    from matplotlib import colormaps

    if cmap not in colormaps:
        raise InputError(f"choropleth cmap={cmap!r} is not a matplotlib colormap (e.g. 'YlOrRd').")
    nb = len(classifier.bins)
    codes = np.full(len(y), -1, dtype=np.int64)
    codes[ok] = classifier.yb
    colours = plotting.sample_cmap(cmap, nb)
    counts = np.bincount(codes[ok], minlength=nb)
    labels = [
        f"{lab} ({c:,})"
        for lab, c in zip(_bin_labels(y[ok].min(), classifier.bins), counts, strict=True)
    ]
    codes, colours, labels = _with_missing(codes, colours, labels)
    labels = [lab.replace("missing", "no data", 1) if lab.startswith("missing") else lab
              for lab in labels]
    extra = opts.get("tooltip") or []
    extra = [extra] if isinstance(extra, str) else list(extra)
    for col in extra:
        if col not in gdf.columns:
            raise InputError(f"choropleth tooltip column {col!r} is not in the frame.")
    name_col = _name_column(gdf)
    fields = [c for c in (name_col,) if c is not None and c != column] + [column, *extra]
    scheme_name = type(classifier).__name__
    legend = {
        "id": "choropleth",
        "title": clip_text(column, MAX_LABEL),
        "items": _legend_items(colours, labels),
        "note": f"{scheme_name}, {nb} classes",
    }
    name = str(opts.get("name") or f"Choropleth: {column}")
    return _feature_layer(gdf, codes=codes, colours=colours, name=name, legend=legend,
                          fields=fields, stroke="#ffffff", weight=0.4, fill_opacity=0.75)


def _cluster_layers(clusters) -> list[GeoclusterLayer]:
    if isinstance(clusters, gpd.GeoDataFrame):
        named = {"Clusters": clusters}
    elif isinstance(clusters, Mapping) and clusters:
        named = {str(k): v for k, v in clusters.items()}
    else:
        raise InputError(
            "clusters= must be a GeoDataFrame of cluster polygons or a dict "
            f"{{layer name: GeoDataFrame}}; got {type(clusters).__name__}."
        )
    layers = []
    for k, (name, frame) in enumerate(named.items()):
        gdf = _check_frame(frame, "clusters")
        colour = check_colour(plotting.CLUSTER_COLORS[k % len(plotting.CLUSTER_COLORS)])
        scalar = [
            c for c in gdf.columns
            if c != gdf.geometry.name and not isinstance(gdf[c].dtype, gpd.array.GeometryDtype)
            and is_scalar_column(gdf[c])
        ][:8]
        n = len(gdf)
        legend = {
            "id": f"clusters-{k}",
            "title": clip_text(name, MAX_LABEL),
            "items": [{"color": colour, "label": f"{n:,} polygon{'s' if n != 1 else ''}",
                       "shape": "outline"}],
        }
        layers.append(_feature_layer(
            gdf, codes=np.zeros(n, dtype=np.int64), colours=[colour], name=name, legend=legend,
            fields=scalar, outline=True, fill_opacity=0.12, weight=2.0,
        ))
    return layers


# ----------------------------------------------------------------------------- KDE surface


def _surface_layer(density) -> GeoclusterLayer:
    values = None if isinstance(density, pd.DataFrame | pd.Series) else getattr(density, "values", None)
    bounds = getattr(density, "bounds", None)
    if bounds is None:
        bounds = getattr(density, "extent", None)
    crs = getattr(density, "crs", None)
    if values is None or bounds is None:
        raise InputError(
            "density= must be a DensitySurface from gc.kde() (or an object with a 2-D "
            f"'values' array, 'bounds' and 'crs'); got {type(density).__name__}."
        )
    try:
        values = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise InputError(
            "density.values must be a 2-D array of numbers (densities per km²); got "
            f"{type(values).__name__}. Pass the DensitySurface from gc.kde()."
        ) from None
    if values.ndim != 2 or min(values.shape) < 2:
        raise InputError(f"density.values must be a 2-D grid; got shape {values.shape}.")
    if crs is None:
        raise CRSError("density= has no crs; the grid cannot be placed on a map.")
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    if not (xmax > xmin and ymax > ymin):
        raise InputError(f"density.bounds {tuple(bounds)} must be (xmin, ymin, xmax, ymax).")
    origin = getattr(density, "origin", "lower")
    png, (w, s, e, n), vmax = _surface_png(values, (xmin, ymin, xmax, ymax), crs, origin)
    unit = getattr(density, "unit", None) or getattr(density, "units", None) or "per km^2"
    unit = str(unit).replace("^2", "²")
    stops = plotting.sample_cmap(plotting.DENSITY_CMAP, 6)
    note_parts = []
    bandwidth = getattr(density, "bandwidth", None)
    if isinstance(bandwidth, int | float) and np.isfinite(bandwidth):
        note_parts.append(f"bandwidth {bandwidth / 1000:,.3g} km")
    note_parts.insert(0, unit)
    legend = {
        "id": "density",
        "title": "Kernel density",
        "gradient": {"colors": stops, "low": "0", "high": f"{vmax:,.3g}"},
        "note": ", ".join(note_parts),
    }
    payload = {"url": png, "bounds": [[s, w], [n, e]], "opacity": 0.85, "legend": legend}
    return GeoclusterLayer("surface", payload, name="Density (KDE)", bounds=(w, s, e, n))


def _surface_png(values, bounds, crs, origin):
    """Resample a metric grid onto Web Mercator pixels and encode it as a PNG data URI."""
    from matplotlib import colormaps
    from PIL import Image
    from pyproj import CRS, Transformer
    from scipy.ndimage import map_coordinates

    try:
        src = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises its own CRSError
        raise CRSError(f"density.crs {crs!r} is not a CRS pyproj understands ({exc}).") from None
    xmin, ymin, xmax, ymax = bounds
    to_ll = Transformer.from_crs(src, 4326, always_xy=True)
    w, s, e, n = to_ll.transform_bounds(xmin, ymin, xmax, ymax, densify_pts=51)
    s, n = max(s, -85.0), min(n, 85.0)
    to_merc = Transformer.from_crs(4326, 3857, always_xy=True)
    (x0, x1), (y0, y1) = to_merc.transform([w, e], [s, n])
    ny, nx = values.shape
    width = int(np.clip(max(nx, ny) * 1.25, 64, MAX_IMAGE_PIXELS))
    height = int(np.clip(round(width * (y1 - y0) / (x1 - x0)), 16, MAX_IMAGE_PIXELS))
    px = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    py = y1 - (np.arange(height) + 0.5) * (y1 - y0) / height  # top row first
    gx, gy = np.meshgrid(px, py)
    back = Transformer.from_crs(3857, src, always_xy=True)
    sx, sy = back.transform(gx.ravel(), gy.ravel())
    fj = (np.asarray(sx) - xmin) / ((xmax - xmin) / nx) - 0.5
    if origin == "upper":
        fi = (ymax - np.asarray(sy)) / ((ymax - ymin) / ny) - 0.5
    else:
        fi = (np.asarray(sy) - ymin) / ((ymax - ymin) / ny) - 0.5
    inside = (fj >= -0.5) & (fj <= nx - 0.5) & (fi >= -0.5) & (fi <= ny - 0.5)
    grid = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    sampled = map_coordinates(
        grid, [np.clip(fi, 0, ny - 1), np.clip(fj, 0, nx - 1)], order=1, mode="nearest"
    )
    sampled = np.where(inside & np.isfinite(sampled), sampled, 0.0).reshape(height, width)
    vmax = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
    if vmax <= 0:
        vmax = 1.0
    t = np.clip(sampled / vmax, 0.0, 1.0)
    rgba = colormaps[plotting.DENSITY_CMAP](t)
    rgba[..., 3] = np.where(t < 0.02, 0.0, 0.2 + 0.6 * np.sqrt(t))
    image = Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return url, (float(w), float(s), float(e), float(n)), vmax

