"""Assets behind :mod:`geocluster.viz.maps` (private).

* the vendored Leaflet files (``geocluster/_vendor/leaflet``, from the npm package
  ``leaflet@1.9.4``; provenance in ``geocluster/_vendor/README.md``) and
  :func:`inline_assets`, which swaps folium's CDN links for them;
* :func:`safe_json`, the only way data reach the page's ``<script>``: it escapes ``<``,
  ``>``, ``&``, quotes, backticks and (inside strings) ``{``/``}``, so its output can
  neither end the script element nor hold template syntax (``{{``, ``{%``, ``{#``);
* the small JavaScript runtime (``window.geocluster``) that draws the layers, their
  tooltips, popups and legends. It writes every user-supplied string with
  ``textContent``, never ``innerHTML``, so names such as ``<img onerror=...>`` show as text.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from importlib import resources

from geocluster.errors import InputError

LEAFLET_VERSION = "1.9.4"

# ----------------------------------------------------------------------------- vendored files


def _vendor_file(*parts: str) -> bytes:
    return resources.files("geocluster").joinpath("_vendor", "leaflet", *parts).read_bytes()


@functools.cache
def leaflet_js() -> str:
    """The vendored ``leaflet.js`` (minified, 147 KB)."""
    text = _vendor_file("leaflet.js").decode("utf-8")
    # Cannot happen with the shipped file, but an inline script must never close early.
    return text.replace("</script", "<\\/script")


@functools.cache
def leaflet_css() -> str:
    """The vendored ``leaflet.css`` with its three images inlined as ``data:`` URIs."""
    css = _vendor_file("leaflet.css").decode("utf-8")

    def to_data_uri(match: re.Match) -> str:
        name = match.group(1)
        data = base64.b64encode(_vendor_file("images", name)).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", to_data_uri, css)


# ----------------------------------------------------------------------------- safe JSON

_JS_UNSAFE = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
    "`": "\\u0060",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JS_UNSAFE_RE = re.compile("[<>&'`\u2028\u2029]")
#: A JSON string token (the only place where data can hold ``{`` or ``}``).
_JSON_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
#: What starts a Jinja construct; JSON outside strings can never contain it.
_TEMPLATE_START_RE = re.compile(r"\{[{%#]")


def _escape_braces(match: re.Match) -> str:
    token = match.group(0)
    if "{" in token or "}" in token:
        return token.replace("{", "\\u007b").replace("}", "\\u007d")
    return token


def safe_json(obj) -> str:
    """JSON that is safe to paste into an HTML ``<script>`` element, and inert as a template.

    Characters that could end the script element or start an HTML construct (``<``,
    ``>``, ``&``), the quote characters and, inside strings, ``{`` and ``}`` are written as
    ``\\uXXXX`` escapes; JSON parsers and JavaScript read them back as the same
    characters. The braces of JSON's own objects are never followed by ``{``, ``%`` or
    ``#``, so the text holds nothing a Jinja template would act on (``{{``, ``{%``,
    ``{#``), whatever the data. NaN and infinities become ``null``.

    Examples
    --------
    >>> safe_json({"name": "{{7*7}} <b>"})
    '{"name":"\\\\u007b\\\\u007b7*7\\\\u007d\\\\u007d \\\\u003cb\\\\u003e"}'
    """
    text = json.dumps(_clean(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = _JS_UNSAFE_RE.sub(lambda m: _JS_UNSAFE[m.group(0)], text)
    if "{" in text:
        text = _JSON_STRING_RE.sub(_escape_braces, text)
    if _TEMPLATE_START_RE.search(text):  # cannot happen: JSON objects start with '"' or '}'
        raise ValueError("internal error: template syntax left in a JSON payload")
    return text


def _clean(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- self-contained

_SCRIPT_RE = re.compile(r"<script\s+src=\"([^\"]+)\"\s*>\s*</script>", re.IGNORECASE)
_LINK_RE = re.compile(
    r"<link\s+rel=\"stylesheet\"\s+href=\"([^\"]+)\"\s*/?>", re.IGNORECASE
)
_LEAFLET_JS_RE = re.compile(r"/leaflet(@[0-9.]+)?/dist/leaflet(-src)?\.js$|/leaflet\.js$")
_LEAFLET_CSS_RE = re.compile(r"/leaflet(@[0-9.]+)?/dist/leaflet\.css$|/leaflet\.css$")

#: folium's default assets that geocluster's layers never use, with a pattern that shows
#: a page does use them (then the asset cannot be dropped and cannot be inlined either).
_DROPPABLE = {
    "jquery": (re.compile(r"jquery", re.I), re.compile(r"\$\(`|jQuery")),
    "bootstrap": (re.compile(r"bootstrap(?!-glyphicons)", re.I), None),
    "glyphicons": (re.compile(r"bootstrap-glyphicons", re.I), None),
    "awesome-markers": (
        re.compile(r"awesome-markers|awesome\.rotate|fontawesome", re.I),
        re.compile(r"L\.AwesomeMarkers"),
    ),
}


def inline_assets(html: str) -> str:
    """Replace folium's CDN ``<script>``/``<link>`` tags by inline copies or nothing.

    Leaflet's JavaScript and CSS are inlined from the vendored files; folium's other
    defaults (jQuery, Bootstrap, Font Awesome, awesome-markers) are dropped because the
    geocluster layers do not use them. An external asset that is used, or unknown,
    raises :class:`~geocluster.errors.InputError` rather than leave a network load.
    """
    body = _LINK_RE.sub("", _SCRIPT_RE.sub("", html))

    def resolve(url: str, kind: str) -> str:
        if kind == "js" and _LEAFLET_JS_RE.search(url):
            return f"<script>/* Leaflet {LEAFLET_VERSION} (BSD-2-Clause) */\n{leaflet_js()}</script>"
        if kind == "css" and _LEAFLET_CSS_RE.search(url):
            return f"<style>/* Leaflet {LEAFLET_VERSION} (BSD-2-Clause) */\n{leaflet_css()}</style>"
        for name, (url_re, used_re) in _DROPPABLE.items():
            if url_re.search(url):
                if used_re is not None and used_re.search(body):
                    raise InputError(
                        f"save_map(self_contained=True) cannot inline {name} ({url}), which "
                        "a folium element on this map uses. Remove that element, or save "
                        "with self_contained=False (the file then needs network access)."
                    )
                return ""
        raise InputError(
            f"save_map(self_contained=True) cannot inline the external asset {url!r} "
            "(added by a folium plugin or element geocluster does not know). Remove it, or "
            "save with self_contained=False (the file then needs network access)."
        )

    html = _SCRIPT_RE.sub(lambda m: resolve(m.group(1), "js"), html)
    html = _LINK_RE.sub(lambda m: resolve(m.group(1), "css"), html)
    return html


#: Patterns that load a resource over the network when the page opens.
NETWORK_LOAD_RE = re.compile(
    r"<script[^>]+src=[\"']?(https?:)?//"
    r"|<link[^>]+href=[\"']?(https?:)?//"
    r"|<img[^>]+src=[\"']?(https?:)?//"
    r"|url\(\s*[\"']?(https?:)?//"
    r"|@import\s",
    re.IGNORECASE,
)


# ----------------------------------------------------------------------------- runtime

RUNTIME_CSS = """
.gc-legends { max-height: min(calc(100vh - 230px), 55vh); overflow-y: auto; display: flex;
  flex-direction: column; gap: 6px; background: rgba(255,255,255,0.93); padding: 6px 9px;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3); font: 12px/1.4 system-ui,
  -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; max-width: 280px; }
