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
        default=None,
        help="directory holding manifest.json (default: artifacts/<model name>); exported first when it has none",
    )
    parser.add_argument(
        "--model",
        default="builtin",
        help="the model to export when --artifacts has no manifest yet (as for `export`; default: builtin)",
    )
    parser.add_argument("--only", default=None, help="comma-separated TFLite artifact names (default: all)")
    parser.add_argument("--samples", type=int, default=128, help="held-out samples to ship (default: 128)")


def ensure_exported(model: str, artifacts: Path | None) -> Path:
    """The artifacts directory, exported first when it holds no manifest yet: the TFLite files
    and what they are made from, not the server formats (no AOTInductor compile for a bundle).
    A later `run` on the same directory exports the rest and reuses these."""
    import time

    from ..exporters.pipeline import TFLITE_NAMES, ExportOptions, default_out_dir, export_all
    from ..manifest import MANIFEST_NAME
    from ..native_logs import native_stderr_to

    out_dir = artifacts or default_out_dir(model)
    if (out_dir / MANIFEST_NAME).exists():
        return out_dir
    print(f"{out_dir / MANIFEST_NAME}: none yet; exporting {model} first")
    started = time.perf_counter()
    with native_stderr_to(out_dir / "logs" / "native.log"):
        export_all(
            ExportOptions(model=model, out_dir=out_dir, only=TFLITE_NAMES),
            progress=lambda message: print(f"[{time.perf_counter() - started:6.1f}s] export: {message}", flush=True),
        )
    return out_dir


def run(args: argparse.Namespace) -> int:
    from ..edge.bundle import write_edge_bundle
    from ..fileio import size_of

    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    artifacts = ensure_exported(args.model, args.artifacts)
    out = write_edge_bundle(artifacts, args.out, only, args.samples)
    for path in sorted(out.iterdir()):
        print(f"  {path.name:<28} {size_of(path) / 1024:8.1f} KiB")
    print(
        f"wrote {out} ({size_of(out) / 1024:.1f} KiB). On the device: "
        f"python3 run_edge.py --device <label> --out <label>.json"
    )
    return 0
