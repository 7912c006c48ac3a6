"""Served targets as (stack, artifact) pairs: `[run] serve` and how results.json names them.

A stack serving its own format keeps its plain name as its key ("torchserve"), so results
written before pairs existed read and diff as they always did; a stack serving another
artifact it can serve (Stack.servable) is keyed "stack:artifact" ("torchserve:onnx"). In
results.json the record keeps `target` = the stack and `artifact` = what it served; the key
is derived from both (ServedResult.key), never stored.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import ConfigError

#: the runtime held fixed across stacks by default: every stack that can serve it does
SHARED_ARTIFACT = "onnx"


class ServedPair(NamedTuple):
    stack: str
    artifact: str

    @property
    def key(self) -> str:
        return pair_key(self.stack, self.artifact)

    @property
    def own(self) -> bool:
        """The stack serves its own format (only such a pair is tuned)."""
        return self.artifact == own_artifact(self.stack)


def own_artifact(stack: str) -> str | None:
    """The stack's own format (None: a stack this version does not know, e.g. an old file's)."""
    from ..servers.registry import stacks

    found = stacks().get(stack)
    return found.artifact if found is not None else None


def pair_key(stack: str, artifact: str | None) -> str:
    """ "stack" for its own format (or an unknown artifact), else "stack:artifact"."""
    if artifact is None or artifact == own_artifact(stack):
        return stack
    return f"{stack}:{artifact}"


def parse_pair(text: str) -> ServedPair:
    """ "torchserve" (its own format) or "torchserve:onnx" -> a ServedPair the stack can serve;
    ConfigError naming what is allowed."""
    from ..servers.registry import get, names

    if not isinstance(text, str) or not text:
        raise ConfigError(f"run.serve: each entry is 'stack' or 'stack:artifact', got {text!r}")
    stack_name, _, artifact = text.partition(":")
    if stack_name not in names():
        raise ConfigError(f"run.serve: unknown stack {stack_name!r} in {text!r}; allowed: {', '.join(names())}")
    stack = get(stack_name)
    artifact = artifact or stack.artifact
    try:
        stack.check_artifact(artifact)
    except ConfigError as exc:
        raise ConfigError(f"run.serve: {text!r}: {exc}") from None
    return ServedPair(stack_name, artifact)


def default_pairs(targets: list[str]) -> list[ServedPair]:
    """Each target with its own format, then each target that can serve the shared runtime
    (ONNX Runtime) with it, so one row holds the runtime fixed and varies the stack."""
    from ..servers.registry import get

    own = [ServedPair(t, get(t).artifact) for t in targets]
    shared = [
        ServedPair(t, SHARED_ARTIFACT)
        for t in targets
        if SHARED_ARTIFACT in get(t).servable and get(t).artifact != SHARED_ARTIFACT
    ]
    return own + shared


def served_pairs(serve: list[str], targets: list[str]) -> list[ServedPair]:
    """`[run] serve` validated: [] = default_pairs(targets); else each entry parsed, once, and
    its stack among [run] targets."""
    if not isinstance(serve, list):
        raise ConfigError(f"run.serve must be a list like ['torchserve', 'torchserve:onnx'], got {serve!r}")
    if not serve:
        return default_pairs(targets)
    pairs = [parse_pair(entry) for entry in serve]
    keys = [p.key for p in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"run.serve: each pair once, got {', '.join(twice)} more than once")
    outside = [p.key for p in pairs if p.stack not in targets]
    if outside:
        raise ConfigError(f"run.serve: {', '.join(outside)} not among run.targets ({', '.join(targets)})")
    return pairs
