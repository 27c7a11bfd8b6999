"""Which host names and addresses are this machine's loopback."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost`, or any loopback address (127.0.0.0/8, ::1), bracketed or not."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """A Host header without its port ([::1]:8080 -> [::1], localhost:80 -> localhost)."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.split(":")[0]
