"""`deploy-compare clean`: remove the toolkit's Docker containers and images.

Everything the toolkit makes in Docker carries the label org.deploy-compare.kind; this
removes exactly those (running containers are killed first), asks nothing, and prints
what it removed. Other containers and images on the engine are never touched.
"""

from __future__ import annotations

import argparse

HELP = "remove the toolkit's Docker containers and images (found by their label); asks nothing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-base",
        action="store_true",
        help="keep the local stand-in base images (deploy-compare/*-base), which take minutes to rebuild",
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import ServerUnavailable
    from ..servers.cleanup import remove_labelled
    from ..servers.docker_base import docker_unavailable_reason

    reason = docker_unavailable_reason()
    if reason is not None:
        raise ServerUnavailable(f"nothing to clean: {reason}")
    removed = remove_labelled(keep_base=args.keep_base)
    for line in removed.lines():
        print(line)
    print(f"removed {len(removed.containers)} container(s), {len(removed.images)} image(s)")
    return 0
