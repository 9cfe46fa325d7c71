"""Blocking the network at the socket level, for tests that must not reach a real server.

``blocked_network(allowed_hosts)`` patches, for a ``with`` block, name resolution
(``socket.getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``) and ``socket.socket.connect`` /
``connect_ex`` of IPv4 and IPv6 sockets (asyncio and anyio connect through these too). A host not
in ``allowed_hosts`` raises ``NetworkBlocked`` naming it, at resolution when there is a name,
else at connect. Loopback is blocked like any other address unless it is listed: a test that
forgets to start its cassette must not quietly reach a local server either. An allowed name
allows the addresses it resolves to. Unix sockets and socket pairs are never blocked.

``NetworkBlocked`` is not an ``OSError``: HTTP clients map an ``OSError`` at connect into a
connection error that SDKs retry (with back-off) and then wrap; this one reaches the test as it is.
A caller that wants another error (the conformance suite records each attempt and lets the
library see a refused connection) passes ``refuse``.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..adapters.errors import StreamproofError

_INET_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class NetworkBlocked(StreamproofError):  # type: ignore[misc,unused-ignore]
    """A connection (or a name lookup) to a host the test may not reach."""

    def __init__(self, host: str, port: object = None) -> None:
        self.host = host
        where = f"{host}:{port}" if port not in (None, 0, "") else host
        super().__init__(
            f"streamproof blocked a network connection to {where}: the network is blocked in this test "
            f"(record mode 'none' or --block-network); allow it with --allowed-hosts={host}"
        )


def _normal(host: object) -> str:
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    text = text.strip("[]").lower().rstrip(".")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).compressed
    except ValueError:
        return text


Refusal = Callable[[str, object, str], BaseException]
"""What a refused attempt raises, built from (host, port or None, ``"resolve"`` or ``"connect"``)."""


def _blocked(host: str, port: object, attempt: str) -> BaseException:
    return NetworkBlocked(host, port)


class _Policy:
    """The allowed hosts, and the addresses their names resolved to while the block is on."""

    def __init__(self, allowed_hosts: Iterable[str], refuse: Refusal) -> None:
        self.refuse = refuse
        self.names = {_normal(host) for host in allowed_hosts if host.strip()}
        self.addresses: set[str] = set()
        self._lock = threading.Lock()

    def allows(self, host: object) -> bool:
        normal = _normal(host)
        with self._lock:
            return normal in self.names or normal in self.addresses

    def resolved(self, infos: list[Any]) -> None:
        with self._lock:
            self.addresses.update(_normal(info[4][0]) for info in infos)


_active: list[_Policy] = []  # innermost last; the patches are installed while this is not empty
_originals: dict[str, Any] = {}
_install_lock = threading.Lock()


def _policy() -> _Policy | None:
    return _active[-1] if _active else None


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    policy = _policy()
    if policy is not None and host is not None and not policy.allows(host):
        raise policy.refuse(_normal(host), port, "resolve")
    infos = _originals["getaddrinfo"](host, port, *args, **kwargs)
    if policy is not None:
        policy.resolved(infos)
    return infos


def _gethostbyname(host: str) -> str:
    policy = _policy()
    if policy is not None and not policy.allows(host):
        raise policy.refuse(_normal(host), None, "resolve")
    address: str = _originals["gethostbyname"](host)
    if policy is not None:
        policy.addresses.add(_normal(address))
    return address


def _gethostbyname_ex(host: str) -> Any:
    policy = _policy()
    if policy is not None and not policy.allows(host):
        raise policy.refuse(_normal(host), None, "resolve")
    result = _originals["gethostbyname_ex"](host)
    if policy is not None:
        policy.addresses.update(_normal(address) for address in result[2])
    return result


def _check_connect(sock: socket.socket, address: Any) -> None:
    policy = _policy()
    if policy is None or sock.family not in _INET_FAMILIES or not isinstance(address, tuple):
        return
    if not policy.allows(address[0]):
        raise policy.refuse(_normal(address[0]), address[1] if len(address) > 1 else None, "connect")


def _connect(sock: socket.socket, address: Any) -> None:
    _check_connect(sock, address)
    _originals["connect"](sock, address)


def _connect_ex(sock: socket.socket, address: Any) -> int:
    _check_connect(sock, address)
    result: int = _originals["connect_ex"](sock, address)
    return result


_PATCHES: dict[str, tuple[Any, str, Any]] = {
    "getaddrinfo": (socket, "getaddrinfo", _getaddrinfo),
    "gethostbyname": (socket, "gethostbyname", _gethostbyname),
    "gethostbyname_ex": (socket, "gethostbyname_ex", _gethostbyname_ex),
    "connect": (socket.socket, "connect", _connect),
    "connect_ex": (socket.socket, "connect_ex", _connect_ex),
}


@contextmanager
def blocked_network(allowed_hosts: Iterable[str] = (), refuse: Refusal = _blocked) -> Iterator[None]:
    """No connection to any host but ``allowed_hosts`` (names or addresses) inside the block; a
    refused attempt raises what ``refuse`` builds (``NetworkBlocked`` by default)."""
    policy = _Policy(allowed_hosts, refuse)
    with _install_lock:
        if not _active:
            for name, (owner, attribute, replacement) in _PATCHES.items():
                _originals[name] = getattr(owner, attribute)
                setattr(owner, attribute, replacement)
        _active.append(policy)
    try:
        yield
    finally:
        with _install_lock:
            _active.remove(policy)
            if not _active:
                for name, (owner, attribute, _) in _PATCHES.items():
                    setattr(owner, attribute, _originals.pop(name))
