"""A small HTTP/1.1 client for the engine's short JSON calls, on the standard library only.

Listing, inspecting and tagging images are what a run that changes nothing asks of the engine;
loading docker-py (and with it requests and urllib3) for them costs more than the calls. This
client speaks to a ``unix://`` socket, or to a ``tcp://`` address without TLS and without a proxy
in the environment; every other endpoint (TLS, ``ssh://``, a proxy) is left to docker-py, which
is also used for the streaming calls (build, push, pull, save, load, import).

Failures are left as they happen, for ``translate`` to sort: ``ConnectFailed`` when no
connection could be opened, ``HTTPError`` when the engine answered with an error status, the
socket's own ``OSError`` or ``http.client.HTTPException`` when a connection broke half-way.
"""
from __future__ import annotations

import os
import select
import socket
import threading
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit

# docker-py honours these for tcp:// endpoints (through requests); such endpoints are left to it.
_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
# Idle keep-alive connections kept for reuse; more threads than this just open their own.
_MAX_IDLE = 8


class ConnectFailed(Exception):
    """No connection to the engine could be opened. The socket's error is ``__cause__``."""

    def __init__(self, url: str, error: OSError):
        super().__init__(f"cannot connect to {url}: {error}")
        self.error = error
        self.timed_out = isinstance(error, socket.timeout)


class HTTPError(Exception):
    """The engine answered with an error status. ``explanation`` is its ``message`` field (or
    the body's text when the body is not the engine's JSON error)."""

    def __init__(self, method: str, target: str, status: int, reason: str, explanation: str):
        kind = "Server Error" if status >= 500 else "Client Error" if status >= 400 else "Redirect"
        text = f"{status} {kind} for {method} {target}: {reason}"
        super().__init__(f'{text} ("{explanation}")' if explanation else text)
        self.status = status
        self.reason = reason
        self.explanation = explanation


def quote_path(name: str) -> str:
    """``name`` made safe for a URL path segment, as docker-py quotes it (``/`` and ``:`` kept)."""
    return quote(name, safe="/:")


