"""Find and remove what the toolkit left in Docker, by its label (supervisor.LABEL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .supervisor import LABEL

#: repositories of the local stand-in base images (docker/*-standin/build.sh)
BASE_REPO_SUFFIX = "-base"


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)  # "name (image)"
    images: list[str] = field(default_factory=list)  # tags, or ids of untagged images
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return (
            [f"removed container {c}" for c in self.containers]
            + [f"removed image {i}" for i in self.images]
            + [f"could not remove {e}" for e in self.errors]
        )


def labelled_containers(client: Any) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": LABEL}))


def remove_labelled(client: Any = None, *, keep_base: bool = False) -> Removed:
    """Remove every labelled container, then every labelled image (children before parents)."""
    own = client is None
    if client is None:
        import docker

        client = docker.from_env(timeout=60)  # type: ignore[attr-defined]  # docker has no stubs for it
    removed = Removed()
    try:
        for container in labelled_containers(client):
            try:
                container.remove(force=True)  # kills a running one
                removed.containers.append(f"{container.name} ({container.labels.get(LABEL, '?')})")
            except Exception as exc:
                removed.errors.append(f"container {container.name}: {exc}")
        images = client.images.list(filters={"label": LABEL})
        # Images built FROM a stand-in base inherit its label: remove those first.
        images.sort(key=lambda image: _is_base(image))
        for image in images:
            if keep_base and _is_base(image):
                continue
            name = ", ".join(image.tags) or image.short_id
            try:
                client.images.remove(image.id, force=True)
                removed.images.append(name)
            except Exception as exc:
                removed.errors.append(f"image {name}: {exc}")
    finally:
        if own:
            client.close()
    return removed


def _is_base(image: Any) -> bool:
    return any(tag.split(":")[0].endswith(BASE_REPO_SUFFIX) for tag in image.tags)
