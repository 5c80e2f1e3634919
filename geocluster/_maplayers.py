"""folium elements and data encoding behind :mod:`geocluster.maps` (private).

Each layer is one folium ``Layer`` whose script calls the runtime in
:mod:`geocluster._mapassets` with a payload written by :func:`~geocluster._mapassets.safe_json`.
Attribute values travel as columns (categorical ones as codes into a list of levels), so
100,000 firms cost a few megabytes rather than one HTML snippet each.
"""

from __future__ import annotations

import html
import re

import folium
import numpy as np
import pandas as pd
import shapely
from folium.template import Template

from geocluster._mapassets import runtime_header, safe_json

#: Decimal places kept for longitude/latitude (1e-5 degree is about 1 m).
COORD_DECIMALS = 5

_HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")


def check_colour(colour: str) -> str:
    """Colours come from our palettes; refuse anything else reaching a style property."""
    if not isinstance(colour, str) or not _HEX_RE.match(colour):
        raise ValueError(f"internal error: {colour!r} is not a #rrggbb colour")
    return colour


def layer_label(name: str) -> str:
    """A layer name as the layer control shows it (Leaflet writes it as HTML)."""
    return html.escape(str(name), quote=True)


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
        return ", ".join(str(v) for v in value)
    return None if pd.isna(value) else str(value)


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


def info_spec(frame: pd.DataFrame, fields: list[str], *, index_label: str | None) -> dict | None:
    """Fields shown in a tooltip or popup; ``index_label`` adds the index first."""
    names: list[str] = []
    columns: list[dict] = []
    if index_label is not None:
        names.append(index_label)
        columns.append(encode_column(pd.Series(frame.index)))
    for field in fields:
        names.append(str(field))
        columns.append(encode_column(frame[field]))
    if not names:
        return None
    return {"fields": names, "columns": columns}


# ----------------------------------------------------------------------------- geometry


def round_coords(geoms: np.ndarray) -> np.ndarray:
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
        super().__init__(name=layer_label(name), overlay=overlay, control=True, show=show)
        self._name = "GeoclusterLayer"
        self.kind = kind
        self.payload = safe_json({**payload, "name": str(name)})
        self.extra = extra
        self.data_bounds = bounds

    def _get_self_bounds(self):
        if self.data_bounds is None:
            return [[None, None], [None, None]]
        w, s, e, n = self.data_bounds
        return [[s, w], [n, e]]


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


def install_runtime(m: folium.Map) -> None:
    """Add the runtime once to the map's page header."""
    root = m.get_root()
    root.header.add_child(folium.Element(runtime_header()), name="geocluster_runtime")
