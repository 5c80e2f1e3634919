"""Assets behind :mod:`geocluster.viz.maps` (internal API of the maps).

* the static files under ``geocluster/viz/static/`` (provenance in its ``README.md``), read
  with :mod:`importlib.resources`: the vendored Leaflet (npm package ``leaflet@1.9.4``),
  inlined by :func:`inline_assets` in place of folium's CDN links, and geocluster's own
  browser runtime ``geocluster-runtime.js`` / ``.css`` (``window.geocluster``, which draws
  the layers, their tooltips, popups and legends; it writes every user-supplied string with
  ``textContent``, never ``innerHTML``, so names such as ``<img onerror=...>`` show as
  text), put into the page by :func:`runtime_header`;
* :func:`safe_json`, the only way data reach the page's ``<script>``: it escapes ``<``,
  ``>``, ``&``, quotes, backticks and (inside strings) ``{``/``}``, so its output can
  neither end the script element nor hold template syntax (``{{``, ``{%``, ``{#``);
* :data:`NETWORK_LOAD_RE`, what a page must not hold to open with no network.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from importlib import resources

from geocluster._base.jsonable import dumps
from geocluster.errors import InputError

LEAFLET_VERSION = "1.9.4"
#: The runtime's files under ``geocluster/viz/static/`` (``node --check`` runs on the .js).
RUNTIME_FILES = ("geocluster-runtime.js", "geocluster-runtime.css")

# ----------------------------------------------------------------------------- static files


def static_file(*parts: str) -> bytes:
    """The bytes of a file under ``geocluster/viz/static/`` (as shipped in the wheel).

    Examples
    --------
    >>> static_file("leaflet", "LICENSE")[:20]
    b'BSD 2-Clause License'
    """
    return resources.files("geocluster.viz").joinpath("static", *parts).read_bytes()


def _script_text(text: str) -> str:
    """``text`` safe inside an inline ``<script>``/``<style>`` (cannot close it early)."""
    return re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE)


@functools.cache
def leaflet_js() -> str:
    """The vendored ``leaflet.js`` (minified, 147 KB)."""
    # Cannot happen with the shipped file, but an inline script must never close early.
    return _script_text(static_file("leaflet", "leaflet.js").decode("utf-8"))


@functools.cache
def leaflet_css() -> str:
    """The vendored ``leaflet.css`` with its three images inlined as ``data:`` URIs."""
    css = static_file("leaflet", "leaflet.css").decode("utf-8")

    def to_data_uri(match: re.Match) -> str:
        name = match.group(1)
        data = base64.b64encode(static_file("leaflet", "images", name)).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", to_data_uri, css)


@functools.cache
def runtime_js() -> str:
    """geocluster's browser runtime, ``static/geocluster-runtime.js``."""
    return _script_text(static_file(RUNTIME_FILES[0]).decode("utf-8"))


@functools.cache
def runtime_css() -> str:
    """The runtime's styles, ``static/geocluster-runtime.css``."""
    return _script_text(static_file(RUNTIME_FILES[1]).decode("utf-8"))


def runtime_header() -> str:
    """The ``<style>`` and ``<script>`` that define ``window.geocluster``.

    Examples
    --------
    >>> header = runtime_header()
    >>> header.startswith("<style>") and "window.geocluster" in header
    True
    """
    return f"<style>\n{runtime_css()}</style>\n<script>\n{runtime_js()}</script>"


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
    ``{#``), whatever the data. Values are converted by
    :func:`geocluster._base.jsonable.dumps` (NaN and infinities become ``null``).

    Examples
    --------
    >>> safe_json({"name": "{{7*7}} <b>"})
    '{"name":"\\\\u007b\\\\u007b7*7\\\\u007d\\\\u007d \\\\u003cb\\\\u003e"}'
    >>> import numpy as np
    >>> safe_json({"x": float("nan"), "n": np.int64(3)})  # converted by dumps
    '{"x":null,"n":3}'
    """
    try:  # plain JSON types, as the layers build them: the C encoder, the same text as dumps
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # numpy values, NaN, ...: the one conversion
        text = dumps(obj, ensure_ascii=False, separators=(",", ":"))
    text = _JS_UNSAFE_RE.sub(lambda m: _JS_UNSAFE[m.group(0)], text)
    if "{" in text:
        text = _JSON_STRING_RE.sub(_escape_braces, text)
    if _TEMPLATE_START_RE.search(text):  # cannot happen: JSON objects start with '"' or '}'
        raise ValueError("internal error: template syntax left in a JSON payload")
    return text


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
