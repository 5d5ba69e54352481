"""systemd's notify protocol, against a real datagram socket standing in for systemd's."""

import socket

import pytest

from vdsm_hosted_engine.sd_notify import Notifier

pytestmark = pytest.mark.unit


def test_notifications_reach_the_socket(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(path)
        notifier = Notifier(path)
        assert notifier.notify("READY=1") and notifier.notify("WATCHDOG=1")
        assert [systemd.recv(64), systemd.recv(64)] == [b"READY=1", b"WATCHDOG=1"]


def test_without_systemd_nothing_is_sent(tmp_path):
    assert Notifier("").notify("WATCHDOG=1") is False
    assert Notifier(str(tmp_path / "gone")).notify("WATCHDOG=1") is False  # warned once, never raises
