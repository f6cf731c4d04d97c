"""Which hosts are this machine's own: the SMS service's API URL and the bounce mailbox may use
plain connections only to these (a test server on loopback), since they carry secrets."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str | None) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
