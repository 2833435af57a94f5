"""Docker image reference grammar (distribution/reference), validation and normalisation.

The grammar, as ``reference.ParseNormalizedNamed`` applies it:

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] component ( "/" component )*      at most 255 characters
    domain     := host [ ":" port ]     host: DNS labels joined by '.', or an [IPv6] literal
    component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex     sha256/64, sha384/96, sha512/128 lowercase hex digits

The first '/'-separated part is a registry host only when it contains '.' or ':', is
``localhost``, or has an upper-case letter; otherwise the name lives on Docker Hub, where a
single component gets ``library/`` in front.
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN_COMPONENT_RE = re.compile(r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\Z")
_IPV6_RE = re.compile(r"^\[[a-fA-F0-9:]+\]\Z")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}\Z")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

DEFAULT_DOMAIN = "docker.io"
NAME_MAX = 255


def _is_domain(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost" or part != part.lower()


def validate_tag(tag: str) -> Optional[str]:
    """None when ``tag`` is a valid tag, else a message saying what is wrong."""
    if _TAG_RE.match(tag):
        return None
    if len(tag) > 128:
        return f"tag {tag!r} is longer than 128 characters"
    return (f"invalid tag {tag!r}: a tag is up to 128 letters, digits, '_', '.' and '-', "
            "and cannot start with '.' or '-'")


def _validate_domain(domain: str) -> Optional[str]:
    if domain.startswith("["):
        host, _, rest = domain.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            return f"invalid registry host {domain!r}"
        if not _IPV6_RE.match(host):
            return f"invalid registry host {host!r}"
    else:
        host, colon, port = domain.partition(":")
        if not colon:
            port = None
        if not host or not all(_DOMAIN_COMPONENT_RE.match(p) for p in host.split(".")):
            return f"invalid registry host {host!r}"
    if port is not None and not (port.isascii() and port.isdigit()):
        return f"invalid registry port {port!r}"
    return None


def validate_repository(name: str) -> Optional[str]:
    """None when ``name`` is a valid repository (``name``, ``user/name``, ``host:port/user/name``)."""
    if not name:
        return "repository name is empty"
    if len(name) > NAME_MAX:
        return f"repository name {name!r} is longer than {NAME_MAX} characters"
    if _HEX64_RE.match(name):
        return f"invalid repository {name!r}: a 64-character hexadecimal name is reserved for image IDs"
    parts = name.split("/")
    if len(parts) > 1 and _is_domain(parts[0]):
        problem = _validate_domain(parts[0])
        if problem:
            return f"invalid repository {name!r}: {problem}"
        parts = parts[1:]
    for part in parts:
        if not _COMPONENT_RE.match(part):
            if part.lower() != part and _COMPONENT_RE.match(part.lower()):
                return f"invalid repository {name!r}: repository names must be lowercase"
            return (f"invalid repository {name!r}: each '/'-separated part must be lowercase letters and "
                    "digits, separated by '.', '_', '__' or '-'")
    return None


def validate_digest(digest: str) -> Optional[str]:
    """None when ``digest`` is ``algorithm:hex`` with a known algorithm and the right length."""
    if not _DIGEST_RE.match(digest):
        return f"invalid digest {digest!r}: expected algorithm:hex, such as sha256:<64 hex digits>"
    algorithm, _, hexpart = digest.partition(":")
    length = _DIGEST_LENGTHS.get(algorithm)
    if length is None:
        return f"invalid digest {digest!r}: unsupported algorithm {algorithm!r}"
    if len(hexpart) != length or hexpart != hexpart.lower():
        return f"invalid digest {digest!r}: {algorithm} needs {length} lowercase hex digits"
    return None


def validate_reference(ref: str) -> Optional[str]:
    """None when ``ref`` (``name[:tag][@digest]``) is a reference the engine accepts."""
    if not ref:
        return "invalid reference format: the reference is empty"
    repository, tag, digest = split(ref)
    problem = validate_repository(repository)
    if problem:
        return f"invalid reference format: {problem}"
    if tag is not None:
        problem = validate_tag(tag)
        if problem:
            return f"invalid reference format: {problem}"
    if digest is not None:
        problem = validate_digest(digest)
        if problem:
            return f"invalid reference format: {problem}"
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
    """``acme/base`` -> ``docker.io/acme/base``; ``base`` -> ``docker.io/library/base``."""
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


def familiar(ref: str) -> str:
    """The short form the docker CLI prints: ``docker.io/library/base:latest`` -> ``base:latest``."""
    full = normalize(ref)
    if full.startswith(DEFAULT_DOMAIN + "/"):
        full = full[len(DEFAULT_DOMAIN) + 1:]
        if full.startswith("library/") and "/" not in full[len("library/"):].split(":")[0].split("@")[0]:
            full = full[len("library/"):]
    return full
