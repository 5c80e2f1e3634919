"""Command line: ``geocluster run STUDY.toml``, ``geocluster demo``, ``geocluster validate FIRMS``.

Exit codes: 0 success, 2 bad config or input (a :class:`GeoclusterError`), 1 any
other failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

from geocluster.errors import GeoclusterError

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geocluster",
        description=(
            "Industrial clusters from geocoded firms: location quotients, local Moran's I "
            "and Gi*, density clusters, cluster exposure, spatial regression by innovator "
            "type, robustness checks, maps and a report."
        ),
        epilog="Exit codes: 0 success, 2 bad config or input, 1 other failure.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run a study from a TOML config",
        description="Run a whole study from one TOML config and write its outputs "
                    "(map.html, report.html, clusters.gpkg, firms.parquet, model.*, "
                    "robustness.csv, figures/, run.json) into the output folder.",
    )
    run.add_argument("config", type=Path, help="the study file (TOML); see 'geocluster config'")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: results/ beside the config)")
    run.add_argument("--force", action="store_true",
                     help="replace the contents of an existing non-empty output folder")
    run.add_argument("--quiet", action="store_true", help="no progress output")

    demo = sub.add_parser(
        "demo", help="run the demonstration study on bundled data",
        description="The full study on bundled real data: US patents by county and "
                    "technology employment LQs (real), plus synthetic firms on real ZIP "
                    "areas for density clusters, exposure, the spatial lag model and "
                    "robustness.",
    )
    demo.add_argument("--out", type=Path, default=Path("geocluster_demo"),
                      help="output folder (default: ./geocluster_demo)")
    demo.add_argument("--firms", type=int, default=5000, help="number of synthetic firms")
    demo.add_argument("--force", action="store_true", help="replace an existing output folder")
    demo.add_argument("--quiet", action="store_true", help="no progress output")

    validate = sub.add_parser(
        "validate", help="check a firm file and suggest a config",
        description="Read a firm file as 'geocluster run' would, report what is accepted "
                    "or rejected, and print a suggested study config.",
    )
    validate.add_argument("firms", type=Path, help="firm file (CSV, Parquet, GeoPackage, ...)")
    validate.add_argument("--lon", default=None, help="longitude column (default: detected)")
    validate.add_argument("--lat", default=None, help="latitude column (default: detected)")
    validate.add_argument("--id", default=None, help="unique firm id column")
    validate.add_argument("--crs", default="EPSG:4326", help="CRS of the coordinates")

    sub.add_parser("config", help="print a commented config with every key and its default",
                   description="Print a TOML study config listing every section and key with "
                               "its default value.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geocluster`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from geocluster import __version__

        print(f"geocluster {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    quiet = getattr(args, "quiet", False)
    _configure_logging(quiet)
    if quiet:
        warnings.simplefilter("ignore")
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "config":
            from geocluster.config import example_config

            print(example_config(), end="")
            return EXIT_OK
    except GeoclusterError as exc:
        print(f"geocluster: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("geocluster: interrupted; no results were written.", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a CLI
        print(f"geocluster: failed: {exc}", file=sys.stderr)
        if "--debug" in sys.argv or logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        return EXIT_FAILURE
    parser.print_help()
    return EXIT_BAD_INPUT


def _configure_logging(quiet: bool) -> None:
    logger = logging.getLogger("geocluster")
    if not any(getattr(h, "_geocluster", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[geocluster] %(message)s"))
        handler._geocluster = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _run(args) -> int:
    from geocluster.study import run_study

    out = args.out if args.out is not None else args.config.parent / "results"
    result = run_study(args.config, out, force=args.force, quiet=args.quiet)
    _print_result(result, quiet=args.quiet)
    return EXIT_OK


def _demo(args) -> int:
    from geocluster.study import demo_config, run_study

    result = run_study(demo_config(n_firms=args.firms), args.out, force=args.force,
                       quiet=args.quiet)
    _print_result(result, quiet=args.quiet)
    return EXIT_OK


def _print_result(result, *, quiet: bool) -> None:
    summary = result.summary
    if not quiet:
        areal = summary.get("areal", {})
        if areal.get("hh_regions"):
            print("High-high innovation cluster regions (largest first):")
            for region in areal["hh_regions"][:12]:
                print(f"  {region['region']:>6}  {region['units']:>3} units  "
                      f"{'; '.join(region['places'])}")
        density = summary.get("density")
        if density:
            print(f"Density clusters of {density['industry']}: {density['clusters']} "
                  f"({density['firms_in_clusters']} firms inside)")
        model = summary.get("model")
        if model:
            terms = model["terms"]
            shown = ", ".join(f"{k} {v:+.3f}" for k, v in terms.items()
                              if "cluster" in k or k == "rho")
            print(f"Spatial {model['model']} model, n={model['nobs']}: {shown}")
        print(f"Total time {sum(result.timings.values()):.1f} s")
    print(f"Report: {result.report}")


def _validate(args) -> int:
    import geocluster as gc
    from geocluster.io import LAT_NAMES, LON_NAMES

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        firms = gc.read_firms(args.firms, lon=args.lon, lat=args.lat, id=args.id,
                              crs=args.crs, on_invalid="drop")
    info = firms.attrs["geocluster"]
    print(f"{args.firms}: {len(firms)} firms accepted.")
    for w in caught:
        print(f"  note: {w.message}")
    print(f"  CRS: {firms.crs.to_string() if firms.crs else 'none'}")
    if info.get("coordinates"):
        print(f"  coordinates: lon={info['coordinates'][0]!r}, lat={info['coordinates'][1]!r}")
    print(f"  columns: {', '.join(str(c) for c in firms.columns if c != firms.geometry.name)}")
    lon, lat = info.get("coordinates") or (None, None)
    guesses = {
        "industry": _guess(firms, ("industry", "naics", "sector", "sic")),
        "employees": _guess(firms, ("employees", "emp", "employment", "size")),
        "patents": _guess(firms, ("patents_5y", "patents", "n_patents")),
    }
    print("\nSuggested study config:\n")
    print("[study]\nname = \"my study\"\nseed = 2026\n\n[firms]")
    print(f"path = \"{args.firms}\"")
    if lon and lon.lower() not in LON_NAMES[:1]:
        print(f"lon = \"{lon}\"")
    if lat and lat.lower() not in LAT_NAMES[:1]:
        print(f"lat = \"{lat}\"")
    if args.id:
        print(f"id = \"{args.id}\"")
    for key, column in guesses.items():
        print(f"{key} = \"{column}\"" if column else f"# {key} = \"<column>\"  (not found)")
    print("\n[model]\nformula = \"intl ~ serial * (cluster + I(cluster**2)) + np.log(employees)\"")
    return EXIT_OK


def _guess(frame, names) -> str | None:
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
