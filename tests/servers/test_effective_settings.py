"""Thread settings stated per path: TF Serving's session threads reach its command line, and
every stack that takes a thread count gets the server's pinned cores in `run`."""

from __future__ import annotations

import pytest

from deploy_compare.servers.registry import stacks
from deploy_compare.servers.tfserving.config import TFServingConfig

pytestmark = pytest.mark.unit


def test_tfserving_threads_become_session_flags_and_none_keeps_tensorflow_defaults():
    assert TFServingConfig(threads=1).thread_flags() == [
        "--tensorflow_intra_op_parallelism=1",
        "--tensorflow_inter_op_parallelism=1",
    ]
    assert TFServingConfig().thread_flags() == []


def test_every_stack_states_its_threads_and_its_effective_settings():
    for stack in stacks().values():
        # a stack pinned to one core fixes its threads in its own config (the edge-service path)
        assert stack.threads_field or stack.max_server_cores == 1, stack.name
        assert stack.effective or stack.max_server_cores == 1, stack.name
