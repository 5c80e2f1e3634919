"""The KDE surface layer of a map: a translucent PNG on Web Mercator (internal API).

:func:`surface_layer` takes a :class:`~geocluster.clusters.density.DensitySurface` (or any
object with the same ``values``, ``bounds`` and ``crs`` attributes), resamples the grid onto
Web Mercator pixels and inlines it as a PNG data URI.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from geocluster._base import plotting
from geocluster.errors import CRSError, InputError
from geocluster.viz.layers import GeoclusterLayer

#: Widest side of the KDE image in pixels.
MAX_IMAGE_PIXELS = 1200


def surface_layer(density) -> GeoclusterLayer:
    """The ``density=`` layer from a DensitySurface (``values``, ``bounds``, ``crs``;
    optional ``origin``, ``unit`` and ``bandwidth``)."""
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
    # deferred third-party imports: drawing a surface is rare, importing them is not free
    from matplotlib import colormaps
    from PIL import Image
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
