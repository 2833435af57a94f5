"""Docker image reference grammar (distribution/reference), validation and normalisation."""
from __future__ import annotations

import re
from typing import Optional, Tuple

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN_COMPONENT_RE = re.compile(r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")

DEFAULT_DOMAIN = "docker.io"


def _is_domain(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost" or part != part.lower()


def validate_tag(tag: str) -> Optional[str]:
    if _TAG_RE.match(tag):
        return None
    if len(tag) > 128:
        return f"tag {tag!r} is longer than 128 characters"
    return (f"invalid tag {tag!r}: a tag is up to 128 letters, digits, '_', '.' and '-', "
            "and cannot start with '.' or '-'")


def _validate_domain(domain: str) -> Optional[str]:
    host, _, port = domain.partition(":")
    if port and not port.isdigit():
        return f"invalid registry port {port!r}"
    if host.startswith("[") and host.endswith("]"):
        return None
    if not all(_DOMAIN_COMPONENT_RE.match(p) for p in host.split(".")):
        return f"invalid registry host {host!r}"
    return None


def validate_repository(name: str) -> Optional[str]:
    if not name:
        return "repository name is empty"
    if len(name) > 255:
        return f"repository name {name!r} is longer than 255 characters"
    parts = name.split("/")
    if len(parts) > 1 and _is_domain(parts[0]):
        problem = _validate_domain(parts[0])
        if problem:
            return f"invalid repository {name!r}: {problem}"
        parts = parts[1:]
    for part in parts:
        if not _COMPONENT_RE.match(part):
            return (f"invalid repository {name!r}: each '/'-separated part must be lowercase letters and "
                    "digits, separated by '.', '_', '__' or '-'")
    return None


def split(ref: str) -> Tuple[str, Optional[str], Optional[str]]:
    """``host/repo:tag@digest`` -> (``host/repo``, tag or None, digest or None)."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
    return ref, tag, digest


def normalize_repository(repository: str) -> str:
    parts = repository.split("/", 1)
    if len(parts) == 1 or not _is_domain(parts[0]):
        domain, rest = DEFAULT_DOMAIN, repository
    else:
        domain, rest = parts[0], parts[1]
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = "library/" + rest
    return f"{domain}/{rest}"


def normalize(ref: str) -> str:
    """Full form of a reference: ``acme/base`` -> ``docker.io/acme/base:latest``.

    A reference with a digest keeps the digest (and its tag, if any) and gets no default tag.
    """
    repository, tag, digest = split(ref)
    full = normalize_repository(repository)
    if tag is None and digest is None:
        tag = "latest"
    if tag is not None:
        full += f":{tag}"
    if digest is not None:
        full += f"@{digest}"
    return full
