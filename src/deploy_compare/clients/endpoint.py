"""The one Endpoint: where a running model server answers and how to talk to it.

Servers make it (a launcher's `.endpoint`), the load client consumes it, results record it
(with credentials redacted). `encoding` names how the client's requests travel
(clients/encodings.py), which knows the predict URL and the body format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

REDACTED = "<redacted>"


@dataclass(frozen=True)
class Endpoint:
    """A running model server.

    url         base URL, scheme://host:port, no path (servers here: http://127.0.0.1:<port>)
    encoding    the encoding that builds requests and parses responses (clients.encodings.registered_encodings())
    model       the model name in the URL (/predictions/<m>, /v1/models/<m>, /v2/models/<m>)
    token       a bearer token sent as Authorization (the load CLI's --token)
    headers     sent with EVERY request (servers put their inference key here)
    input_name  the input tensor's name, for protocols that name tensors (KServe v2)
    grpc_target host:port of the same server's gRPC inference API, where it has one, or
                unix:/abs/path of its Unix socket (native TF Serving) (the gRPC encodings
                use it; None: the stack speaks no gRPC here)
    grpc_headers the metadata of every gRPC call where it differs from `headers` (Triton
                takes its restricted-protocol key as `triton-grpc-protocol-<key>`); None:
                `headers` and the token, names lowercased
    """

    url: str
    encoding: str
    model: str
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    input_name: str | None = None
    grpc_target: str | None = None
    grpc_headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        from .encodings import registered_encodings

        if self.encoding not in registered_encodings():
            raise ConfigError(f"Endpoint.encoding must be one of {registered_encodings()}, got {self.encoding!r}")
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"Endpoint.url must start with http:// or https://, got {self.url!r}")
        if not self.model:
            raise ConfigError("Endpoint.model must be a non-empty model name")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    # Names the server side used before there was one Endpoint.
    @property
    def base_url(self) -> str:
        return self.url

    @property
    def model_name(self) -> str:
        return self.model

    def grpc_metadata(self) -> dict[str, str]:
        """The metadata of every gRPC call: lowercase names, as gRPC requires."""
        given = self.grpc_headers if self.grpc_headers is not None else self.request_headers()
        return {k.lower(): v for k, v in given.items()}

    def request_headers(self) -> dict[str, str]:
        """`headers` plus the bearer token, for every request."""
        h = dict(self.headers)
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    @property
    def predict_url(self) -> str:
        from .encodings import encoding_for

        return encoding_for(self).url

    @property
    def health_url(self) -> str:
        from .encodings import encoding_for

        return encoding_for(self).health_url

    def __repr__(self) -> str:  # keys must not end up in logs or tracebacks
        return f"Endpoint({self.to_dict()!r})"

    def to_dict(self, redact: bool = True) -> dict[str, Any]:
        """For results files: credentials are replaced by a marker unless redact=False."""
        headers = {k: (REDACTED if redact and k.lower() == "authorization" else v) for k, v in self.headers.items()}
        token = (REDACTED if redact else self.token) if self.token else None
        return {
            "url": self.url,
            "protocol": self.encoding,
            "model": self.model,
            "token": token,
            "headers": headers,
            "input_name": self.input_name,
            "grpc_target": self.grpc_target,
            "grpc_headers": None
            if self.grpc_headers is None
            else {
                k: (REDACTED if redact and "authorization" in k.lower() else v) for k, v in self.grpc_headers.items()
            },
            "predict_url": self.predict_url,
        }
