"""Assets behind :mod:`geocluster.maps` (private).

* the vendored Leaflet files (``geocluster/_vendor/leaflet``, from the npm package
  ``leaflet@1.9.4``; provenance in ``geocluster/_vendor/README.md``) and
  :func:`inline_assets`, which swaps folium's CDN links for them;
* :func:`safe_json`, the only way data reach the page's ``<script>``;
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


def safe_json(obj) -> str:
    """JSON that is safe to paste into an HTML ``<script>`` element.

    Characters that could end the script element or start an HTML construct (``<``,
    ``>``, ``&``) and the quote characters are written as ``\\uXXXX`` escapes; JSON
    parsers and JavaScript read them back as the same characters. NaN and infinities
    become ``null``.
    """
    text = json.dumps(_clean(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _JS_UNSAFE_RE.sub(lambda m: _JS_UNSAFE[m.group(0)], text)


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
.gc-legend { background: rgba(255,255,255,0.93); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.3); font: 12px/1.4 system-ui, -apple-system,
  "Segoe UI", Helvetica, Arial, sans-serif; color: #222; max-width: 280px; }
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
.gc-info { font: 12px/1.35 system-ui, -apple-system, "Segoe UI", Helvetica, Arial,
  sans-serif; max-width: 320px; }
.gc-info table { border-collapse: collapse; }
.gc-info th { text-align: left; font-weight: 600; color: #444; padding: 0 8px 0 0;
  vertical-align: top; }
.gc-info td { padding: 0; overflow-wrap: anywhere; }
.leaflet-control-layers-list { font: 12px/1.4 system-ui, -apple-system, "Segoe UI",
  Helvetica, Arial, sans-serif; }
"""

RUNTIME_JS = r"""
(function () {
  "use strict";
  if (window.geocluster) { return; }
  var gc = window.geocluster = {version: 1, maps: [], layers: []};
  var RANK = {areas: 1, outlines: 2, points: 3};

  function setup(map) {
    if (map._geocluster) { return map._geocluster; }
    var st = {
      renderer: L.canvas({padding: 0.5, tolerance: 3}),
      tooltip: L.tooltip({direction: "top", offset: [0, -6], className: "gc-tooltip"}),
      stack: []
    };
    if (!map.getPane("gc-surface")) {
      var pane = map.createPane("gc-surface");
      pane.style.zIndex = 390;
      pane.style.pointerEvents = "none";
    }
    map._geocluster = st;
    gc.maps.push(map);
    return st;
  }

  function text(value) {
    return (value === null || value === undefined) ? "\u2013" : String(value);
  }

  function cell(col, i) {
    if (col.levels) {
      var code = col.codes[i];
      return code < 0 ? null : col.levels[code];
    }
    return col.values[i];
  }

  // An attribute table built with DOM calls: every value is set as text, never parsed.
  function info(spec, i) {
    var box = document.createElement("div");
    box.className = "gc-info";
    var table = document.createElement("table");
    for (var k = 0; k < spec.fields.length; k++) {
      var row = table.insertRow();
      var th = document.createElement("th");
      th.textContent = spec.fields[k];
      row.appendChild(th);
      row.insertCell().textContent = text(cell(spec.columns[k], i));
    }
    box.appendChild(table);
    return box;
  }

  function interact(map, layer, d, indexOf, highlight) {
    var st = setup(map);
    if (d.tooltip) {
      layer.on("mouseover", function (e) {
        st.tooltip.setContent(info(d.tooltip, indexOf(e)));
        map.openTooltip(st.tooltip, e.latlng);
        if (highlight) { e.layer.setStyle(highlight); }
      });
      layer.on("mousemove", function (e) { st.tooltip.setLatLng(e.latlng); });
      layer.on("mouseout", function (e) {
        map.closeTooltip(st.tooltip);
        if (highlight && layer.resetStyle) { layer.resetStyle(e.layer); }
      });
    }
    if (d.popup) {
      layer.on("click", function (e) {
        L.popup({maxWidth: 360}).setLatLng(e.latlng)
          .setContent(info(d.popup, indexOf(e))).openOn(map);
      });
    }
  }

  function legend(map, layer, spec) {
    if (!spec) { return; }
    var control = L.control({position: "bottomright"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "gc-legend leaflet-control");
      box.setAttribute("data-gc-legend", spec.id);
      L.DomUtil.create("div", "gc-legend-title", box).textContent = spec.title;
      (spec.items || []).forEach(function (item) {
        var row = L.DomUtil.create("div", "gc-legend-row", box);
        var sw = L.DomUtil.create("span", "gc-swatch gc-" + (item.shape || "box"), row);
        if (item.shape === "outline") { sw.style.borderColor = item.color; }
        else { sw.style.background = item.color; }
        if (item.fill) { sw.style.background = item.fill; }
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
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    layer.on("add", function () { if (!control._map) { control.addTo(map); } });
    layer.on("remove", function () { if (control._map) { control.remove(); } });
  }

  // One canvas renderer draws every vector layer (several canvases would each capture
  // the mouse); drawing order is kept as areas < outlines < points whenever one is added.
  function stack(map, layer, rank) {
    var st = setup(map);
    var entry = {layer: layer, rank: rank};
    st.stack.push(entry);
    st.stack.sort(function (a, b) { return a.rank - b.rank; });
    layer.on("add", function () {
      st.stack.forEach(function (other) {
        if (other.rank > rank && map.hasLayer(other.layer)) { other.layer.bringToFront(); }
      });
    });
  }

  function register(map, layer, d, kind, count) {
    gc.layers.push({name: d.name, kind: kind, count: count, layer: layer, map: map});
    legend(map, layer, d.legend);
  }

  gc.points = function (map, d) {
    var st = setup(map);
    var n = d.lat.length, radius = d.radius, single = typeof radius === "number";
    var palette = d.palette, codes = d.codes;
    var markers = new Array(n);
    for (var i = 0; i < n; i++) {
      markers[i] = L.circleMarker([d.lat[i], d.lon[i]], {
        renderer: st.renderer, radius: single ? radius : radius[i],
        color: d.stroke, weight: d.weight, opacity: 0.9,
        fillColor: palette[codes ? codes[i] : 0], fillOpacity: d.fillOpacity, gcIndex: i
      });
    }
    var layer = L.featureGroup(markers);
    interact(map, layer, d, function (e) { return e.layer.options.gcIndex; }, null);
    stack(map, layer, RANK.points);
    register(map, layer, d, "points", n);
    return layer;
  };

  gc.features = function (map, d, geojson) {
    var st = setup(map);
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
    interact(map, layer, d, function (e) { return e.layer.feature.properties.i; },
             {weight: d.weight + 2});
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

  gc.none = function () { return L.layerGroup(); };

  gc.ready = function (map) {
    map.whenReady(function () {
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          gc.readyAt = performance.now();
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
