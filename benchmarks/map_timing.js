// Timing hooks for a saved geocluster map, injected by benchmarks/bench_map.py and
// tests/test_maps_browser.py with Playwright's `context.add_init_script(path=...)` (so
// they run before the page's own scripts). The shipped runtime
// (geocluster/viz/static/geocluster-runtime.js) has no timing code; this script wraps its
// entry points from outside and fills `geocluster.timings` (milliseconds: instants since
// navigation start, or durations) and `geocluster.readyAt`:
//   runtime     the runtime started (window.geocluster assigned)
//   firstData   the first layer payload was read; parse: JSON.parse time of all payloads
//   pointsInit  setting up the firm layer (draw order, bounds)
//   pointsDraw  the last full draw of the firms (after a pan, zoom or resize)
//   scriptEnd   the page's layer scripts ended; ready: the page marked itself ready
//   popup       from the last click on the map to its popup being open
(function () {
  "use strict";
  var timings = {}, runtime;

  function timed(fn, after) {
    return function () {
      var t0 = performance.now(), out = fn.apply(this, arguments);
      after(performance.now() - t0, t0, out, arguments);
      return out;
    };
  }

  var HOOKS = {
    data: function (fn) {
      return timed(fn, function (dt, t0) {
        if (timings.firstData === undefined) { timings.firstData = t0; }
        timings.parse = (timings.parse || 0) + dt;
      });
    },
    points: function (fn) {
      return timed(fn, function (dt, t0, layer, args) {
        timings.pointsInit = dt;
        // Wrapped before the layer is added, so its "moveend" handler is the wrapper too.
        layer._reset = timed(layer._reset, function (d) { timings.pointsDraw = d; });
        var map = args[0];
        if (!map._gcTimed) {
          map._gcTimed = true;
          var clicked = null;
          map.getContainer().addEventListener("click", function () {
            clicked = performance.now();
          }, true);  // capture: before Leaflet's own handlers
          map.on("popupopen", function () {
            if (clicked !== null) { timings.popup = performance.now() - clicked; }
          });
        }
      });
    },
    ready: function (fn) {
      return function () {
        timings.scriptEnd = performance.now();
        var root = document.documentElement;
        new MutationObserver(function (records, observer) {
          if (root.hasAttribute("data-geocluster-ready")) {
            timings.ready = runtime.readyAt = performance.now();
            observer.disconnect();
          }
        }).observe(root, {attributes: true, attributeFilter: ["data-geocluster-ready"]});
        return fn.apply(this, arguments);
      };
    }
  };

  // The runtime assigns window.geocluster, then its functions one by one: accessors wrap
  // each function as it is assigned.
  Object.defineProperty(window, "geocluster", {
    configurable: true,
    get: function () { return runtime; },
    set: function (value) {
      runtime = value;
      timings.runtime = performance.now();
      value.timings = timings;
      Object.keys(HOOKS).forEach(function (name) {
        var current;
        Object.defineProperty(value, name, {
          configurable: true, enumerable: true,
          get: function () { return current; },
          set: function (fn) { current = HOOKS[name](fn); }
        });
      });
    }
  });
})();
