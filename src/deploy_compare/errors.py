"""Typed errors. Library code raises these; only the CLI maps them to exit codes.

Every message should name the thing (file, step, field) and what was expected, so the CLI
can print it as one line without a traceback.
"""

from __future__ import annotations


class DeployCompareError(Exception):
    """Base of every error this toolkit raises on purpose."""

    exit_code = 1


class ConfigError(DeployCompareError):
    """A setting, flag or config-file value is invalid."""

    exit_code = 2


class ModelLoadError(DeployCompareError):
    """A --model factory path does not import, or returns the wrong things."""


class ExportError(DeployCompareError):
    """An exporter failed to produce its artifact (names the format and step)."""


class ExportNotApplicable(ExportError):
    """An export route that cannot take this model (torch.export cannot capture it): the
    artifact is SKIPPED with the reason, the other artifacts go on."""


class VerificationError(DeployCompareError):
    """An artifact does not compute the model's function within the threshold."""


class ArtifactError(DeployCompareError):
    """An artifact file is missing, truncated, corrupt or does not match the manifest."""


class ManifestError(DeployCompareError):
    """manifest.json is missing, unreadable or of an unknown schema."""


class RuntimeUnavailable(DeployCompareError):
    """A runtime package is not installed here; the target becomes SKIPPED, not FAILED."""


class InputError(DeployCompareError):
    """A batch given to a runtime has the wrong shape or dtype."""


class ServerError(DeployCompareError):
    """A server failed to start, become healthy, or stop. Carries the log tail."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        full = message if not log_tail else f"{message}\n--- last lines of the server log ---\n{log_tail}"
        super().__init__(full)


class ImageBuildError(ServerError):
    """A server's Docker image could not be built (base image unreachable, build step failed,
    the model does not load in the image's runtime). `.reason` is one line for a report row."""

    def __init__(self, reason: str, log_tail: str = "") -> None:
        self.reason = reason
        super().__init__(reason, log_tail)


class ServerUnavailable(DeployCompareError):
    """No way to run this server here (no Docker engine, no binary); becomes SKIPPED."""


class ProtocolError(DeployCompareError):
    """A server's response cannot be parsed by the client's encoding."""


class LoadError(DeployCompareError):
    """The load client could not run (bad URL, bad settings, nothing answered)."""


class IncomparableRunsError(DeployCompareError):
    """Two runs whose comparison means nothing: one incomplete, another model or another profile."""

    exit_code = 3  # apart from 1 (`diff` found a regression) and 2 (a bad argument)


class ResultsError(DeployCompareError):
    """A results file (benchmark or edge runner JSON) is unreadable or does not match its schema."""


class DeviceError(DeployCompareError):
    """An edge device reached over SSH (edge/ssh.py) could not do its part; the message is one line."""


class DeviceUnreachable(DeviceError):
    """No SSH connection to the device (refused, timed out, unknown host, host key not trusted)."""


class DeviceAuthError(DeviceError):
    """The device refused the SSH login (no key of the user's that it accepts)."""


class DeviceSetupError(DeviceError):
    """The device lacks what the bundle needs (Python >= 3.9, numpy, a TFLite runtime)."""


class DeviceRunKilled(DeviceError):
    """The run on the device ended before it wrote its result (killed, or the connection dropped)."""


class BusyMachineError(DeployCompareError):
    """Another process keeps the run's cores busy ([run] busy_machine = "stop"): figures measured
    beside it would be wrong."""

    exit_code = 4


class ResumeError(DeployCompareError):
    """`run --resume` refused: the run cannot be continued as it was (settings, model or artifacts differ)."""


def message_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def first_line(exc: BaseException) -> str:
    """ "TypeName: first line of the message", for one-line error reports."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
