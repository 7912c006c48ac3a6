"""Split the usable cores between the server and the load client.

With two or more cores, the server gets all but the last core and the client the last
one, so the client never steals the server's CPU (and the report says who had which).
With one core both share it, and the report says so.

The pinning itself (every thread of a process, see pinning.py) is a core module: the load
client's actors pin themselves with it too. The server is started while the parent's
threads are already on the server cores, so everything it spawns inherits them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..machine import usable_cores
from ..pinning import pin_self, pin_threads, pin_tree

# Re-exported for callers that plan and pin together (deploy/served.py, bench/, tests); new code
# imports pinning.py and machine.py directly.
__all__ = ["CorePlan", "pin_self", "pin_threads", "pin_tree", "plan_cores", "usable_cores"]


@dataclass(frozen=True)
class CorePlan:
    server: tuple[int, ...]
    client: tuple[int, ...]
    shared: bool

    def to_dict(self) -> dict:
        return {"server_cores": list(self.server), "client_cores": list(self.client), "shared": self.shared}


def plan_cores(cores: list[int] | None = None) -> CorePlan:
    cores = usable_cores() if cores is None else sorted(cores)
    if len(cores) < 2:
        return CorePlan(tuple(cores), tuple(cores), shared=True)
    return CorePlan(tuple(cores[:-1]), (cores[-1],), shared=False)
