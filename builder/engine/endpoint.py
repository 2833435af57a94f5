"""Where the Docker engine is, found the way the docker CLI finds it.

Order: an explicit host, then ``DOCKER_HOST``, then the docker context named by
``DOCKER_CONTEXT`` or by ``currentContext`` in the docker config file, then the default socket.
``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` apply to an explicit host and to ``DOCKER_HOST``,
as they do for the CLI; a context carries its own TLS material.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

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
    """Find the engine's address without contacting it. Reads only small JSON files; docker-py
    is loaded only when TLS is configured (its ``TLSConfig`` is what the TLS transport takes)."""
    environ = os.environ if environ is None else environ
    if host:
        return Endpoint(host, _tls_from_env(host, environ), "argument")
    if environ.get("DOCKER_HOST"):
        url = environ["DOCKER_HOST"]
        return Endpoint(url, _tls_from_env(url, environ), "DOCKER_HOST")

    context_name, origin = _context_name(environ)
    if context_name and context_name != "default":
        try:
            context = _load_context(str(context_name), environ)
        except _ContextError as exc:
            raise EngineUnavailable(
                f"cannot read docker context {context_name!r} ({origin}): {exc}; "
                "fix it with `docker context inspect`, or set DOCKER_HOST") from None
        if context is None:
            raise EngineUnavailable(
                f"docker context {context_name!r} ({origin}) does not exist; "
                "pick one from `docker context ls`, or set DOCKER_HOST") from None
        url, tls = context
        return Endpoint(url or DEFAULT_HOST, tls, f"docker context {context_name!r}")
    return Endpoint(DEFAULT_HOST, None, "default")


def config_file(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The docker config file in use, found as docker-py finds it: ``$DOCKER_CONFIG/config.json``,
    then ``~/.docker/config.json``, then the legacy ``~/.dockercfg``; the first that exists."""
    environ = os.environ if environ is None else environ
    home = os.path.expanduser("~")
    candidates = [os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]
    if environ.get("DOCKER_CONFIG"):
        candidates.insert(0, os.path.join(environ["DOCKER_CONFIG"], "config.json"))
    for path in candidates:
        if os.path.exists(path):
            return path
    return None


def load_config(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The docker config file's settings, or ``{}`` when there is none or it cannot be read."""
    path = config_file(environ)
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _tls_from_env(url: str, environ: Mapping[str, str]) -> Any:
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
    from docker.errors import DockerException
    from docker.utils import kwargs_from_env

    try:
        return kwargs_from_env(environment=dict(environ)).get("tls")
    except DockerException as exc:
        raise EngineUnavailable(
            f"cannot use TLS for the Docker engine at {url}: {exc}; "
            "check DOCKER_CERT_PATH and DOCKER_TLS_VERIFY") from None


def _context_name(environ: Mapping[str, str]) -> "tuple[Optional[str], str]":
    if environ.get("DOCKER_CONTEXT"):
        return environ["DOCKER_CONTEXT"], "from DOCKER_CONTEXT"
    return (load_config(environ).get("currentContext", "default"),
            "the current context in the docker config file")


class _ContextError(Exception):
    """A docker context's files exist but cannot be used."""


def _load_context(name: str, environ: Mapping[str, str]) -> "Optional[Tuple[Optional[str], Any]]":
    """(host, TLS config) of the docker context ``name``, or None when there is no such context.

    The layout is the docker CLI's: ``<config dir>/contexts/meta/<sha256 of name>/meta.json``
    holds the endpoints, ``<config dir>/contexts/tls/<sha256 of name>/<endpoint>/`` the TLS
    files. Defaults follow docker-py's ``Context``: a docker endpoint without ``Host`` is the
    default socket, and without ``SkipTLSVerify`` skips verification.
    """
    found = config_file(environ)
    # docker-py takes the folder of the config file it found, or the working directory when it
    # found none; the CLI takes its config folder either way, which is what is done here then.
    folder = (os.path.dirname(found) if found
              else environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker"))
    import hashlib  # loads OpenSSL: only paid when a context is in use

    context_id = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_file = os.path.join(folder, "contexts", "meta", context_id, "meta.json")
    if not os.path.isfile(meta_file):
        return None
    try:
        with open(meta_file, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError) as exc:
        raise _ContextError(f"corrupted meta file {meta_file}: {exc}") from None
    endpoints = meta.get("Endpoints") if isinstance(meta, dict) else None
    metadata = meta.get("Metadata") if isinstance(meta, dict) else None
    if not isinstance(endpoints, dict) or not isinstance(metadata, dict) or "Name" not in meta:
        raise _ContextError(f"corrupted meta file {meta_file}: expected Name, Metadata and "
                            "Endpoints")
    for key, value in endpoints.items():
        if not isinstance(value, dict):
            raise _ContextError(f"unknown endpoint format for context {name}: {value}")
    orchestrator = metadata.get("StackOrchestrator")
    key = "docker" if not orchestrator or orchestrator == "swarm" else str(orchestrator)
    endpoint = endpoints.get(key)
    if endpoint is None and key != "docker":
        raise _ContextError(f"the context has no {key!r} endpoint")
    endpoint = endpoint or {}
    url = endpoint.get("Host", DEFAULT_HOST) if key == "docker" else endpoint.get("Host")
    skip_verify = bool(endpoint.get("SkipTLSVerify", True)) if key == "docker" else True
    tls_dir = os.path.join(folder, "contexts", "tls", context_id, key)
    return url, _context_tls(tls_dir, verify=not skip_verify)


def _context_tls(tls_dir: str, verify: bool) -> Any:
    """docker-py's ``TLSConfig`` for a context's TLS folder, or None when it holds no complete
    set (a ``ca*``, a ``cert*`` and a ``key*`` file)."""
    if not os.path.isdir(tls_dir):
        return None
    files: Dict[str, str] = {}
    for filename in sorted(os.listdir(tls_dir)):
        for prefix in ("ca", "cert", "key"):
            if filename.startswith(prefix):
                files[prefix] = os.path.join(tls_dir, filename)
                break
    if len(files) < 3:
        return None
    from docker.tls import TLSConfig

    try:
        return TLSConfig(client_cert=(files["cert"], files["key"]), ca_cert=files["ca"],
                         verify=True if verify else None)
    except Exception as exc:  # noqa: BLE001 - docker-py's TLSParameterError and kin
        raise _ContextError(f"cannot use its TLS files in {tls_dir}: {exc}") from None
