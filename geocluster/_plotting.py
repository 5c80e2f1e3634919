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
