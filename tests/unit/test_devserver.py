"""Ports for dev servers the tests and the bench start on free ports."""

from __future__ import annotations

import socket

from duragent.workers._devserver import _ephemeral_range, free_port


def test_free_ports_are_free_and_below_the_ephemeral_range() -> None:
    # `temporal server start-dev` binds its internal ports to port 0 (the ephemeral range): a
    # --port picked there could be taken by the server itself before its frontend binds it.
    low, _ = _ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert all(20_000 <= port < low for port in ports), ports
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: nothing else holds it