class Client:
    """Short requests to one engine, over a small pool of keep-alive connections.

    Safe to share between threads: a connection is held by one request at a time. Create with
    ``for_endpoint``, which says None for endpoints this client does not handle.
    """

    def __init__(self, url: str, *, unix_path: Optional[str] = None,
                 address: Optional[Tuple[str, int]] = None, base_path: str = "",
                 timeout: float, connect_timeout: float,
                 headers: Optional[Mapping[str, str]] = None):
        self.url = url
        self.api_version: Optional[str] = None
        self._unix_path = unix_path
        self._address = address
        self._base_path = base_path
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._headers = dict(headers or {})
        self._idle: List[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def for_endpoint(cls, url: str, *, tls: Any, timeout: float, connect_timeout: float,
                     headers: Optional[Mapping[str, str]] = None,
                     environ: Optional[Mapping[str, str]] = None) -> "Optional[Client]":
        """A client for ``url``, or None when docker-py has to handle it (TLS, ``ssh://``, a
        proxy, or an address this parser does not take, whose error docker-py words)."""
        environ = os.environ if environ is None else environ
        if tls:
            return None
        text = url.strip()
        options = dict(timeout=timeout, connect_timeout=connect_timeout, headers=headers)
        if text.startswith("unix://"):
            path = text[len("unix://"):]
            if not path.strip("/"):
                return None
            # ``unix://run/docker.sock`` means ``/run/docker.sock`` (docker-py and the CLI agree)
            return cls(url, unix_path="/" + path.lstrip("/"), **options)
        if text.startswith(("tcp://", "http://")):
            if any(environ.get(name) for name in _PROXY_VARIABLES):
                return None
            try:
                parts = urlsplit(text)
                port = parts.port
            except ValueError:
                return None
            if (not parts.netloc or not port or parts.query or parts.fragment or parts.password
                    or ";" in parts.path):
                return None
            host = parts.hostname or "127.0.0.1"
            return cls(url, address=(host, port), base_path=parts.path.rstrip("/"), **options)
        return None

    # -- requests ---------------------------------------------------------------------------

    def request(self, method: str, path: str, params: Optional[Mapping[str, Any]] = None, *,
                versioned: bool = True) -> bytes:
        """Send one request and return the body of a 2xx answer; any other answer raises
        ``HTTPError``.

        ``path`` is already quoted (see ``quote_path``); ``versioned`` puts the negotiated API
        version in front of it. ``params`` with a None value are left out; others are sent as
        ``str(value)``, as requests (and so docker-py) sends them.
        """
        target = self._base_path
        if versioned and self.api_version:
            target += f"/v{self.api_version}"
        target += path
        if params:
            query = urlencode([(key, str(value)) for key, value in params.items()
                               if value is not None])
            if query:
                target += "?" + query
        status, reason, body = self._exchange(method, target)
        if status >= 300:  # the short calls are never redirected; a 3xx means a malformed path
            raise HTTPError(method, target, status, reason, _explanation(body))
        return body

    def _exchange(self, method: str, target: str) -> Tuple[int, str, bytes]:
        import http.client

        headers = dict(self._headers)  # http.client adds Content-Length: 0 to a bodiless POST
        for attempt in (1, 2):
            connection, reused = self._take()
            try:
                connection.request(method, target, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                # The engine closed a kept-alive connection just as it was reused (``_take``
                # drops the ones it closed earlier). The request most likely never reached it:
                # send it again, unless repeating it could change the answer (a DELETE).
                if reused and attempt == 1 and method != "DELETE":
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            if response.will_close:
                connection.close()
            else:
                self._give_back(connection)
            return response.status, response.reason, body
        raise AssertionError("unreachable")

    # -- connections ------------------------------------------------------------------------

    def _take(self) -> Tuple[Any, bool]:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if not _dropped(connection):
                return connection, True
            connection.close()
        connection = self._new_connection()
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise ConnectFailed(self.url, exc) from exc
        return connection, False

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < _MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def _new_connection(self) -> Any:
        if self._unix_path is not None:
            return _unix_connection_class()(self._unix_path, self._timeout, self._connect_timeout)
        host, port = self._address  # type: ignore[misc]
        return _tcp_connection_class()(host, port, self._timeout, self._connect_timeout)

    def close(self) -> None:
        """Close the idle connections. Requests made later still work, on connections of
        their own."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for connection in idle:
            connection.close()


def _dropped(connection: Any) -> bool:
    """Whether an idle connection was closed by the engine: an idle socket that is readable
    has reached its end (the engine sends nothing unasked). urllib3 checks the same way."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _explanation(body: bytes) -> str:
    # docker-py's rule: the JSON body's ``message``, else the body as text.
    import json

    text = body.decode("utf-8", "replace")
    try:
        decoded = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(decoded, dict) and decoded.get("message") is not None:
        return str(decoded["message"])
    return text.strip()


# http.client (and email, which it loads) is only imported when a connection is made, so that
# importing the engine layer stays cheap; the connection classes are made then, once.
_classes: Dict[str, type] = {}


def _unix_connection_class() -> type:
    if "unix" not in _classes:
        import http.client

        class UnixHTTPConnection(http.client.HTTPConnection):
            """HTTP over the engine's unix socket; the Host header says ``localhost``."""

            def __init__(self, path: str, timeout: float, connect_timeout: float):
                super().__init__("localhost", timeout=timeout)
                self._socket_path = path
                self._connect_timeout = connect_timeout

            def connect(self) -> None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self._connect_timeout)
                    sock.connect(self._socket_path)
                    sock.settimeout(self.timeout)
                except BaseException:
                    sock.close()
                    raise
                self.sock = sock

        _classes["unix"] = UnixHTTPConnection
    return _classes["unix"]


def _tcp_connection_class() -> type:
    if "tcp" not in _classes:
        import http.client

        class TCPHTTPConnection(http.client.HTTPConnection):
            """Plain HTTP over TCP, with a connect timeout shorter than the read timeout."""

            def __init__(self, host: str, port: int, timeout: float, connect_timeout: float):
                super().__init__(host, port, timeout=timeout)
                self._connect_timeout = connect_timeout

            def connect(self) -> None:
                sock = socket.create_connection((self.host, self.port), self._connect_timeout)
                try:
                    sock.settimeout(self.timeout)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except BaseException:
                    sock.close()
                    raise
                self.sock = sock

        _classes["tcp"] = TCPHTTPConnection
    return _classes["tcp"]
