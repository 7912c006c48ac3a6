"""`deploy-compare serve`: start TorchServe or TF Serving on the exported model, print how to
call it (URL, key), and keep it up until Ctrl-C; then stop everything it started."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HELP = "start TorchServe or TF Serving on the exported model and print the endpoint and key until Ctrl-C"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=("torchserve", "tfserving"), default="torchserve")
    parser.add_argument(
        "--mode",
        choices=("auto", "docker", "native"),
        default="auto",
        help="auto: Docker if an engine answers, else native",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts") / "digits_cnn",
        help="directory with manifest.json (from `deploy-compare export`)",
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="where logs go (default: runs/serve-<time>)")
    parser.add_argument("--workers", type=int, default=1, help="TorchServe workers")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="server-side batch size (TorchServe batch_size; TF Serving max_batch_size, batching on when > 1)",
    )
    parser.add_argument("--max-batch-delay-ms", type=int, default=5, help="wait to fill a batch")
    parser.add_argument("--torch-threads", type=int, default=None, help="intra-op threads per TorchServe worker")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="health deadline in seconds")
    parser.add_argument(
        "--base-image", default=None, metavar="IMAGE", help="Docker: FROM image (default: the Dockerfile's pinned tag)"
    )


def _config(args: argparse.Namespace):
    from ..servers import TFServingConfig, TorchServeConfig

    if args.target == "torchserve":
        return TorchServeConfig(
            workers=args.workers,
            batch_size=args.batch_size,
            max_batch_delay_ms=args.max_batch_delay_ms,
            torch_threads=args.torch_threads,
            start_timeout_s=args.start_timeout,
            base_image=args.base_image,
        )
    return TFServingConfig(
        batching=args.batch_size > 1,
        max_batch_size=max(1, args.batch_size),
        batch_timeout_micros=args.max_batch_delay_ms * 1000,
        start_timeout_s=args.start_timeout,
        base_image=args.base_image,
    )


def run(args: argparse.Namespace) -> int:
    from ..servers import make_launcher
    from ..stop_signals import stop_signals_as_interrupt

    run_dir = args.run_dir or Path("runs") / time.strftime("serve-%Y%m%d-%H%M%S")
    launcher = make_launcher(args.target, args.mode, manifest_dir=args.artifacts, run_dir=run_dir, config=_config(args))
    try:
        if launcher.mode_note:
            print(launcher.mode_note, flush=True)
        print(f"starting {launcher.describe()} ... (log: {launcher.log_path})", flush=True)
        # `kill <pid>` or a closed terminal must clean up like Ctrl-C does.
        with stop_signals_as_interrupt(), launcher:
            ep = launcher.endpoint
            print(f"ready in {launcher.startup_s:.1f} s")
            print(f"  predict: POST {ep.predict_url}")
            for key, value in ep.headers.items():
                print(f"  header:  {key}: {value}")
            sample = json.dumps({"instances": ["<sample>"]})
            auth = "".join(f" -H '{k}: {v}'" for k, v in ep.headers.items())
            print(f"  example: curl -s {ep.predict_url} -H 'Content-Type: application/json'{auth} -d '{sample}'")
            print("Ctrl-C to stop.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopped.", flush=True)
        return 0
