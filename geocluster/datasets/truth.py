"""The true parameters of the synthetic firms and the ``attrs["truth"]`` record.

The constants of the data-generating process of :func:`geocluster.datasets.make_firms`
(the formula, the coefficients of the three outcomes, the serial-innovator definition)
and :func:`truth_record`, which writes them, with the draw's own settings, into the
frame's ``attrs["truth"]``.
"""

from __future__ import annotations

from geocluster.datasets.geography import BACKGROUND_SHARE, INDUSTRIES, JITTER_SD_M

__all__ = [
    "BETA_PHI",
    "DEFAULT_BETA",
    "DELTA",
    "FORMULA",
    "GAMMA",
    "NB_ALPHA",
    "SERIAL_MAX_EMPLOYEES",
    "SERIAL_MIN_PATENTS",
    "TERMS",
    "truth_record",
    "turning_point",
]

#: Serial innovator thresholds (SBA Office of Advocacy / CHI Research).
SERIAL_MIN_PATENTS = 15
SERIAL_MAX_EMPLOYEES = 500

#: The formula of the primary outcome.
FORMULA = "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"
#: The terms of ``FORMULA`` in the order of the design matrix.
TERMS = (
    "Intercept",
    "serial",
    "cluster",
    "I(cluster ** 2)",
    "np.log(employees)",
    "age",
    "serial:cluster",
    "serial:I(cluster ** 2)",
)
#: True coefficients of ``intl`` (keys: the term names formulaic gives ``FORMULA``).
DEFAULT_BETA = {
    "Intercept": 0.5,
    "serial": 0.6,
    "cluster": 0.5,
    "I(cluster ** 2)": -0.25,
    "np.log(employees)": 0.3,
    "age": 0.01,
    "serial:cluster": 0.6,
    "serial:I(cluster ** 2)": 0.10,
}
#: True coefficients of ``foreign_markets`` (log link).
GAMMA = {
    "Intercept": 0.2,
    "serial": 0.4,
    "cluster": 0.3,
    "I(cluster ** 2)": -0.15,
    "np.log(employees)": 0.15,
    "age": 0.005,
    "serial:cluster": 0.4,
    "serial:I(cluster ** 2)": 0.07,
}
#: Overdispersion of ``foreign_markets`` (NB2: var = mu + alpha mu^2).
NB_ALPHA = 0.5
#: True coefficients of ``export_share`` (logit link).
DELTA = {
    "Intercept": -1.5,
    "serial": 0.5,
    "cluster": 0.3,
    "I(cluster ** 2)": -0.15,
    "np.log(employees)": 0.1,
    "age": 0.0,
    "serial:cluster": 0.4,
    "serial:I(cluster ** 2)": 0.07,
}
#: Precision of the Beta distribution of ``export_share``.
BETA_PHI = 10.0


def turning_point(params: dict, serial: bool) -> float | None:
    """The top of the inverted U in ``cluster`` (None for a linear effect).

    Examples
    --------
    >>> turning_point(DEFAULT_BETA, serial=False)
    1.0
    """
    lin = params["cluster"] + (params["serial:cluster"] if serial else 0.0)
    quad = params["I(cluster ** 2)"] + (params["serial:I(cluster ** 2)"] if serial else 0.0)
    return None if quad == 0 else float(-lin / (2 * quad))


