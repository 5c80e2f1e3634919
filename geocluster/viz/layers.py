"""folium elements and data encoding behind :mod:`geocluster.viz.maps` (internal API).

Each layer is one folium ``Layer`` whose script calls the browser runtime
(``geocluster/viz/static/geocluster-runtime.js``, put into the page by
:func:`install_runtime`) with a payload written by :func:`~geocluster.viz.assets.safe_json`.
Attribute values travel as columns (categorical ones as codes into a list of levels), so
100,000 firms cost a few megabytes rather than one HTML snippet each.

Rendering without a second template pass
----------------------------------------
branca's ``MacroElement.render`` renders an element's ``header``/``html``/``script``
macros and wraps each result in ``Element(text)``, whose constructor compiles ``text`` as a
*new* Jinja template, rendered again with the page. Any data inside the markup would be
template source there (``{{7*7}}`` in a firm name became ``49``). Every element geocluster
puts on a map (:class:`GeoclusterLayer`, :class:`SafeTileLayer`,
:class:`SafeLayerControl`, :class:`Ready`, :class:`SafeFitBounds` and the runtime) renders
through :func:`render_raw` instead: its macros run once, with the data as template
*variables* (never compiled), and the output is kept as a :class:`RawElement`, whose
``render`` returns its text unchanged. Element ids come from :func:`stable_id` so that the
same map gives the same bytes.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import OrderedDict

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure
from folium.template import Template

from geocluster.viz.assets import runtime_header, safe_json

#: Characters of one text value kept in a tooltip or popup (the rest become
#: "… (200,000 characters)").
MAX_TEXT = 500
#: Characters kept of a field, layer or legend name.
MAX_LABEL = 200

#: Decimal places kept for longitude/latitude (1e-5 degree is about 1 m).
COORD_DECIMALS = 5

_HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")


def check_colour(colour: str) -> str:
    """Colours come from our palettes; refuse anything else reaching a style property."""
    if not isinstance(colour, str) or not _HEX_RE.match(colour):
        raise ValueError(f"internal error: {colour!r} is not a #rrggbb colour")
    return colour


def clip_text(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters plus "… (N characters)" when it is longer.

    Examples
    --------
    >>> clip_text("x" * 200_000, 5)
    'xxxxx… (200,000 characters)'
    >>> clip_text("short")
    'short'
    """
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def layer_label(name: str) -> str:
    """A layer name as the layer control shows it (Leaflet writes it as HTML).

    HTML-escaped, and ``{``/``}`` written as character references too, so the label is
    inert even in a template (it never reaches one: see :func:`render_raw`).
    """
    text = html.escape(str(name), quote=True)
    return text.replace("{", "&#123;").replace("}", "&#125;")


