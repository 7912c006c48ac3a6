"""Device descriptions for edge-run (edge/hosts.py) and how ssh's error lines are read (edge/ssh.py)."""

from __future__ import annotations

import pytest

from deploy_compare.edge.hosts import SshTarget, edge_hosts, parse_target
from deploy_compare.edge.ssh import ssh_error
from deploy_compare.errors import ConfigError, DeviceAuthError, DeviceUnreachable

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text,expected",
    [
        ("pi@192.168.1.20", SshTarget("192.168.1.20", "pi", None)),
        ("pi@board.local:2222", SshTarget("board.local", "pi", 2222)),
        ("board", SshTarget("board", None, None)),
        ("root@[::1]:22", SshTarget("::1", "root", 22)),
    ],
)
def test_targets(text, expected):
    assert parse_target(text) == expected
    assert str(parse_target(text)).endswith(text.split("@")[-1].replace("[", "").replace("]", ""))


@pytest.mark.parametrize("text", ["pi@", "pi@host:0", "pi@host:70000", "-oProxyCommand=x", "a b@host", "", None])
def test_bad_targets_are_one_config_error(text):
    with pytest.raises(ConfigError, match="--ssh"):
        parse_target(text)


def test_config_hosts_are_typed_and_validated():
    hosts = edge_hosts(
        {"edge": {"hosts": {"pi4": {"ssh": "pi@10.0.0.2:2200", "threads": [1, 4], "ssh_options": ["Port=1"]}}}}
    )
    pi4 = hosts["pi4"]
    assert pi4.label == "pi4" and pi4.target == SshTarget("10.0.0.2", "pi", 2200)
    assert pi4.threads == (1, 4) and pi4.ssh_options == ("Port=1",) and pi4.python == "python3"
    assert edge_hosts({}) == {}


@pytest.mark.parametrize(
    "table,named",
    [
        ({"hosts": {"pi4": {"ssh": "pi@h", "pyhton": "python3"}}}, "unknown key(s) pyhton"),
        ({"hosts": {"pi4": {"python": "python3"}}}, "[edge.hosts.pi4]: ssh ="),
        ({"hosts": {"pi4": {"ssh": "pi@h", "threads": [0]}}}, "[edge.hosts.pi4] threads"),
        ({"hosts": {"pi4": {"ssh": "pi@h", "ssh_options": ["-v"]}}}, "KEY=VALUE"),
        ({"hosts": {"pi/4": {"ssh": "pi@h"}}}, "not a device label"),
        ({"devices": {}}, "[edge]: unknown key(s) devices"),
    ],
)
def test_bad_config_hosts_name_the_key(table, named):
    with pytest.raises(ConfigError) as err:
        edge_hosts({"edge": table})
    assert named in str(err.value)


def test_ssh_error_lines_become_typed_errors():
    target = SshTarget("10.0.0.2", "pi", 22)
    refused = ssh_error(target, "ssh: connect to host 10.0.0.2 port 22: Connection refused\r\n")
    assert isinstance(refused, DeviceUnreachable) and "Connection refused" in str(refused)
    denied = ssh_error(target, "Warning: Permanently added '10.0.0.2'\npi@10.0.0.2: Permission denied (publickey).\n")
    assert isinstance(denied, DeviceAuthError) and "authentication refused" in str(denied)
    host_key = ssh_error(target, "Host key verification failed.\n")
    assert isinstance(host_key, DeviceUnreachable) and "known_hosts" in str(host_key)
    assert ssh_error(target, "Traceback (most recent call last):\n") is None  # the remote command's, not ssh's
