"""``HOST:PORT`` listen addresses of the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from sparkwing.errors import UsageError

#: Where the dashboard listens unless told otherwise.
DEFAULT_ADDR = "127.0.0.1:4343"


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed listen address."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The base URL a browser opens (wildcard hosts are shown as loopback)."""
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def connect_host(self) -> str:
        """The host to connect to when probing the listener."""
        if self.host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(value: str) -> Address:
    """Parse ``HOST:PORT``, ``:PORT`` (loopback) or ``[V6]:PORT``; raise :class:`UsageError`."""
    raw = value.strip()
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise UsageError(f"--addr {value!r}: expected HOST:PORT, e.g. {DEFAULT_ADDR}")
        port_text = rest[1:]
    else:
        host, sep, port_text = raw.rpartition(":")
        if not sep:
            raise UsageError(f"--addr {value!r}: expected HOST:PORT, e.g. {DEFAULT_ADDR}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--addr {value!r}: port must be a number from 0 to 65535")
    return Address(host or "127.0.0.1", int(port_text))