def stable_id(*parts) -> str:
    """A 32-hex-digit element id derived from ``parts`` (instead of branca's random one)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return digest.hexdigest()[:32]


# ----------------------------------------------------------------------------- columns


def _format_number(v: float) -> float | int | None:
    if v is None or not np.isfinite(v):
        return None
    if float(v).is_integer() and abs(v) < 1e15:
        return int(v)
    return float(f"{v:.6g}")


def _text(value) -> str | None:
    """A cell as text: lists (e.g. a region's member units) joined, missing as None."""
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return clip_text(", ".join(str(v) for v in value))
    return None if pd.isna(value) else clip_text(value)


def is_missing(value) -> bool:
    """``pd.isna`` for one cell, ``False`` for list- or array-valued cells."""
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def is_scalar_column(values: pd.Series) -> bool:
    """Whether every cell is a scalar (tooltips show scalars only)."""
    if values.dtype != object:
        return not isinstance(values.dtype, pd.api.extensions.ExtensionDtype) or \
            pd.api.types.is_scalar(values.iloc[0] if len(values) else 0)
    return all(pd.api.types.is_scalar(v) or v is None for v in values)


def encode_column(values: pd.Series) -> dict:
    """One attribute column for tooltips/popups: numbers as numbers, text as text.

    Repeated text is stored once (``levels``) with integer ``codes`` (-1 for missing).
    """
    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s) or not (
        pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
    ):
        if pd.api.types.is_datetime64_any_dtype(s):
            s = s.dt.strftime("%Y-%m-%d %H:%M:%S").str.replace(" 00:00:00", "", regex=False)
        text = pd.Series([_text(v) for v in s], dtype="object")
        codes, levels = pd.factorize(text, use_na_sentinel=True)
        if len(levels) <= max(1, len(text) // 2):
            return {"levels": [str(v) for v in levels], "codes": codes.tolist()}
        return {"values": text.tolist()}
    arr = s.to_numpy(dtype="float64", na_value=np.nan)
    if np.all(np.isnan(arr) | (arr == np.round(arr))) and np.nanmax(np.abs(arr), initial=0) < 1e15:
        return {"values": [None if np.isnan(v) else int(v) for v in arr]}
    return {"values": [_format_number(v) for v in arr]}


def info_specs(
    frame: pd.DataFrame, wanted: dict[str, list | None], *, index_label: str | None
) -> tuple[list[dict], dict[str, dict | None]]:
    """Columns and field lists of a layer's tooltip and popup.

    ``wanted`` maps "tooltip"/"popup" to the fields to show (``None``: none);
    ``index_label`` adds the index first. Each source column is encoded once into the
    returned ``columns``; a spec lists its ``fields`` (names shown) and ``cols`` (positions
    in ``columns``), so a column shown in both the tooltip and the popup costs its bytes once.
    """
    columns: list[dict] = []
    where: dict[tuple, int] = {}

    def ref(key: tuple, values) -> int:
        if key not in where:
            where[key] = len(columns)
            columns.append(encode_column(pd.Series(values)))
        return where[key]

    specs: dict[str, dict | None] = {}
    for part, fields in wanted.items():
        if fields is None:
            specs[part] = None
            continue
        names: list[str] = []
        cols: list[int] = []
        if index_label is not None:
            names.append(clip_text(index_label, MAX_LABEL))
            cols.append(ref(("index",), frame.index))
        for field in fields:
            names.append(clip_text(field, MAX_LABEL))
            cols.append(ref(("column", field), frame[field]))
        specs[part] = {"fields": names, "cols": cols} if names else None
    return columns, specs


# ----------------------------------------------------------------------------- geometry


def round_coords(geoms: np.ndarray) -> np.ndarray:
    """Geometries with coordinates rounded to COORD_DECIMALS (about 1 m)."""
    return shapely.transform(geoms, lambda c: np.round(c, COORD_DECIMALS))


def feature_collection(geoms: np.ndarray, colour_codes: np.ndarray) -> str:
    """GeoJSON text with only ``c`` (colour code) and ``i`` (row) as properties.

    Geometry JSON holds only numbers, so it is safe inside a script element as it is.
    """
    parts = shapely.to_geojson(round_coords(geoms))
    feats = [
        f'{{"type":"Feature","properties":{{"c":{int(c)},"i":{i}}},"geometry":{g}}}'
        for i, (c, g) in enumerate(zip(colour_codes, parts, strict=True))
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


# ----------------------------------------------------------------------------- folium elements


class RawElement(Element):
    """Text put into the page as it is: never compiled or rendered as a template."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "RawElement"
        self.text = str(text)

    def render(self, **kwargs) -> str:
        return self.text


def render_raw(element: folium.MacroElement, kwargs: dict) -> None:
    """Render ``element`` like branca's ``MacroElement.render``, without the second pass.

    The ``header``, ``html`` and ``script`` macros of the element's template run once, with
    the element as a variable; their output goes into the page's header, body and script
    as :class:`RawElement` (branca would compile it as a new template). A shown
    ``folium.map.Layer`` adds itself to its parent in the same script.
    """
    figure = figure_of(element)
    parent = element._parent
    module = element._template.module
    for part in ("header", "html", "script"):
        macro = getattr(module, part, None)
        if macro is None:
            continue
        text = str(macro(element, kwargs))
        if part == "script" and isinstance(element, folium.map.Layer) and element.show:
            text += f"\n{element.get_name()}.addTo({parent.get_name()});\n"  # type: ignore[union-attr]
        getattr(figure, part).add_child(RawElement(text), name=element.get_name())
    for child in list(element._children.values()):
        child.render(**kwargs)


def figure_of(element: Element) -> Figure:
    """The page (branca ``Figure``) ``element`` is on."""
    figure = element.get_root()
    if not isinstance(figure, Figure):
        raise ValueError(f"internal error: {type(element).__name__} is not on a folium map")
    return figure


def forget_rendered(figure: Figure, name: str) -> None:
    """Drop what an element called ``name`` left in the page by an earlier render."""
    for part in (figure.header, figure.html, figure.script):
        part._children.pop(name, None)


def rename(element: Element, new_id: str) -> None:
    """Give ``element`` the id ``new_id``, re-keying it in its parent and forgetting what
    an earlier render left in the page under its old name."""
    old = element.get_name()
    if element._id == new_id:
        return
    element._id = new_id
    figure = element.get_root()
    if isinstance(figure, Figure):
        forget_rendered(figure, old)
    parent = element._parent
    if parent is not None:
        parent._children = OrderedDict(
            (element.get_name() if child is element and key == old else key, child)
            for key, child in parent._children.items()
        )


class GeoclusterLayer(folium.map.Layer):
    """A folium layer drawn by ``window.geocluster.<kind>`` from a JSON payload."""

    # The data sit in <script type="application/json"> elements (parsed with JSON.parse,
    # several times faster than the same literal inside JavaScript for megabytes of data).
    _template = Template(
        """
        {% macro html(this, kwargs) %}
            <script type="application/json" id="{{ this.get_name() }}_data">{{ this.payload }}</script>
            {%- if this.extra %}
            <script type="application/json" id="{{ this.get_name() }}_extra">{{ this.extra }}</script>
            {%- endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = geocluster.{{ this.kind }}(
                {{ this._parent.get_name() }},
                geocluster.data("{{ this.get_name() }}_data"),
                {% if this.extra %}geocluster.data("{{ this.get_name() }}_extra"){% else %}null{% endif %});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        kind: str,
        payload: dict,
        *,
        name: str,
        show: bool = True,
        extra: str | None = None,
        overlay: bool = True,
        bounds: tuple[float, float, float, float] | None = None,
    ):
        name = clip_text(name, MAX_LABEL)
        super().__init__(name=layer_label(name), overlay=overlay, control=True, show=show)
        self._name = "GeoclusterLayer"
        self.kind = kind
        self.plain_name = name
        legend = payload.get("legend")
        if legend:
            payload = {**payload, "legend": _clip_legend(legend)}
        self.payload = safe_json({**payload, "name": name})
        self.extra = extra
        self.data_bounds = bounds

    def rename_layer(self, name: str) -> None:
        """Change the layer's name (in the layer control and in the payload)."""
        name = clip_text(name, MAX_LABEL)
        self.plain_name = name
        self.layer_name = layer_label(name)
        self.payload = safe_json({**json.loads(self.payload), "name": name})

    def _get_self_bounds(self):
        if self.data_bounds is None:
            return [[None, None], [None, None]]
        w, s, e, n = self.data_bounds
        return [[s, w], [n, e]]

    def render(self, **kwargs):
        render_raw(self, kwargs)


def _clip_legend(legend: dict) -> dict:
    """Cut over-long legend texts (a safety net: the builders cut the names they insert to
    MAX_LABEL, so a label such as "<cut name> (12)" is left as it is)."""
    limit = MAX_LABEL + 60
    out = dict(legend)
    for key in ("title", "note"):
        if isinstance(out.get(key), str):
            out[key] = clip_text(out[key], limit)
    if out.get("items"):
        out["items"] = [{**item, "label": clip_text(item["label"], limit)}
                        for item in out["items"]]
    return out


class SafeTileLayer(folium.TileLayer):
    """``folium.TileLayer`` rendered by :func:`render_raw`."""

    def render(self, **kwargs):
        render_raw(self, kwargs)


class SafeLayerControl(folium.LayerControl):
    """``folium.LayerControl`` rendered by :func:`render_raw` (layer names are HTML in
    Leaflet's control: they arrive escaped by :func:`layer_label`)."""

    def render(self, **kwargs):
        self.reset()
        for item in self._parent._children.values():
            if not isinstance(item, folium.map.Layer) or not item.control:
                continue
            if item.overlay:
                self.overlays[item.layer_name] = item.get_name()
            else:
                self.base_layers[item.layer_name] = item.get_name()
        render_raw(self, kwargs)


class SafeFitBounds(folium.FitBounds):
    """``folium.FitBounds`` rendered by :func:`render_raw`."""

    def render(self, **kwargs):
        render_raw(self, kwargs)


class Ready(folium.MacroElement):
    """Marks the page ``data-geocluster-ready`` once the layers are drawn."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            geocluster.ready({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self):
        super().__init__()
        self._name = "GeoclusterReady"

    def render(self, **kwargs):
        render_raw(self, kwargs)


def install_runtime(m: folium.Map) -> None:
    """Add the runtime once to the map's page header (as raw text, never a template)."""
    figure_of(m).header.add_child(RawElement(runtime_header()), name="geocluster_runtime")