.gc-legends:not(:has(.gc-legend:not([style*="none"]))) { display: none; }
.gc-legend + .gc-legend { border-top: 1px solid #ddd; padding-top: 5px; }
.gc-legend-title { font-weight: 600; margin-bottom: 3px; overflow-wrap: anywhere; }
.gc-legend-row { display: flex; align-items: center; gap: 6px; min-height: 16px; }
.gc-legend-label { overflow-wrap: anywhere; }
.gc-swatch { display: inline-block; flex: none; width: 14px; height: 11px;
  border: 1px solid rgba(0,0,0,0.3); box-sizing: border-box; }
.gc-swatch.gc-circle { border-radius: 50%; width: 11px; }
.gc-swatch.gc-outline { background: transparent !important; border-width: 2px; }
.gc-size-row { display: flex; align-items: flex-end; gap: 8px; margin-top: 3px; }
.gc-size-item { display: flex; flex-direction: column; align-items: center; }
.gc-size-item span.gc-dot { border-radius: 50%; background: #888; border: 1px solid #444;
  box-sizing: border-box; }
.gc-gradient { height: 10px; width: 170px; border: 1px solid rgba(0,0,0,0.3); }
.gc-gradient-labels { display: flex; justify-content: space-between; width: 170px; }
.gc-note { color: #555; margin-top: 3px; font-size: 11px; overflow-wrap: anywhere; }
.gc-info, .gc-many { font: 12px/1.35 system-ui, -apple-system, "Segoe UI", Helvetica, Arial,
  sans-serif; white-space: normal; width: max-content; max-width: 320px; }
.gc-info { display: grid; grid-template-columns: max-content minmax(0, 1fr);
  column-gap: 8px; row-gap: 1px; }
.gc-key { font-weight: 600; color: #444; overflow-wrap: anywhere; min-width: 0; }
.gc-val { overflow-wrap: anywhere; min-width: 0; }
.gc-info .gc-wide { grid-column: 1 / -1; }
.gc-info .gc-below { padding-left: 10px; margin-bottom: 2px; }
.gc-many-head { font-weight: 600; margin-bottom: 3px; }
.gc-many .gc-info { width: auto; border-top: 1px solid #ddd; padding-top: 3px; margin-top: 3px; }
.gc-more, .gc-here { color: #555; margin-top: 3px; font-size: 11px; }
.leaflet-control-layers-list { font: 12px/1.4 system-ui, -apple-system, "Segoe UI",
  Helvetica, Arial, sans-serif; }
"""

RUNTIME_JS = r"""
(function () {
  "use strict";
  if (window.geocluster) { return; }
  var gc = window.geocluster = {version: 1, maps: [], layers: [], timings: {}};
  gc.timings.runtime = performance.now();
  var RANK = {areas: 1, outlines: 2};

  function setup(map) {
    if (map._geocluster) { return map._geocluster; }
    var st = {
      renderer: L.canvas({padding: 0.5, tolerance: 3}),
      tooltip: L.tooltip({direction: "top", offset: [0, -6], className: "gc-tooltip"}),
      stack: [], points: [], feature: null, shown: null
    };
    // The KDE image lies above the areas and outlines (one canvas in the overlay pane, at
    // z-index 400) and below the firms; neither pane takes the mouse.
    [["gc-surface", 420], ["gc-points", 450]].forEach(function (p) {
      if (!map.getPane(p[0])) {
        var pane = map.createPane(p[0]);
        pane.style.zIndex = p[1];
        pane.style.pointerEvents = "none";
      }
    });
    map._geocluster = st;
    gc.maps.push(map);
    // One tooltip for the whole map: a firm under the mouse wins over the area below it.
    map.on("mousemove", function (e) {
      var hit = null;
      for (var k = st.points.length - 1; k >= 0 && !hit; k--) {
        if (map.hasLayer(st.points[k])) { hit = st.points[k]._hit(e.layerPoint); }
      }
      map.getContainer().style.cursor = hit ? "pointer" : "";
      var target = hit || st.feature;
      if (!target || !target.spec) {
        if (st.shown !== null) { map.closeTooltip(st.tooltip); st.shown = null; }
        return;
      }
      if (st.shown !== target.key) {
        st.tooltip.setContent(hoverInfo(target));
        st.shown = target.key;
      }
      map.openTooltip(st.tooltip, hit ? hit.latlng : e.latlng);
    });
    map.on("mouseout", function () { map.closeTooltip(st.tooltip); st.shown = null; });
    // A click (or a tap, where there is no hover) opens the popup fields, else the tooltip's.
    map.on("click", function (e) {
      for (var k = st.points.length - 1; k >= 0; k--) {
        var layer = st.points[k], spec = layer._d.popup || layer._d.tooltip;
        if (!map.hasLayer(layer) || !spec) { continue; }
        var hit = layer._hit(e.layerPoint);
        if (hit) {
          map.closeTooltip(st.tooltip);
          st.shown = null;
          var t0 = performance.now();
          openPopup(map, hit.latlng, many(spec, hit.same));
          gc.timings.popup = performance.now() - t0;
          return;
        }
      }
    });
    return st;
  }

  // An opaque colour as one 32-bit RGBA pixel of an ImageData buffer (little-endian).
  var LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  function hexToPixel(hex) {
    var v = parseInt(hex.slice(1, 7), 16), r = (v >> 16) & 255, g = (v >> 8) & 255, b = v & 255;
    return (LITTLE ? ((255 << 24) | (b << 16) | (g << 8) | r)
                   : ((r << 24) | (g << 16) | (b << 8) | 255)) >>> 0;
  }

  // Text values arrive cut to MAX_TEXT characters by Python; anything longer is cut here.
  var MAX_TEXT = 500, MAX_LIST = 50;
  function clip(s) {
    s = String(s);
    return s.length <= MAX_TEXT + 40 ? s :
      s.slice(0, MAX_TEXT) + "\u2026 (" + s.length.toLocaleString("en-US") + " characters)";
  }
  function text(value) {
    return (value === null || value === undefined) ? "\u2013" : clip(value);
  }

  function cell(col, i) {
    if (col.levels) {
      var code = col.codes[i];
      return code < 0 ? null : col.levels[code];
    }
    return col.values[i];
  }

  function div(className, content, parent) {
    var el = document.createElement("div");
    el.className = className;
    if (content !== undefined) { el.textContent = content; }
    if (parent) { parent.appendChild(el); }
    return el;
  }

  // Field names and values in two grid columns built with DOM calls: every string is set
  // as text, never parsed. A field name longer than LONG_KEY characters takes a row of
  // its own above its value, so it cannot squeeze the value column.
  var LONG_KEY = 20;
  function info(spec, i) {
    var box = div("gc-info");
    for (var k = 0; k < spec.fields.length; k++) {
      var wide = String(spec.fields[k]).length > LONG_KEY;
      div(wide ? "gc-key gc-wide" : "gc-key", clip(spec.fields[k]), box);
      div(wide ? "gc-val gc-wide gc-below" : "gc-val", text(cell(spec.columns[k], i)), box);
    }
    return box;
  }
  gc.info = info;

  // Every firm at one location (a shared address): up to MAX_LIST of them, then a count.
  function many(spec, list) {
    if (list.length === 1) { return info(spec, list[0]); }
    var box = div("gc-many");
    div("gc-many-head", list.length.toLocaleString("en-US") + " firms at this location", box);
    for (var j = 0; j < Math.min(list.length, MAX_LIST); j++) { box.appendChild(info(spec, list[j])); }
    if (list.length > MAX_LIST) {
      div("gc-more", "and " + (list.length - MAX_LIST).toLocaleString("en-US") + " more", box);
    }
    return box;
  }
  gc.many = many;

  function hoverInfo(target) {
    var box = info(target.spec, target.index);
    var others = target.same ? target.same.length - 1 : 0;
    if (others > 0) {
      var wrap = div("gc-many");
      wrap.appendChild(box);
      div("gc-here", "and " + others.toLocaleString("en-US") + " more firm" +
          (others === 1 ? "" : "s") + " at this location: click to list them", wrap);
      return wrap;
    }
    return box;
  }

  function openPopup(map, latlng, content) {
    L.popup({maxWidth: 360, maxHeight: 360}).setLatLng(latlng).setContent(content).openOn(map);
  }

  // All legends live in one scrolling box at the bottom right, newest layer on top; each
  // is shown only while its layer is on the map.
  function legendBox(map) {
    var st = setup(map);
    if (!st.legends) {
      var control = L.control({position: "bottomright"});
      control.onAdd = function () {
        var box = L.DomUtil.create("div", "gc-legends leaflet-control");
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      };
      control.addTo(map);
      st.legends = control.getContainer();
    }
    return st.legends;
  }

  function legend(map, layer, spec) {
    if (!spec) { return; }
    var box = L.DomUtil.create("div", "gc-legend");
    box.setAttribute("data-gc-legend", spec.id);
    L.DomUtil.create("div", "gc-legend-title", box).textContent = spec.title;
    (spec.items || []).forEach(function (item) {
      var row = L.DomUtil.create("div", "gc-legend-row", box);
      var sw = L.DomUtil.create("span", "gc-swatch gc-" + (item.shape || "box"), row);
      if (item.shape === "outline") { sw.style.borderColor = item.color; }
      else { sw.style.background = item.color; }
      L.DomUtil.create("span", "gc-legend-label", row).textContent = item.label;
    });
    if (spec.sizes) {
      L.DomUtil.create("div", "gc-note", box).textContent = spec.sizes.title;
      var sizes = L.DomUtil.create("div", "gc-size-row", box);
      spec.sizes.items.forEach(function (item) {
        var cellBox = L.DomUtil.create("div", "gc-size-item", sizes);
        var dot = L.DomUtil.create("span", "gc-dot", cellBox);
        dot.style.width = dot.style.height = (2 * item.radius) + "px";
        L.DomUtil.create("span", "gc-legend-label", cellBox).textContent = item.label;
      });
    }
    if (spec.gradient) {
      var bar = L.DomUtil.create("div", "gc-gradient", box);
      bar.style.background = "linear-gradient(to right, " + spec.gradient.colors.join(", ") + ")";
      var labels = L.DomUtil.create("div", "gc-gradient-labels", box);
      L.DomUtil.create("span", "", labels).textContent = spec.gradient.low;
      L.DomUtil.create("span", "", labels).textContent = spec.gradient.high;
    }
    if (spec.note) { L.DomUtil.create("div", "gc-note", box).textContent = spec.note; }
    var container = legendBox(map);
    container.insertBefore(box, container.firstChild);
    box.style.display = "none";
    layer.on("add", function () { box.style.display = ""; });
    layer.on("remove", function () { box.style.display = "none"; });
  }

  // Areas and outlines share one canvas renderer (several canvases would each capture the
  // mouse); drawing order is kept as areas < outlines whenever one is switched on.
  function stack(map, layer, rank) {
    var st = setup(map);
    st.stack.push({layer: layer, rank: rank});
    st.stack.sort(function (a, b) { return a.rank - b.rank; });
    layer.on("add", function () {
      st.stack.forEach(function (other) {
        if (other.rank > rank && map.hasLayer(other.layer)) { other.layer.bringToFront(); }
      });
    });
  }

  // Tooltip and popup name their columns by position in the layer's shared d.columns.
  function resolve(d) {
    ["tooltip", "popup"].forEach(function (part) {
      var spec = d[part];
      if (spec && spec.cols) {
        spec.columns = spec.cols.map(function (c) { return d.columns[c]; });
      }
    });
  }

  function register(map, layer, d, kind, count) {
    gc.layers.push({name: d.name, kind: kind, count: count, layer: layer, map: map});
    legend(map, layer, d.legend);
  }

  // Firms: every point drawn straight onto one canvas from typed arrays (no Leaflet object
  // per firm), redrawn after each pan or zoom; the mouse is matched through a pixel grid.
  // (Defined on first use: this runtime is loaded before Leaflet in the page header.)
  var PointCanvas = null;
  function makePointCanvas() { return L.Layer.extend({
    options: {pane: "gc-points", padding: 0.25, cell: 24},

    initialize: function (d) {
      this._d = d;
      var n = this._n = d.lat.length;
      var single = typeof d.radius === "number";
      this._r = new Float32Array(n);
      var order = new Array(n);
      for (var i = 0; i < n; i++) {
        this._r[i] = single ? d.radius : d.radius[i];
        order[i] = i;
      }
      var r = this._r, codes = d.codes;
      // Big circles first so that small ones stay visible; same colours in runs.
      order.sort(function (a, b) {
        return (Math.round(r[b]) - Math.round(r[a])) ||
          (codes ? codes[a] - codes[b] : 0) || (a - b);
      });
      this._order = Uint32Array.from(order);
      var s = -Infinity, w = Infinity, nth = -Infinity, so = Infinity;
      for (i = 0; i < n; i++) {
        if (d.lon[i] < w) { w = d.lon[i]; }
        if (d.lon[i] > s) { s = d.lon[i]; }
        if (d.lat[i] < so) { so = d.lat[i]; }
        if (d.lat[i] > nth) { nth = d.lat[i]; }
      }
      this._bounds = n ? L.latLngBounds([so, w], [nth, s]) : null;
    },

    getBounds: function () { return this._bounds; },

    onAdd: function (map) {
      if (!this._px || this._crs !== map.options.crs) { this._project(map.options.crs); }
      this._canvas = L.DomUtil.create("canvas", "gc-points-canvas leaflet-zoom-animated");
      this._canvas.style.pointerEvents = "none";
      this._canvas.style.opacity = this._d.fillOpacity;
      this.getPane().appendChild(this._canvas);
      map.on("moveend", this._reset, this);  // also fired after every zoom and resize
      if (map._zoomAnimated) { map.on("zoomanim", this._animateZoom, this); }
      this._reset();
    },

    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off("moveend", this._reset, this);
      map.off("zoomanim", this._animateZoom, this);
      this._grid = null;
    },

    // Pixel coordinates at zoom 0 divided by the CRS scale: linear in the scale of any zoom.
    _project: function (crs) {
      var n = this._n, d = this._d, s0 = crs.scale(0);
      this._px = new Float64Array(n);
      this._py = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        var p = crs.latLngToPoint(L.latLng(d.lat[i], d.lon[i]), 0);
        this._px[i] = p.x / s0;
        this._py[i] = p.y / s0;
      }
      this._crs = crs;
    },

    _reset: function () {
      var map = this._map, size = map.getSize(), pad = this.options.padding;
      var tl = map.containerPointToLayerPoint(size.multiplyBy(-pad)).round();
      var full = size.multiplyBy(1 + 2 * pad).round();
      var dpr = window.devicePixelRatio || 1, canvas = this._canvas;
      L.DomUtil.setPosition(canvas, tl);
      canvas.width = Math.round(full.x * dpr);
      canvas.height = Math.round(full.y * dpr);
      canvas.style.width = full.x + "px";
      canvas.style.height = full.y + "px";
      this._tl = tl;
      this._latLngBounds = L.latLngBounds(map.layerPointToLatLng(tl),
                                          map.layerPointToLatLng(tl.add(full)));
      var t0 = performance.now();
      this._draw(full, dpr);
      gc.timings.pointsDraw = performance.now() - t0;
    },

    _animateZoom: function (e) {
      var map = this._map, scale = map.getZoomScale(e.zoom);
      var offset = map._latLngBoundsToNewLayerBounds(this._latLngBounds, e.zoom, e.center).min;
      L.DomUtil.setTransform(this._canvas, offset, scale);
    },

    // Opaque discs are stamped straight into an ImageData buffer (the canvas as a whole is
    // translucent): with software rendering this is about 10 times faster than filling
    // 100,000 canvas arcs.
    _draw: function (full, dpr) {
      var map = this._map, d = this._d, canvas = this._canvas, ctx = canvas.getContext("2d");
      var scale = map.options.crs.scale(map.getZoom());
      var origin = map.getPixelOrigin();
      var ox = origin.x + this._tl.x, oy = origin.y + this._tl.y;
      var W = full.x, H = full.y, BW = canvas.width, BH = canvas.height;
      var sx = new Float32Array(this._n), sy = new Float32Array(this._n);
      var order = this._order, r = this._r, codes = d.codes;
      var rgba = this._rgba || (this._rgba = d.palette.map(hexToPixel));
      var stroke = hexToPixel(d.stroke);
      var img = ctx.createImageData(BW, BH), px = new Uint32Array(img.data.buffer);
      for (var k = 0; k < this._n; k++) {
        var i = order[k], x = this._px[i] * scale - ox, y = this._py[i] * scale - oy, ri = r[i];
        if (x < -ri || y < -ri || x > W + ri || y > H + ri) { sx[i] = NaN; continue; }
        sx[i] = x;
        sy[i] = y;
        var stamp = this._stamp(ri * dpr, d.weight * dpr), off = stamp.offsets, edge = stamp.edge;
        var fill = rgba[codes ? codes[i] : 0], cx = Math.round(x * dpr), cy = Math.round(y * dpr);
        var clip = cx < stamp.lim || cy < stamp.lim || cx >= BW - stamp.lim || cy >= BH - stamp.lim;
        for (var m = 0; m < stamp.n; m++) {
          var xx = cx + off[2 * m], yy = cy + off[2 * m + 1];
          if (clip && (xx < 0 || yy < 0 || xx >= BW || yy >= BH)) { continue; }
          px[yy * BW + xx] = edge[m] ? stroke : fill;
        }
      }
      ctx.putImageData(img, 0, 0);
      this._grid = null;  // built on the first mouse move after a redraw
      this._W = W;
      this._sx = sx;
      this._sy = sy;
    },

    // Drawn firms by cell of a pixel grid, in drawing order.
    _buildGrid: function () {
      var cellSize = this.options.cell, cols = Math.ceil(this._W / cellSize) + 1;
      var grid = new Map(), order = this._order, sx = this._sx, sy = this._sy;
      for (var k = 0; k < this._n; k++) {
        var i = order[k], x = sx[i];
        if (x !== x) { continue; }  // NaN: not drawn
        var key = Math.floor(sy[i] / cellSize) * cols + Math.floor(x / cellSize);
        var list = grid.get(key);
        if (list) { list.push(k); } else { grid.set(key, [k]); }
      }
      this._grid = grid;
      this._cols = cols;
    },

    // Pixel offsets of a disc of radius R (device pixels), flagging its outer ring of width w.
    _stamp: function (R, w) {
      var key = Math.round(R * 4) + ":" + Math.round(w * 4);
      var cache = this._stamps || (this._stamps = {});
      if (cache[key]) { return cache[key]; }
      var lim = Math.ceil(R + 0.5), offsets = [], edge = [], outer = (R + 0.35) * (R + 0.35);
      var inner = w > 0 && R > 1.5 ? Math.max(R - w, 0) : -1;
      for (var dy = -lim; dy <= lim; dy++) {
        for (var dx = -lim; dx <= lim; dx++) {
          var dd = dx * dx + dy * dy;
          if (dd > outer) { continue; }
          offsets.push(dx, dy);
          edge.push(inner >= 0 && dd > inner * inner ? 1 : 0);
        }
      }
      return (cache[key] = {n: edge.length, lim: lim, offsets: Int16Array.from(offsets),
                            edge: Uint8Array.from(edge)});
    },

    // The firm drawn on top within its radius (plus 3 px) of a layer point, or null.
    _hit: function (layerPoint) {
      if (!this._sx) { return null; }
      if (!this._grid) { this._buildGrid(); }
      var x = layerPoint.x - this._tl.x, y = layerPoint.y - this._tl.y;
      var cellSize = this.options.cell, cx = Math.floor(x / cellSize), cy = Math.floor(y / cellSize);
      var best = -1, bestK = -1;
      for (var gy = cy - 1; gy <= cy + 1; gy++) {
        for (var gx = cx - 1; gx <= cx + 1; gx++) {
          if (gx < 0 || gy < 0 || gx >= this._cols) { continue; }
          var list = this._grid.get(gy * this._cols + gx);
          if (!list) { continue; }
          for (var j = 0; j < list.length; j++) {
            var k = list[j], i = this._order[k];
            var dx = this._sx[i] - x, dy = this._sy[i] - y, rr = this._r[i] + 3;
            if (dx * dx + dy * dy <= rr * rr && k > bestK) { best = i; bestK = k; }
          }
        }
      }
      if (best < 0) { return null; }
      // Every firm at exactly the same coordinates (they share a grid cell), top first.
      var lat = this._d.lat[best], lon = this._d.lon[best], same = [];
      var bucket = this._grid.get(Math.floor(this._sy[best] / cellSize) * this._cols +
                                Math.floor(this._sx[best] / cellSize)) || [];
      for (j = bucket.length - 1; j >= 0; j--) {
        i = this._order[bucket[j]];
        if (this._d.lat[i] === lat && this._d.lon[i] === lon) { same.push(i); }
      }
      if (!same.length) { same.push(best); }
      return {
        layer: this, index: best, key: L.Util.stamp(this) + ":" + best, same: same,
        spec: this._d.tooltip, latlng: L.latLng(lat, lon)
      };
    }
  }); }

  gc.points = function (map, d) {
    var st = setup(map);
    resolve(d);
    if (!PointCanvas) { PointCanvas = makePointCanvas(); }
    var t0 = performance.now();
    var layer = new PointCanvas(d);
    gc.timings.pointsInit = performance.now() - t0;
    st.points.push(layer);
    register(map, layer, d, "points", d.lat.length);
    return layer;
  };

  gc.features = function (map, d, geojson) {
    var st = setup(map);
    resolve(d);
    var palette = d.palette;
    var layer = L.geoJSON(geojson, {
      renderer: st.renderer,
      style: function (f) {
        var colour = palette[f.properties.c];
        return {
          color: d.outline ? colour : d.stroke, weight: d.weight, opacity: 1,
          fillColor: colour, fillOpacity: d.fillOpacity
        };
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {renderer: st.renderer, radius: d.radius});
      }
    });
    layer.on("mouseover", function (e) {
      var i = e.layer.feature.properties.i;
      st.feature = {key: L.Util.stamp(layer) + ":" + i, spec: d.tooltip, index: i};
      e.layer.setStyle({weight: d.weight + 2});
    });
    layer.on("mouseout", function (e) {
      st.feature = null;
      layer.resetStyle(e.layer);
    });
    if (d.tooltip) {
      layer.on("click", function (e) {
        map.closeTooltip(st.tooltip);
        st.shown = null;
        openPopup(map, e.latlng, info(d.tooltip, e.layer.feature.properties.i));
      });
    }
    stack(map, layer, d.outline ? RANK.outlines : RANK.areas);
    register(map, layer, d, "features", d.count);
    return layer;
  };

  gc.surface = function (map, d) {
    setup(map);
    var layer = L.imageOverlay(d.url, d.bounds, {
      opacity: d.opacity, pane: "gc-surface", interactive: false, className: "gc-surface"
    });
    register(map, layer, d, "surface", 1);
    return layer;
  };

  gc.data = function (id) {
    var t0 = performance.now();
    if (gc.timings.firstData === undefined) { gc.timings.firstData = t0; }
    var value = JSON.parse(document.getElementById(id).textContent);
    gc.timings.parse = (gc.timings.parse || 0) + performance.now() - t0;
    return value;
  };

  gc.none = function () { return L.layerGroup(); };

  gc.ready = function (map) {
    gc.timings.scriptEnd = performance.now();
    map.whenReady(function () {
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          gc.readyAt = performance.now();
          gc.timings.ready = gc.readyAt;
          document.documentElement.setAttribute("data-geocluster-ready", "1");
        });
      });
    });
  };
})();
"""


def runtime_header() -> str:
    """The ``<style>`` and ``<script>`` that define ``window.geocluster``."""
    return f"<style>{RUNTIME_CSS}</style>\n<script>{RUNTIME_JS}</script>"
