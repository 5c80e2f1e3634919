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
* **LISA**, **Gi***, **bivariate LISA**, **local Geary**, **local join count** and
  **choropleth** layers are filled polygons (or points), with GeoDa's LISA and local Geary
  colours and ArcGIS-style hot/cold spot colours (:mod:`geocluster._base.plotting`,
  :mod:`geocluster.clusters.local_plots`).
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

Modules
-------
This module assembles the map and saves it; the layers are built by the internal API
beside it: :mod:`~geocluster.viz.frames` (checks of the frames drawn),
:mod:`~geocluster.viz.legend` (colour classes, circle sizes, legend entries),
:mod:`~geocluster.viz.firm_layer`, :mod:`~geocluster.viz.area_layers` (LISA, Gi*,
choropleth, cluster outlines) and :mod:`~geocluster.viz.surface` (KDE), on the folium
elements of :mod:`~geocluster.viz.layers` and the files of :mod:`~geocluster.viz.assets`
(the browser runtime is ``geocluster/viz/static/geocluster-runtime.js``). A new layer
goes into a module of its own that returns a ``GeoclusterLayer``, plus a function in
the runtime.

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

import os
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np

from geocluster.errors import InputError
from geocluster.viz.area_layers import (
    bivariate_layer,
    choropleth_layer,
    cluster_layers,
    geary_layer,
    hotspot_layer,
    join_count_layer,
    lisa_layer,
)
from geocluster.viz.assets import inline_assets
from geocluster.viz.firm_layer import firm_layer
from geocluster.viz.layers import (
    MAX_LABEL,
    GeoclusterLayer,
    Ready,
    SafeFitBounds,
    SafeLayerControl,
    SafeTileLayer,
    clip_text,
    figure_of,
    forget_rendered,
    install_runtime,
    layer_label,
    rename,
    stable_id,
)
from geocluster.viz.surface import surface_layer

__all__ = ["make_map", "map", "save_map"]

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
    bivariate: gpd.GeoDataFrame | None = None,
    geary: gpd.GeoDataFrame | None = None,
    join_counts: gpd.GeoDataFrame | None = None,
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
    bivariate
        Frame from the bivariate local Moran (``local_moran_bv``, ``bilisa_cluster``),
        in GeoDa's LISA colours.
    geary
        Frame from ``local_geary`` (``geary_cluster``), GeoDa's local Geary classes.
    join_counts
        Frame from ``local_join_counts`` (``jc_cluster``, ``jc_event``): significant
        join-count cluster cores, other units with the event, the rest.
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
        config file writes it) for no base map and no network request at all. For a new
        map only: with ``m`` given, leave it out (anything else is an error).
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
    _check_map_options(seed, m, tiles)
    layers = _build_layers(
        firms=firms, color=color, size=size, popup=popup, tooltip=tooltip, lisa=lisa,
        hotspots=hotspots, density=density, clusters=clusters, choropleth=choropleth,
        local={"bivariate": bivariate, "geary": geary, "join_counts": join_counts},
    )
    if m is None:
        m = _new_map(tiles, seed)
    install_runtime(m)
    _add_layers(m, layers)
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


def _check_map_options(seed, m, tiles) -> None:
    """``seed`` names elements (it is no random seed); ``m`` is a map to add to, whose base
    maps ``tiles=`` cannot change."""
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
    if m is not None and (not isinstance(tiles, str) or tiles != DEFAULT_TILES):
        raise InputError(
            f"{clip_text(f'tiles={tiles!r}', MAX_LABEL)} applies to a new map only; m= keeps "
            "its own base maps. Leave tiles= out to add layers to m=, or leave m= out to "
            "start a new map with these tiles."
        )


def _add_layers(m: folium.Map, layers: list[GeoclusterLayer]) -> None:
    """Add ``layers`` to ``m`` under names not yet taken there ("Firms (2)", ...), after
    dropping the layer control, bounds and ready marker of an earlier call (added anew)."""
    root = figure_of(m)
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
                  choropleth, local=None) -> list[GeoclusterLayer]:
    """Validate every input and build the layers, bottom to top."""
    if firms is None:
        for arg, value in (("color", color), ("size", size), ("popup", popup),
                           ("tooltip", tooltip)):
            if value is not None and value is not False:
                raise InputError(
                    f"{clip_text(f'{arg}={value!r}', MAX_LABEL)} styles firms, but no firms= "
                    f"were given. Pass firms= (a point GeoDataFrame), or leave {arg}= out."
                )
    areal: list[GeoclusterLayer] = []
    if lisa is not None:
        areal.append(lisa_layer(lisa))
    if hotspots is not None:
        areal.append(hotspot_layer(hotspots))
    builders = {"bivariate": bivariate_layer, "geary": geary_layer,
                "join_counts": join_count_layer}
    for key, frame in (local or {}).items():
        if frame is not None:
            areal.append(builders[key](frame))
    if choropleth is not None:
        areal.append(choropleth_layer(choropleth))
    for k, layer in enumerate(areal):
        layer.show = k == 0
    layers = list(areal)
    if density is not None:
        layers.append(surface_layer(density))
    if clusters is not None:
        layers.extend(cluster_layers(clusters))
    if firms is not None:
        layers.append(firm_layer(firms, color=color, size=size, popup=popup, tooltip=tooltip))
    return layers
