"""Installed package versions, for manifests and environment records."""

from __future__ import annotations

from importlib import metadata


def package_versions(*packages: str) -> dict[str, str]:
    """package -> version, or "not installed" (recorded, never raised: a record must not fail)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
