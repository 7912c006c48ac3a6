"""`deploy-compare edge-bundle`: the .tflite files + one standalone runner for a Pi or phone-class board."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "write an edge bundle: the TFLite models, their manifest entries, sample inputs and run_edge.py "
    "(needs only numpy + ai-edge-litert or tflite-runtime on the device)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to create (or replace)")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts/digits_cnn"),
        help="directory holding manifest.json (default: artifacts/digits_cnn)",
    )
    parser.add_argument("--only", default=None, help="comma-separated TFLite artifact names (default: all)")
    parser.add_argument("--samples", type=int, default=128, help="held-out samples to ship (default: 128)")


def run(args: argparse.Namespace) -> int:
    from ..edge.bundle import write_edge_bundle
    from ..fileio import size_of

    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    out = write_edge_bundle(args.artifacts, args.out, only, args.samples)
    for path in sorted(out.iterdir()):
        print(f"  {path.name:<28} {size_of(path) / 1024:8.1f} KiB")
    print(
        f"wrote {out} ({size_of(out) / 1024:.1f} KiB). On the device: "
        f"python3 run_edge.py --device <label> --out <label>.json"
    )
    return 0
