"""Shared colours and figure styling. Figures live with what they draw."""

from __future__ import annotations

#: GeoDa's LISA cluster colours, the convention users know.
LISA_COLORS = {
    "HH": "#d7191c",
    "LL": "#2c7bb6",
    "LH": "#abd9e9",
    "HL": "#fdae61",
    "ns": "#eeeeee",
}

#: Gi* hot/cold spot bins, ArcGIS-style.
HOTSPOT_COLORS = {
    "hot 99%": "#d62f27",
    "hot 95%": "#ed7551",
    "hot 90%": "#fab984",
    "ns": "#eeeeee",
    "cold 90%": "#c0ccbe",
    "cold 95%": "#849eba",
    "cold 99%": "#4575b5",
}

#: Innovator types (colour-blind safe, Okabe-Ito).
INNOVATOR_COLORS = {
    "serial": "#d55e00",
    "non-serial": "#0072b2",
    "large": "#999999",
}


def new_figure(*, width: float = 7.0, height: float = 5.0):
    """Return ``(fig, ax)`` from matplotlib's object API (no global pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    return fig, ax


#: Labels shown in legends for the LISA categories (GeoDa's wording).
LISA_LABELS = {
    "HH": "High-High",
    "LL": "Low-Low",
    "LH": "Low-High",
    "HL": "High-Low",
    "ns": "Not significant",
}

#: Okabe-Ito colour-blind-safe qualitative palette, for categories without their own colours.
CATEGORY_COLORS = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
)

#: Colour for missing values and for categories lumped into "other".
MISSING_COLOR = "#bdbdbd"

#: Colour of categories lumped together as "other".
OTHER_COLOR = "#8c8c8c"

#: Single colour for points when no category is chosen.
POINT_COLOR = "#3b6fb6"

#: Outline colours for cluster polygon layers (one per layer, in order).
CLUSTER_COLORS = ("#6a3d9a", "#1b7837", "#b35806", "#01665e")

#: Matplotlib colormap names: sequential values (choropleths) and density surfaces.
SEQUENTIAL_CMAP = "YlOrRd"
DENSITY_CMAP = "magma_r"


def category_colors(levels, *, palette: dict[str, str] | None = None) -> dict[str, str]:
    """Map category labels to colours: a known palette first, then Okabe-Ito, cycling.

    Parameters
    ----------
    levels
        Category labels in display order.
    palette
        Known colours (e.g. :data:`INNOVATOR_COLORS`); labels it lacks get the next free
        Okabe-Ito colour.

    Examples
    --------
    >>> category_colors(["serial", "other"], palette=INNOVATOR_COLORS)
    {'serial': '#d55e00', 'other': '#e69f00'}
    """
    palette = dict(palette or {})
    used = set(palette.values())
    free = [c for c in CATEGORY_COLORS if c not in used] or list(CATEGORY_COLORS)
    out: dict[str, str] = {}
    k = 0
    for level in levels:
        if level in palette:
            out[level] = palette[level]
        else:
            out[level] = free[k % len(free)]
            k += 1
    return out


def sample_cmap(name: str, k: int) -> list[str]:
    """``k`` evenly spaced hex colours from a matplotlib colormap (light to dark).

    Examples
    --------
    >>> sample_cmap("YlOrRd", 3)
    ['#ffffcc', '#fd8c3c', '#800026']
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps[name]
    if k == 1:
        return [to_hex(cmap(0.5))]
    return [to_hex(cmap(i / (k - 1))) for i in range(k)]


def lisa_legend_handles(counts: dict[str, int] | None = None) -> list:
    """Matplotlib legend patches for the LISA categories (for static cluster maps).

    Examples
    --------
    >>> [h.get_label() for h in lisa_legend_handles({"HH": 3})][:2]
    ['High-High (3)', 'Low-Low (0)']
    """
    from matplotlib.patches import Patch

    handles = []
    for key, colour in LISA_COLORS.items():
        label = LISA_LABELS[key]
        if counts is not None:
            label = f"{label} ({counts.get(key, 0)})"
        handles.append(Patch(facecolor=colour, edgecolor="#999999", label=label))
    return handles
