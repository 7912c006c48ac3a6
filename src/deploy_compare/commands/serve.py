"""`deploy-compare serve`: start a serving stack on the exported model, print how to call it
(URL, key), and keep it up until Ctrl-C; then stop everything it started."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..servers.config import MODES

HELP = "start a serving stack on the exported model and print the endpoint and key until Ctrl-C"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..servers.registry import names, serve_flags

    parser.add_argument("--target", choices=names(), default=names()[0])
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="auto",
        help="auto: Docker if an engine answers, else native",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts") / "digits_cnn",
        help="directory with manifest.json (from `deploy-compare export`)",
    )
    parser.add_argument(
        "--artifact",
        default=None,
        help="the artifact to serve, one the target can (e.g. onnx on torchserve; default: its own format)",
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="where logs go (default: runs/serve-<time>)")
    # Each stack's own flags, from its descriptor (Stack.serve_flags); None: the config's default.
    for name, takers in serve_flags().items():
        meanings = "; ".join(f"{stack.label}: {flag.help}" for stack, flag in takers)
        parser.add_argument(f"--{name}", type=takers[0][1].type, default=None, help=meanings)
    parser.add_argument("--start-timeout", type=float, default=180.0, help="health deadline in seconds")
    parser.add_argument(
        "--base-image", default=None, metavar="IMAGE", help="Docker: FROM image (default: the Dockerfile's pinned tag)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any field of the target's config table (TOML value), e.g. --set workers=2",
    )


def _overrides(pairs: list[str]) -> dict:
    import tomllib

    from ..errors import ConfigError

    table: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            table.update(tomllib.loads(f"{key.strip()} = {value}"))
        except tomllib.TOMLDecodeError:
            table[key.strip()] = value  # a bare word: a string
    return table


def _config(args: argparse.Namespace):
    from ..deploy.config import build
    from ..servers.registry import get

    table = {"start_timeout_s": args.start_timeout, **_flag_fields(args)}
    if args.base_image:
        table["base_image"] = _base_image(args)
    return build(get(args.target).config_class, {**table, **_overrides(args.set)}, "--set")


def _flag_fields(args: argparse.Namespace) -> dict:
    """The config fields the target's own flags set; ConfigError for a flag it does not take."""
    from ..errors import ConfigError
    from ..servers.registry import serve_flags

    table: dict = {}
    for name, takers in serve_flags().items():
        value = getattr(args, name.replace("-", "_"))
        if value is None:
            continue
        flag = next((flag for stack, flag in takers if stack.name == args.target), None)
        if flag is None:
            allowed = ", ".join(stack.name for stack, _ in takers)
            raise ConfigError(f"--{name} does not apply to {args.target} (it applies to {allowed}); use --set")
        table.update(flag.fields(value))
    return table


def _base_image(args: argparse.Namespace) -> str:
    """--base-image for the target, when its registry entry says it takes one."""
    from ..errors import ConfigError
    from ..servers.registry import base_image_stacks

    if args.target not in base_image_stacks():
        raise ConfigError(
            f"--base-image: {args.target} has no Docker image to build; it applies to {', '.join(base_image_stacks())}"
        )
    return args.base_image


def _example_body(ep) -> dict:
    if ep.encoding == "kserve_v2":
        return {"inputs": [{"name": ep.input_name, "shape": ["<shape>"], "datatype": "FP32", "data": ["<flat>"]}]}
    return {"instances": ["<sample>"]}


def run(args: argparse.Namespace) -> int:
    from ..servers import make_launcher
    from ..stop_signals import stop_signals_as_interrupt

    run_dir = args.run_dir or Path("runs") / time.strftime("serve-%Y%m%d-%H%M%S")
    launcher = make_launcher(
        args.target,
        args.mode,
        manifest_dir=args.artifacts,
        run_dir=run_dir,
        config=_config(args),
        artifact=args.artifact,
    )
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
            sample = json.dumps(_example_body(ep))
            auth = "".join(f" -H '{k}: {v}'" for k, v in ep.headers.items())
            print(f"  example: curl -s {ep.predict_url} -H 'Content-Type: application/json'{auth} -d '{sample}'")
            if ep.grpc_target:  # `load --encoding grpc --grpc-target` reaches the same model over gRPC
                print(f"  gRPC:    {ep.grpc_target}")
                for key, value in ep.grpc_metadata().items():
                    print(f"  gRPC metadata: {key}: {value}")
            print("Ctrl-C to stop.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopped.", flush=True)
        return 0
