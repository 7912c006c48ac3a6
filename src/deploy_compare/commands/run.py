"""`deploy-compare run`: the whole comparison, one run directory, one report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..servers.config import MODES

HELP = "run the whole comparison: export, in-process benchmarks, every serving stack, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument(
        "--quick", action="store_true", help="the short profile (<= 5 minutes on 2 cores, wide intervals)"
    )
    profile.add_argument(
        "--thorough", action="store_true", help="the long profile (default.toml [thorough]: about 3 hours on 2 cores)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a TOML file merged over the defaults (see src/deploy_compare/deploy/default.toml)",
    )
    parser.add_argument("--model", default=None, help="'builtin' or pkg.module:factory / file.py:factory")
    parser.add_argument(
        "--targets",
        default=None,
        help="served targets, comma-separated (default: every registered stack; see README's stack table)",
    )
    parser.add_argument(
        "--server-mode",
        default=None,
        choices=MODES,
        help="how to run the servers (default auto: Docker if an engine answers, else native)",
    )
    parser.add_argument("--runs-dir", default=None, help="where run directories go (default runs/)")
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN",
        help="continue the interrupted run in directory RUN from its first stage that did not complete, "
        "with its own settings (others given must match), model and artifacts (checked by hash)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        metavar="N",
        help="measure every served point and the in-process benchmark N times, interleaved ([run] repeat: 1, --thorough 3)",
    )
    from ..servers.registry import base_image_stacks

    for kind in base_image_stacks():  # every stack with a Docker launcher whose config takes base_image
        parser.add_argument(
            f"--{kind}-base-image",
            default=None,
            metavar="IMAGE",
            help=f"Docker: FROM image of {kind}'s Dockerfile, e.g. an internal mirror ([{kind}] base_image)",
        )


def _overrides(args: argparse.Namespace) -> dict:
    run = {}
    if args.model:
        run["model"] = args.model
    if args.targets is not None:
        run["targets"] = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.server_mode:
        run["server_mode"] = args.server_mode
    if args.runs_dir:
        run["runs_dir"] = args.runs_dir
    if args.repeat is not None:
        run["repeat"] = args.repeat
    from ..servers.registry import base_image_stacks

    overrides: dict = {"run": run} if run else {}
    for kind in base_image_stacks():
        image = getattr(args, f"{kind}_base_image", None)
        if image:
            overrides[kind] = {"base_image": image}
    return overrides


def _resumed_config(args: argparse.Namespace):
    """The settings the run recorded; settings given beside --resume must be the same."""
    from ..deploy.config import load_run_config
    from ..deploy.resume import check_same_settings, load_for_resume, recorded_config

    results = load_for_resume(args.resume)
    overrides = _overrides(args)
    if args.config is not None or args.quick or args.thorough or overrides:
        check_same_settings(
            results, load_run_config(args.config, quick=args.quick, overrides=overrides, thorough=args.thorough)
        )
    return recorded_config(results)


def run(args: argparse.Namespace) -> int:
    from ..deploy.config import load_run_config
    from ..deploy.pipeline import Pipeline
    from ..report import render_all
    from ..stop_signals import stop_signals_as_interrupt

    if args.resume is not None:
        config = _resumed_config(args)
    else:
        config = load_run_config(args.config, quick=args.quick, overrides=_overrides(args), thorough=args.thorough)
    pipeline = Pipeline(config, argv=["deploy-compare", *sys.argv[1:]], render=render_all, resume=args.resume)
    try:
        with stop_signals_as_interrupt():  # `kill`, a CI timeout or a closed terminal: like Ctrl-C
            run_dir = pipeline.run()
    except KeyboardInterrupt:
        if pipeline.run_dir is not None:
            print(
                f"interrupted: partial results in {pipeline.run_dir / 'results.json'} (marked incomplete)",
                file=sys.stderr,
            )
        return 130
    failed = [s for s in pipeline.results.run.stages if s.status == "FAILED"]
    print(f"\nrun finished in {pipeline.results.run.wall_s:.0f}s: {run_dir}")
    for name in ("report.md", "report.html", "results.json"):
        if (run_dir / name).exists():
            print(f"  {run_dir / name}")
    if failed:
        print("FAILED stages: " + "; ".join(f"{s.name}: {s.reason}" for s in failed), file=sys.stderr)
        return 1
    return 0
