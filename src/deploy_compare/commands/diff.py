"""`deploy-compare diff RUN_A RUN_B`: compare two runs; exit code 1 when B regressed, 3 when
the runs do not compare (incomplete, another model or profile)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "compare two runs figure by figure (latency, throughput, SLO rate, sizes, accuracy); "
    "exit code 1 when RUN_B regressed beyond the noise of both runs, 2 when a run directory is missing "
    "or invalid, 3 when the runs do not compare (one incomplete, another model or another profile)"
)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share like 1.0 (= a factor 2), got {text!r}") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 10 (1.0 = a factor 2), got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="the baseline run directory")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="the run to check against the baseline")
    parser.add_argument(
        "--tolerance",
        type=_share,
        default=None,
        help="where a run has ONE repetition (no measured spread): B may be worse by up to the factor "
        "1 + TOLERANCE before it counts (default 3.0: 4x, above the drift measured between default runs of "
        "the same code on a 2-core VM; lower it on a steadier machine); a level's p99 is then shown, not judged. With "
        "repetitions in both runs the noise is their ranges or intervals",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="OUT.html",
        help="also write the comparison as a page: what got worse or better beyond the noise, by how much, "
        "with each run's range, and what tied",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="compare runs that do not compare (incomplete, another model or profile); the reasons head the output",
    )


def run(args: argparse.Namespace) -> int:
    from ..deploy.results import load_results
    from ..errors import ConfigError, DeployCompareError
    from ..report.diff import DEFAULT_TOLERANCE, describe_run, diff_runs, format_diff

    if args.html is not None and not args.html.parent.is_dir():
        raise ConfigError(f"--html {args.html}: no such directory {args.html.parent}")
    loaded = []
    for label, path in (("RUN_A", args.run_a), ("RUN_B", args.run_b)):
        # A bad argument exits 2, so exit code 1 always means "regression found".
        if not path.is_dir():
            raise ConfigError(f"{label} {path}: no such run directory")
        try:
            loaded.append(load_results(path))
        except DeployCompareError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    describe = [f"{path}: {describe_run(results)}" for path, results in zip((args.run_a, args.run_b), loaded)]
    print(f"A = {describe[0]}")
    print(f"B = {describe[1]}")
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    report = diff_runs(loaded[0], loaded[1], tolerance, force=args.force)  # IncomparableRunsError: exit 3
    print(format_diff(report, "A", "B"))
    if args.html is not None:
        from ..fileio import write_text_atomic
        from ..report.render_diff import render_diff_html

        write_text_atomic(args.html, render_diff_html(report, *describe))
        print(f"wrote {args.html}")
    return 1 if report.regressions else 0
