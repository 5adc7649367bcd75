"""Helpers that several test files share."""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.site.docs_tools import ROOT


def run_demo(
    module: str, timeout: float = 60, *, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `python -X dev -W error -m <module>` from the repository root, as a reader would
    (with every warning an error); return the finished process, output as text.
    With `check`, a non-zero exit raises CalledProcessError."""
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def raw_exchange(
    address: tuple[str, int], data: bytes, *, half_close: bool = False
) -> bytes:
    """Send raw bytes to a server on loopback and read until it closes the connection.

    A 5 s socket timeout means a server that never answers fails the test, never hangs it.
    `half_close` shuts our sending side after the bytes, for servers that read to EOF.
    """
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
