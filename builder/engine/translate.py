"""docker-py, requests and transport errors, turned into our typed errors at the engine boundary.

docker-py, requests, urllib3 and ssl are looked up in ``sys.modules`` instead of imported: an
exception cannot be an instance of a class whose module was never loaded, and the short calls
(through ``builder.engine.http``) never load them.
"""
from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any, Iterator, Optional

from builder.engine.http import ConnectFailed, HTTPError
from builder.errors import EngineError, EngineUnavailable, ImagesError

HINT = "start dockerd or set DOCKER_HOST"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: ``__cause__``, ``__context__``, urllib3's ``reason``, and
    exceptions passed as arguments (urllib3 hides the socket error in ``ProtocolError.args``)."""
    pending = [exc]
    seen = set()
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        pending.extend([current.__cause__, current.__context__])


def unreachable_reason(exc: BaseException) -> Optional[str]:
    """A short phrase when ``exc`` means no engine could be reached at all, else None."""
    ssl = sys.modules.get("ssl")
    urllib3_errors = sys.modules.get("urllib3.exceptions")
    chain = list(causes(exc))
    # The socket-level error is the most precise; urllib3's wrappers come first in the chain
    # (and its NewConnectionError even subclasses ConnectTimeoutError), so look for it first.
    for cause in chain:
        if isinstance(cause, FileNotFoundError):
            return "the socket does not exist"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, PermissionError):
            return "permission denied (run as root or add your user to the docker group)"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        if ssl is not None and isinstance(cause, ssl.SSLError):
            detail = cause.reason or cause.__class__.__name__
            return f"TLS handshake failed ({detail}; check DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)"
    for cause in chain:
        if isinstance(cause, ConnectFailed):
            return "timed out while connecting" if cause.timed_out else str(cause.error)
        if urllib3_errors is None:
            continue
        if (isinstance(cause, urllib3_errors.ConnectTimeoutError)
                and not isinstance(cause, urllib3_errors.NewConnectionError)):
            return "timed out while connecting"
        if isinstance(cause, urllib3_errors.NewConnectionError):
            return "cannot connect"
    return None


def api_message(exc: BaseException) -> str:
    """The engine's own words for an API error, without docker-py's URL and status preamble."""
    if isinstance(exc, HTTPError):
        return exc.explanation.strip() or f"{exc.status} {exc.reason}"
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    if explanation:
        return str(explanation).strip()
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "reason", None):
        return f"{response.status_code} {response.reason}"
    return str(exc)


def status_code(exc: Optional[BaseException]) -> Optional[int]:
    """The HTTP status of an engine's error answer (ours or docker-py's), else None."""
    if isinstance(exc, HTTPError):
        return exc.status
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def translate(exc: BaseException, *, endpoint: str, action: str) -> Optional[ImagesError]:
    """Our error for ``exc``, or None when ``exc`` is not an engine or transport failure.

    ``action`` says what was being done ("tagging abc as x:y") and starts the message.
    """
    docker_errors = sys.modules.get("docker.errors")
    requests_errors = sys.modules.get("requests.exceptions")
    urllib3_errors = sys.modules.get("urllib3.exceptions")
    http_client = sys.modules.get("http.client")

    if isinstance(exc, ImagesError):
        return exc
    if isinstance(exc, HTTPError) or _is(exc, docker_errors, "APIError"):
        return EngineError(f"{action}: {api_message(exc)}")
    reason = unreachable_reason(exc)
    if reason is not None:
        return EngineUnavailable(f"cannot reach the Docker engine at {endpoint}: {reason}; {HINT}")
    if (isinstance(exc, socket.timeout) or _is(exc, requests_errors, "ReadTimeout")
            or _is(exc, urllib3_errors, "ReadTimeoutError")):
        return EngineError(f"{action}: the Docker engine at {endpoint} did not answer in time")
    if (isinstance(exc, ConnectionError) or _is(exc, requests_errors, "RequestException")
            or _is(exc, urllib3_errors, "HTTPError") or _is(exc, http_client, "HTTPException")):
        return EngineError(f"{action}: lost the connection to the Docker engine at {endpoint} "
                           f"({_short(exc)})")
    if _is(exc, docker_errors, "DockerException"):
        return EngineError(f"{action}: {exc}")
    return None


def _is(exc: BaseException, module: Any, name: str) -> bool:
    """``isinstance(exc, module.name)`` for a module that may not be loaded (then it is False)."""
    return module is not None and isinstance(exc, getattr(module, name))


@contextlib.contextmanager
def engine_errors(endpoint: str, action: str) -> Iterator[None]:
    """Run a block, turning engine and transport failures into our typed errors."""
    try:
        yield
    except ImagesError:
        raise
    except Exception as exc:
        ours = translate(exc, endpoint=endpoint, action=action)
        if ours is None:
            raise
        raise ours from exc


def _short(exc: BaseException) -> str:
    """The innermost readable message of a transport error."""
    innermost = exc
    for cause in causes(exc):
        innermost = cause
    text = str(innermost) or innermost.__class__.__name__
    return text if len(text) <= 200 else text[:197] + "..."
