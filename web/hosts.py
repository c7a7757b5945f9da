"""The Host names a server answers to (DNS rebinding: a web page whose name the attacker points
at 127.0.0.1 must not read the library).

Checked here rather than by werkzeug's ``TRUSTED_HOSTS``, which cannot name an IPv6 address (it
cuts every name at its first colon, so ``[::1]`` never matches): ``TRUSTED_HOSTS`` is read into
``ALLOWED_HOSTS`` and checked when Flask binds the request to its URL map, where werkzeug's own
check would be, so a refused Host is a 400 before anything else runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Request
from werkzeug.exceptions import SecurityError
from werkzeug.routing import MapAdapter


class HostCheckingFlask(Flask):
    """Flask refusing a Host header not in ``config["ALLOWED_HOSTS"]`` (None: any)."""

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        adapter = super().create_url_adapter(request)
        allowed = self.config.get("ALLOWED_HOSTS")
        if request is not None and allowed is not None and not host_allowed(request.host, allowed):
            raise SecurityError(f"Host {request.host[:100]!r} is not one this server answers to")
        return adapter


def allowed_hosts(setting: object) -> list[str] | None:
    """The ``TRUSTED_HOSTS`` setting (a list, or comma-separated text) as a list; None for any
    Host (no setting, or ``*`` among the names)."""
    if setting is None or setting == "":
        return None
    names = setting.split(",") if isinstance(setting, str) else list(setting)  # type: ignore[call-overload]
    hosts = [str(name).strip() for name in names if str(name).strip()]
    return None if not hosts or "*" in hosts else hosts


def host_name(value: str) -> str:
    """A Host header's (or a configured) name without its port, lower-case; an IPv6 address in
    brackets, as a Host header writes it."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    if value.count(":") > 1:
        return f"[{value}]"  # a bare IPv6 address, as written in a setting
    return value.partition(":")[0]


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    name = host_name(host)
    for entry in allowed:
        if entry.startswith("."):  # ".example.org": the domain and every name under it
            suffix = host_name(entry[1:])
            if name == suffix or name.endswith(f".{suffix}"):
                return True
        elif name == host_name(entry):
            return True
    return False
