"""`deploy-compare verify`: re-check every artifact of a manifest (file hash + parity)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "re-verify exported artifacts: file integrity (sha256) and parity with the PyTorch model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts/digits_cnn"),
        help="directory holding manifest.json (default: artifacts/digits_cnn)",
    )
    parser.add_argument("--only", default=None, help="comma-separated artifact names")
    parser.add_argument(
        "--float-tolerance", type=float, default=None, help="max abs diff allowed for float paths (default 1e-4)"
    )
    parser.add_argument("--warn-only", action="store_true", help="report parity failures without failing")


def thresholds_from_args(args: argparse.Namespace):
    from ..exporters.verify import ParityThresholds

    if args.float_tolerance is None:
        return ParityThresholds()
    return ParityThresholds(float_max_abs_diff=args.float_tolerance)


def run(args: argparse.Namespace) -> int:
    from ..errors import VerificationError
    from ..evaldata import EvalData
    from ..exporters.verify import verify_artifact
    from ..manifest import load_manifest
    from ..native_logs import native_stderr_to

    manifest = load_manifest(args.artifacts)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(manifest.artifacts)
    data = EvalData.load(args.artifacts)
    thresholds = thresholds_from_args(args)
    failures = []
    with native_stderr_to(args.artifacts / "logs" / "native.log"):
        for name in names:
            parity = verify_artifact(args.artifacts, manifest, name, data, thresholds)
            status = "ok" if parity.passed else "FAILED"
            print(
                f"{name}: {status} (max|diff| {parity.max_abs_diff:.2e}, top-1 agreement {parity.top1_agreement:.2%})",
                flush=True,
            )
            failures.extend(parity.failures)
    if failures and not args.warn_only:
        raise VerificationError("parity check failed: " + "; ".join(failures))
    return 0
