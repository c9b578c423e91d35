"""The one check `hpo serve` and `hpo demo` make before announcing a server: is something
already answering on the port? (Then uvicorn would fail after "serving on ..." with a
traceback-like error; a clear line and exit 2 instead.)"""

from __future__ import annotations

import socket

from hpo.errors import HpoError


class PortInUse(HpoError):
    """Something already listens on the port a server was asked to take."""


def ensure_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise PortInUse when a connection to host:port succeeds. A wildcard host (0.0.0.0,
    ::) is probed on loopback, where a server bound to the wildcard answers too."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if host == "::":
        probe = "::1"
    family = socket.AF_INET6 if ":" in probe else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            in_use = s.connect_ex((probe, port)) == 0
        except OSError:  # an unresolvable host: let the server report it as it does
            in_use = False
    if in_use:
        raise PortInUse(f"port {port} is in use (another hpo serve?): pass --port N")
