"""What the benchmarks share about the machine they run on: the CPU's name, a free loopback
port, a private Redis. Standard library only: the GPU image imports it too."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def cpu() -> str:
    """The CPU model and logical core count, from /proc/cpuinfo."""
    try:
        names = [line.split(":", 1)[1].strip()
                 for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        return f"{names[0]}, {len(names)} logical cores" if names else "unknown CPU"
    except OSError:
        return "unknown CPU"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(*extra: str) -> tuple[subprocess.Popen | None, int]:
    """A private, non-persistent redis-server on a free loopback port (other users share the
    usual one), in its own session; (None, 0) when redis-server is missing or never answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None, 0
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", *extra], stdout=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(50):  # ready when it accepts a connection
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    return None, 0
