"""Command line: ``geocluster run STUDY.toml``, ``geocluster demo``, ``geocluster validate FIRMS``.

Exit codes (one per kind of failure, listed in ``geocluster --help``):

=====  ======================================================================
0      success
1      unexpected failure (a bug: please report it, with the command and run.json)
2      command-line usage error (unknown option, missing argument)
3      bad study config or option (:class:`~geocluster.errors.ConfigError`)
4      bad input data: firm file, units file, columns, CRS
       (:class:`~geocluster.errors.InputError`, :class:`~geocluster.errors.CRSError`)
5      another geocluster error: weights, model, a missing optional dependency
       (:class:`~geocluster.errors.WeightsError`, :class:`~geocluster.errors.ModelError`, ...)
6      the operating system refused a read or write (disk full, permissions)
130    interrupted (Ctrl-C or SIGTERM); nothing was written
=====  ======================================================================
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tomllib
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from geocluster.errors import ConfigError, CRSError, GeoclusterError, InputError
from geocluster.pipeline.schema import example_config

# The one documented exception to "no function-level imports of geocluster modules": the
# commands that run a study (run, demo, validate) import the pipeline when they start, so
# that --help, --version and config answer without loading the scientific stack
# (tests/test_cli_startup.py). geocluster.pipeline.schema is light (stdlib and errors only).

__all__ = ["main", "EXIT_CODES"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INPUT = 4
EXIT_ERROR = 5
EXIT_OS = 6
EXIT_INTERRUPTED = 130
EXIT_BAD_INPUT = EXIT_INPUT  # the earlier name

#: Exit code -> meaning (the ``--help`` epilog).
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "unexpected failure (a bug: please report it)",
    EXIT_USAGE: "command-line usage error",
    EXIT_CONFIG: "bad study config or option",
    EXIT_INPUT: "bad input data (firm or units file, columns, CRS)",
    EXIT_ERROR: "another geocluster error (weights, model, missing optional dependency)",
    EXIT_OS: "a file could not be read or written (disk full, permissions)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); nothing was written",
}

_ISSUES = "https://github.com/geocluster/geocluster/issues"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _epilog() -> str:
    return "Exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()) + "."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geocluster",
        description=(
            "Industrial clusters from geocoded firms: location quotients, local Moran's I "
            "and Gi*, density clusters, cluster exposure, spatial regression by innovator "
            "type, robustness checks, maps and a report."
        ),
        epilog=_epilog(),
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run a study from a TOML config",
        description="Run a whole study from one TOML config and write its outputs "
                    "(map.html, report.html, clusters.gpkg, firms.parquet, model.*, "
                    "robustness.csv, figures/, run.json) into the output folder. Warnings "
                    "are printed on stderr (each once, with its count) and kept in run.json.",
        epilog=_epilog(),
    )
    run.add_argument("config", type=Path, help="the study file (TOML); see 'geocluster config'")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: results/ beside the config)")
    run.add_argument("--force", action="store_true",
                     help="replace an output folder that an earlier geocluster run wrote (never "
                          "one holding the config, the inputs or other files)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress output (warnings and errors are still printed)")

    demo = sub.add_parser(
        "demo", help="run the demonstration study on bundled data",
        description="The full study on bundled real data: US patents by county and "
                    "technology employment LQs (real), plus synthetic firms on real ZIP "
                    "areas for density clusters, exposure, the spatial lag model and "
                    "robustness.",
        epilog=_epilog(),
    )
    demo.add_argument("--out", type=Path, default=Path("geocluster_demo"),
                      help="output folder (default: ./geocluster_demo)")
    demo.add_argument("--firms", type=int, default=5000, help="number of synthetic firms")
    demo.add_argument("--force", action="store_true",
                      help="replace an output folder that an earlier geocluster run wrote")
    demo.add_argument("--quiet", action="store_true", help="no progress output")

    validate = sub.add_parser(
        "validate", help="check a firm file and write a config for it",
        description="Read a firm file as 'geocluster run' would and report on stderr what "
                    "it holds (each column's type and summary, id columns, shared locations, "
                    "sentinel values, firms outside the study area) and what the run will do. "
                    "Then print a study config that runs as-is on stdout, or write it with "
                    "--write-config.",
        epilog=_epilog(),
    )
    validate.add_argument("firms", type=Path, help="firm file (CSV, Parquet, GeoPackage, ...)")
    validate.add_argument("--lon", default=None, help="longitude column (default: detected)")
    validate.add_argument("--lat", default=None, help="latitude column (default: detected)")
    validate.add_argument("--id", default=None, help="unique firm id column")
    validate.add_argument("--crs", default="EPSG:4326",
                          help="CRS of the coordinates (default EPSG:4326); kept in the config")
    validate.add_argument("--layer", default=None, help="layer of a multi-layer file (GeoPackage)")
    validate.add_argument("--encoding", default=None,
                          help="text encoding of a CSV/TSV file, e.g. latin-1 (default: detected)")
    validate.add_argument("--write-config", type=Path, default=None, metavar="STUDY.toml",
                          help="write the suggested config to this file (refused if it exists, "
                               "unless --force)")
    validate.add_argument("--force", action="store_true",
                          help="overwrite an existing --write-config file")

    sub.add_parser("config", help="print a commented config with every key and its default",
                   description="Print a TOML study config listing every section and key with "
                               "its choices and default value.", epilog=_epilog())
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geocluster`` command; returns the exit code (see :data:`EXIT_CODES`)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.version:
        print(f"geocluster {metadata.version('geocluster')}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    quiet = getattr(args, "quiet", False)
    restore_logging = _configure_logging(quiet)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "config":
            print(example_config(), end="")
            return EXIT_OK
    except GeoclusterError as exc:
        print(f"geocluster: error: {_clean(exc)}", file=sys.stderr)
        return _exit_code(exc)
    except KeyboardInterrupt:
        print("geocluster: interrupted; no results were written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        print(f"geocluster: error: cannot read or write{where}: {exc.strerror or exc}. Check "
              "the free disk space and the folder's permissions, then run again.",
              file=sys.stderr)
        return EXIT_OS
    except MemoryError:
        print("geocluster: error: out of memory. Use fewer firms, fewer permutations or "
              "simulations, or a machine with more memory.", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a CLI
        print(f"geocluster: unexpected error: {_clean(exc)}\nThis is a bug in geocluster; "
              f"please report it at {_ISSUES} with the command, the config and run.json "
              "(set GEOCLUSTER_DEBUG=1 for the full traceback).", file=sys.stderr)
        if os.environ.get("GEOCLUSTER_DEBUG"):
            raise
        return EXIT_FAILURE
    finally:
        restore_logging()
    parser.print_help()
    return EXIT_USAGE


def _clean(exc: BaseException) -> str:
    return _ANSI.sub("", str(exc))


def _exit_code(exc: GeoclusterError) -> int:
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG
    if isinstance(exc, (InputError, CRSError)):
        return EXIT_INPUT
    return EXIT_ERROR


def _configure_logging(quiet: bool) -> Callable[[], None]:
    """Send the "geocluster" logger to stderr for this command; return what undoes it.

    ``main`` may run inside a longer-lived process (tests, a notebook calling it), so the
    handler (bound to this command's stderr) and the logger's settings do not outlive it.
    """
    logger = logging.getLogger("geocluster")
    before = (logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[geocluster] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]

    return restore


def _run(args) -> int:
    from geocluster.pipeline.study import run_study  # deferred: start-up time (see the top)

    out = args.out if args.out is not None else args.config.parent / "results"
    result = run_study(args.config, out, force=args.force, quiet=args.quiet)
    _print_result(result, quiet=args.quiet)
    return EXIT_OK


def _demo(args) -> int:
    from geocluster.pipeline.study import demo_config, run_study  # deferred: start-up time

    if args.firms < 1:
        raise ConfigError(f"--firms {args.firms}: give a positive number of synthetic firms.")
    result = run_study(demo_config(n_firms=args.firms), args.out, force=args.force,
                       quiet=args.quiet)
    _print_result(result, quiet=args.quiet)
    return EXIT_OK


def _print_result(result, *, quiet: bool) -> None:
    summary = result.summary
    if not quiet:
        areal = summary.get("areal", {})
        if areal.get("hh_regions"):
            print(f"{areal.get('hh_title', 'High-high cluster regions')} (largest first):")
            for region in areal["hh_regions"][:12]:
                print(f"  {region['region']:>6}  {region['units']:>3} units  "
                      f"{'; '.join(region['places'])}")
        density = summary.get("density")
        if density and "clusters" in density:
            print(f"Density clusters of {density.get('industry')}: {density['clusters']} "
                  f"({density.get('firms_in_clusters', 0)} firms inside)")
        model = summary.get("model")
        if model and "terms" in model:
            variable = model.get("variable") or "cluster"
            shown = ", ".join(f"{k} {v:+.3f}" for k, v in model["terms"].items()
                              if v is not None and (variable in k or k in ("rho", "lambda")))
            print(f"{model.get('title') or 'Model'} ({model.get('model')}, "
                  f"n={model.get('nobs')}): {shown}")
        print(f"Total time {sum(result.timings.values()):.1f} s")
    warned = summary.get("warnings") or []
    if warned:
        total = sum(w["count"] for w in warned)
        print(f"geocluster: {len(warned)} distinct warnings ({total} in all); they are listed "
              "above, in run.json and at the top of report.html.", file=sys.stderr)
    print(f"Report: {result.report}")


def _validate(args) -> int:
    from geocluster.pipeline.config import validate_config  # deferred: start-up time
    from geocluster.pipeline.profile import config_toml, profile_firms, suggest_config
    from geocluster.pipeline.progress import terminate_as_interrupt

    target: Path | None = args.write_config
    if target is not None:
        if target.is_dir():
            raise ConfigError(f"--write-config '{target}' is a folder; give the path of a "
                              ".toml file to write, e.g. '{target / 'study.toml'}'.")
        if target.exists() and not args.force:
            raise ConfigError(f"--write-config '{target}' already exists; pass --force to "
                              "overwrite it, or choose another file name.")
        if not target.parent.exists():
            raise ConfigError(f"--write-config '{target}': the folder '{target.parent}' does "
                              "not exist; create it first or choose another path.")
    profile = profile_firms(args.firms, lon=args.lon, lat=args.lat, id=args.id, crs=args.crs,
                            layer=args.layer, encoding=args.encoding)
    for line in profile.lines():
        print(line, file=sys.stderr)
    config, reasons = suggest_config(profile, target, lon=args.lon, lat=args.lat, id=args.id,
                                     crs=args.crs, layer=args.layer, encoding=args.encoding)
    text = config_toml(config, reasons, str(args.firms))
    with warnings.catch_warnings():  # the check of our own config must not warn the user
        warnings.simplefilter("ignore")
        validate_config(tomllib.loads(text), source="the suggested config")
    if target is None:
        print("\n# Suggested study config (save it, or use --write-config FILE):",
              file=sys.stderr)
        print(text, end="")
        return EXIT_OK
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with terminate_as_interrupt():
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    print(f"Wrote {target}; run it with: geocluster run {target}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