def truth_record(
    *, n, seed, shares, rho, weights, radius_m, hub_share, beta, sigma, c_mean, c_sd
) -> dict:
    """The ``attrs["truth"]`` record of a synthetic frame (a JSON-serialisable dict)."""
    rhs = FORMULA.split("~", 1)[1].strip()
    hubs = {
        name: [
            {
                "name": hub_name,
                "lon": lon,
                "lat": lat,
                "radius_km": radius_km,
                "share": hub_share / len(INDUSTRIES[name]["hubs"]),
            }
            for hub_name, lon, lat, radius_km in INDUSTRIES[name]["hubs"]
        ]
        for name in shares
    }
    return {
        "n": int(n),
        "seed": seed,
        "formula": FORMULA,
        "model": "lag",
        "weights": weights,
        "rho": rho,
        "beta": dict(beta),
        "sigma": sigma,
        "turning_point_nonserial": turning_point(beta, serial=False),
        "turning_point_serial": turning_point(beta, serial=True),
        "serial_definition": {
            "min_patents_5y": SERIAL_MIN_PATENTS,
            "max_employees": SERIAL_MAX_EMPLOYEES,
            "source": "SBA Office of Advocacy / CHI Research serial innovator definition",
            "note": "serial = 1 only for small firms; large firms (employees > 500) have "
            "serial = 0 and share the non-serial coefficients in every outcome",
        },
        "cluster": {
            "definition": "standardised log(1 + other same-industry firms whose ZCTA point "
            "is within radius_m of the firm's ZCTA point, EPSG:5070)",
            "radius_m": radius_m,
            "log_count_mean": c_mean,
            "log_count_sd": c_sd,
        },
        "industries": {
            name: {
                "naics": INDUSTRIES[name]["naics"],
                "title": INDUSTRIES[name]["title"],
                "share": share,
                "tech": INDUSTRIES[name]["tech"],
            }
            for name, share in shares.items()
        },
        "hub_share": hub_share,
        "hubs": hubs,
        "jitter_sd_m": JITTER_SD_M,
        "background_share": BACKGROUND_SHARE,
        "foreign_markets": {
            "formula": f"foreign_markets ~ {rhs}",
            "family": "negative_binomial",
            "link": "log",
            "params": dict(GAMMA),
            "alpha": NB_ALPHA,
            "turning_point_nonserial": turning_point(GAMMA, serial=False),
            "turning_point_serial": turning_point(GAMMA, serial=True),
        },
        "export_share": {
            "formula": f"export_share ~ {rhs}",
            "family": "beta",
            "link": "logit",
            "params": dict(DELTA),
            "precision": BETA_PHI,
            "turning_point_nonserial": turning_point(DELTA, serial=False),
            "turning_point_serial": turning_point(DELTA, serial=True),
        },
    }


#: ``exports = 1[intl > EXPORT_THRESHOLD]`` (about half of the firms at the defaults).
EXPORT_THRESHOLD = 2.5


def export_truth(truth: dict, threshold: float = EXPORT_THRESHOLD) -> dict:
    """True parameters of ``exports`` (SAR probit) and ``sales_abroad`` (SAR tobit).

    ``intl = (I - rho W)^-1 (X beta + eps)`` and ``W`` is row-stochastic, so
    ``(I - rho W)^-1 1 = 1 / (1 - rho)`` and ``intl - c = (I - rho W)^-1 (X beta' + eps)``
    with ``beta'`` = ``beta`` but the intercept lowered by ``c (1 - rho)``. Hence
    ``exports = 1[intl > c]`` is exactly a SAR probit with coefficients ``beta' / sigma``
    (a probit identifies them up to the scale of ``eps``) and ``rho``, and
    ``sales_abroad = max(intl - c, 0)`` exactly a SAR tobit with ``beta'``, ``rho`` and
    ``sigma2 = sigma^2``: no further random draws, so the firms are unchanged.

    Examples
    --------
    >>> t = export_truth({"beta": dict(DEFAULT_BETA), "rho": 0.4, "sigma": 1.0,
    ...                   "formula": FORMULA})
    >>> t["exports"]["params"]["Intercept"], t["exports"]["rho"]
    (-1.0, 0.4)
    """
    rho, sigma = float(truth["rho"]), float(truth["sigma"])
    shifted = dict(truth["beta"])
    shifted["Intercept"] = shifted["Intercept"] - threshold * (1 - rho)
    rhs = truth["formula"].split("~", 1)[1].strip()
    return {
        "exports": {"formula": f"exports ~ {rhs}", "model": "SAR probit",
                    "definition": f"1[intl > {threshold:g}]", "rho": rho,
                    "params": {k: v / sigma for k, v in shifted.items()}},
        "sales_abroad": {"formula": f"sales_abroad ~ {rhs}", "model": "SAR tobit",
                         "definition": f"max(intl - {threshold:g}, 0)", "rho": rho,
                         "params": shifted, "sigma2": sigma**2},
    }
