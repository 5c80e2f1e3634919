// geocluster's map runtime: window.geocluster draws the layers written by
// geocluster.viz.layers (firms on one canvas, areas and outlines, the KDE image), their
// tooltips, popups and legends. Inlined once into each saved map by
// geocluster.viz.assets.runtime_header(); loaded before Leaflet, so L is used only once
// the page's scripts run. Every string from the data is set with textContent, never
// innerHTML. Checked with `node --check`; unit-tested by tests/test_map_runtime_js.py.
(function () {
  "use strict";
  if (window.geocluster) { return; }
  var gc = window.geocluster = {version: 1, maps: [], layers: []};
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
          openPopup(map, hit.latlng, many(spec, hit.same));
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

  // Pixel offsets (dx, dy pairs) of a disc of radius R (device pixels), with a flag per
  // pixel for its outer ring of width w (the stroke; none when w is 0 or the disc tiny).
  function discStamp(R, w) {
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
    return {n: edge.length, lim: lim, offsets: Int16Array.from(offsets),
            edge: Uint8Array.from(edge)};
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
      this._draw(full, dpr);
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

    // The disc of radius R with an outer ring of width w (device pixels), cached per layer.
    _stamp: function (R, w) {
      var key = Math.round(R * 4) + ":" + Math.round(w * 4);
      var cache = this._stamps || (this._stamps = {});
      return cache[key] || (cache[key] = discStamp(R, w));
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
    var layer = new PointCanvas(d);
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
    return JSON.parse(document.getElementById(id).textContent);
  };

  gc.none = function () { return L.layerGroup(); };

  // The pure helpers, for tests/test_map_runtime_js.py (and curious readers of a page).
  gc.util = {
    hexToPixel: hexToPixel, discStamp: discStamp, clip: clip, text: text, cell: cell,
    resolve: resolve, info: info, many: many, hoverInfo: hoverInfo,
    pointCanvas: function () { return PointCanvas || (PointCanvas = makePointCanvas()); }
  };

  gc.ready = function (map) {
    map.whenReady(function () {
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          document.documentElement.setAttribute("data-geocluster-ready", "1");
        });
      });
    });
  };
})();
