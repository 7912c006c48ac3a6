"""Packages the root Dockerfiles (the one source, buildable by hand) into the wheel.

Everything else about the build is in pyproject.toml. A non-editable install has no
repository root, so build_py copies Dockerfile.* into deploy_compare/servers/dockerfiles/
of the build; servers/docker_base.py reads the root in a checkout and that copy otherwise.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithDockerfiles(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the root files in place
            return
        target = Path(self.build_lib, "deploy_compare", "servers", "dockerfiles")
        self.mkpath(str(target))
        for dockerfile in sorted(ROOT.glob("Dockerfile.*")):
            self.copy_file(str(dockerfile), str(target / dockerfile.name))


setup(cmdclass={"build_py": BuildPyWithDockerfiles})
