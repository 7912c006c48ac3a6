"""`deploy-compare export`: train or take the model, export every format, verify, write the manifest."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "export the model to TorchScript, ONNX, SavedModel and TFLite (fp32/fp16/int8) and verify each"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="builtin",
        help="'builtin' (digits CNN) or your factory as pkg.module:factory or file.py:factory",
    )
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: artifacts/<model name>)")
    parser.add_argument("--only", default=None, help="comma-separated artifact names (their inputs are exported too)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".cache/models"),
        help="where trained weights of the built-in model are cached",
    )
    parser.add_argument(
        "--warn-only", action="store_true", help="report parity failures as warnings instead of failing the export"
    )
    parser.add_argument("--no-reuse", action="store_true", help="re-export even when an unchanged artifact is on disk")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    parser.add_argument(
        "--float-tolerance", type=float, default=None, help="max abs diff allowed for float paths (default 1e-4)"
    )


def options_from_args(args: argparse.Namespace):
    from ..exporters.pipeline import ARTIFACT_NAMES, ExportOptions, default_out_dir
    from .verify import thresholds_from_args

    kwargs = dict(
        model=args.model,
        out_dir=args.out or default_out_dir(args.model),
        cache_dir=args.cache_dir,
        parity_failures_are_errors=not args.warn_only,
        reuse=not args.no_reuse,
        thresholds=thresholds_from_args(args),
    )
    if args.only:
        kwargs["only"] = tuple(n.strip() for n in args.only.split(",") if n.strip())
    else:
        kwargs["only"] = ARTIFACT_NAMES
    if args.opset is not None:
        kwargs["opset"] = args.opset
    return ExportOptions(**kwargs)


def run(args: argparse.Namespace) -> int:
    from ..exporters.pipeline import export_all
    from ..exporters.report import parity_table
    from ..native_logs import native_stderr_to
    from ..progress import ProgressLog

    options = options_from_args(args)
    started = time.perf_counter()
    with native_stderr_to(options.out_dir / "logs" / "native.log"), ProgressLog() as progress:
        manifest = export_all(options, progress=progress.line)
    print()
    print(parity_table(manifest))
    print(f"\nwrote {options.out_dir / 'manifest.json'} in {time.perf_counter() - started:.1f}s")
    return 0
