"""Where the Docker engine is, found the way the docker CLI finds it.

Order: an explicit host, then ``DOCKER_HOST``, then the docker context named by
``DOCKER_CONTEXT`` or by ``currentContext`` in the docker config file, then the default socket.
``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` apply to an explicit host and to ``DOCKER_HOST``,
as they do for the CLI; a context carries its own TLS material.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from builder.errors import EngineUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"
_HINT = "start dockerd or set DOCKER_HOST"


@dataclass(frozen=True)
class Endpoint:
    """A resolved engine address.

    ``url`` is what users see in messages (``unix:///var/run/docker.sock``, ``tcp://host:2376``);
    ``tls`` is a ``docker.tls.TLSConfig`` or None; ``source`` says where the address came from.
    """

    url: str
    tls: Any
    source: str


def resolve(host: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> Endpoint:
    """Find the engine's address without contacting it."""
    environ = os.environ if environ is None else environ
    if host:
        return Endpoint(host, _tls_from_env(host, environ), "argument")
    if environ.get("DOCKER_HOST"):
        url = environ["DOCKER_HOST"]
        return Endpoint(url, _tls_from_env(url, environ), "DOCKER_HOST")

    context_name, origin = _context_name(environ)
    if context_name and context_name != "default":
        from docker.context import ContextAPI

        try:
            context = ContextAPI.get_context(context_name)
        except Exception as exc:  # docker-py raises a bare Exception for a corrupt context file
            raise EngineUnavailable(
                f"cannot read docker context {context_name!r} ({origin}): {exc}; "
                "fix it with `docker context inspect`, or set DOCKER_HOST") from None
        if context is None:
            raise EngineUnavailable(
                f"docker context {context_name!r} ({origin}) does not exist; "
                "pick one from `docker context ls`, or set DOCKER_HOST") from None
        url = context.Host or DEFAULT_HOST
        return Endpoint(url, context.TLSConfig or None, f"docker context {context_name!r}")
    return Endpoint(DEFAULT_HOST, None, "default")


def _tls_from_env(url: str, environ: Mapping[str, str]) -> Any:
    from docker.errors import DockerException
    from docker.utils import kwargs_from_env

    # The docker CLI's rule, which kwargs_from_env follows: TLS is on when DOCKER_CERT_PATH is
    # set or DOCKER_TLS_VERIFY is set to anything but the empty string. (kwargs_from_env itself
    # is only called when it applies: handed an empty mapping it reads os.environ instead.)
    verify = environ.get("DOCKER_TLS_VERIFY") not in (None, "")
    if not (verify or environ.get("DOCKER_CERT_PATH")):
        return None
    cert_path = environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    needed = ("ca.pem", "cert.pem", "key.pem") if verify else ("cert.pem", "key.pem")
    missing = [name for name in needed if not os.path.isfile(os.path.join(cert_path, name))]
    if missing:
        raise EngineUnavailable(
            f"cannot use TLS for the Docker engine at {url}: {', '.join(missing)} not found in "
            f"{cert_path}; check DOCKER_CERT_PATH and DOCKER_TLS_VERIFY")
    try:
        return kwargs_from_env(environment=dict(environ)).get("tls")
    except DockerException as exc:
        raise EngineUnavailable(
            f"cannot use TLS for the Docker engine at {url}: {exc}; "
            "check DOCKER_CERT_PATH and DOCKER_TLS_VERIFY") from None


def _context_name(environ: Mapping[str, str]) -> "tuple[Optional[str], str]":
    if environ.get("DOCKER_CONTEXT"):
        return environ["DOCKER_CONTEXT"], "from DOCKER_CONTEXT"
    from docker.context.config import get_current_context_name

    return get_current_context_name(), "the current context in the docker config file"
