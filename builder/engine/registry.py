"""The Registry HTTP API v2, for the little a build asks of a registry itself.

Two things go past the engine: reading the image config behind a tag without pulling the image
(its ``images.cache-key`` label says whether the registry already holds a build of the same
inputs), and giving a manifest the registry already holds one more tag (a PUT of the same bytes,
so a retag uploads nothing). Everything else (push, pull) stays with the engine.

Standard library only. HTTPS by default; plain HTTP for loopback hosts, and HTTPS without
certificate checks then plain HTTP for registries the engine lists as insecure, as the engine
itself does. Authentication: anonymous first, then what the registry's ``WWW-Authenticate``
challenge asks for (a Bearer token from its token service, or Basic), with the credentials of the
docker config file (``auths``) or of its credential helpers (``credsStore``, ``credHelpers``).
Credentials never appear in a message or a log.

A registry that is down must not make a plan slow: the first request to a host is a short
``GET /v2/``; a host that cannot be reached is marked down and no further look-up goes to it for
the life of the client.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import urlencode, urljoin, urlsplit

from builder import __version__, refs
from builder.errors import EngineError

log = logging.getLogger(__name__)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join(MANIFEST_TYPES + INDEX_TYPES)

HUB_DOMAIN = "docker.io"
HUB_API_HOST = "registry-1.docker.io"
#: The key the docker CLI files Docker Hub's credentials under.
HUB_AUTH_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

#: The first request to a host: a registry that does not answer this fast is treated as down.
PING_TIMEOUT_S = 3.0
#: Every other request (manifests and image configs are a few kilobytes).
REQUEST_TIMEOUT_S = 15.0
#: Look-ups in flight at once.
MAX_LOOKUPS = 8
#: A credential helper that takes longer than this is given up (it may be waiting for a prompt).
HELPER_TIMEOUT_S = 10.0
_MAX_REDIRECTS = 5
_MAX_BODY = 16 << 20   # manifests and image configs are small; refuse anything absurd


class RegistryError(EngineError):
    """A registry answered, but not with what was asked (denied, unknown answer, bad data)."""


class RegistryUnavailable(RegistryError):
    """No connection to a registry could be made."""

    def __init__(self, message: str, host: str, reason: str):
        super().__init__(message)
        self.host = host
        self.reason = reason


# -- references -----------------------------------------------------------------------------

def locate(reference: str) -> Tuple[str, str, Optional[str], Optional[str]]:
    """``host/name:tag@digest`` -> (registry host, repository name in it, tag, digest).

    ``acme/base`` lives on Docker Hub as ``library``-less ``acme/base``; ``base`` as
    ``library/base``.
    """
    repository, tag, digest = refs.split(reference)
    domain, _, name = refs.normalize_repository(repository).partition("/")
    return domain, name, tag, digest


def api_host(domain: str) -> str:
    """The host that serves the API for ``domain`` (Docker Hub's API is not at docker.io)."""
    return HUB_API_HOST if domain == HUB_DOMAIN else domain


def _host_only(domain: str) -> str:
    """``[::1]:5000`` -> ``::1``; ``reg:5000`` -> ``reg``."""
    if domain.startswith("["):
        return domain[1:].split("]", 1)[0]
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def is_loopback(domain: str) -> bool:
    host = _host_only(domain)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- credentials ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    username: str
    secret: str = field(repr=False)
    #: The secret is an identity (refresh) token to trade at the token service, not a password.
    identity_token: bool = False

    def __repr__(self) -> str:  # never show the secret, whatever prints this object
        return f"Credentials(username={self.username!r}, secret=***)"


def _auth_key(domain: str) -> str:
    return HUB_AUTH_KEY if domain == HUB_DOMAIN else domain


def _key_host(key: str) -> str:
    """The docker CLI's ``ConvertToHostname``: the host part of an ``auths`` key."""
    text = key
    for scheme in ("http://", "https://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
            break
    return text.split("/", 1)[0]


class CredentialStore:
    """Credentials for a registry host, as the docker CLI finds them: the host's credential
    helper (``credHelpers``), else the default store (``credsStore``), else the config file's
    ``auths`` entry. None means anonymous. Looked up once per host."""

    def __init__(self, config: Optional[Mapping[str, Any]] = None,
                 run: Callable[..., Any] = subprocess.run):
        if config is None:
            from builder.engine.endpoint import load_config

            config = load_config()
        self._config = config if isinstance(config, Mapping) else {}
        self._run = run
        self._cache: Dict[str, Optional[Credentials]] = {}
        self._lock = threading.Lock()

    def get(self, domain: str) -> Optional[Credentials]:
        with self._lock:
            if domain not in self._cache:
                self._cache[domain] = self._find(domain)
            return self._cache[domain]

    def _find(self, domain: str) -> Optional[Credentials]:
        key = _auth_key(domain)
        helpers = self._config.get("credHelpers")
        helper = helpers.get(domain) if isinstance(helpers, Mapping) else None
        if helper is None and domain == HUB_DOMAIN and isinstance(helpers, Mapping):
            helper = helpers.get(HUB_AUTH_KEY)
        if helper is None:
            helper = self._config.get("credsStore")
        if isinstance(helper, str) and helper:
            found = self._from_helper(helper, key)
            if found is not None:
                return found
        return self._from_file(domain)

    def _from_file(self, domain: str) -> Optional[Credentials]:
        auths = self._config.get("auths")
        if not isinstance(auths, Mapping):
            return None
        wanted = _HUB_ALIASES if domain == HUB_DOMAIN else {domain}
        for key, entry in auths.items():
            if _key_host(str(key)) not in wanted or not isinstance(entry, Mapping):
                continue
            if entry.get("identitytoken"):
                return Credentials(str(entry.get("username") or ""), str(entry["identitytoken"]), True)
            if entry.get("auth"):
                try:
                    decoded = base64.b64decode(str(entry["auth"])).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    log.warning("the docker config's credentials for %s cannot be decoded; "
                                "asking anonymously", domain)
                    return None
                user, sep, password = decoded.partition(":")
                if sep:
                    return Credentials(user, password)
            if entry.get("username") and entry.get("password"):
                return Credentials(str(entry["username"]), str(entry["password"]))
        return None

    def _from_helper(self, helper: str, key: str) -> Optional[Credentials]:
        program = f"docker-credential-{helper}"
        try:
            done = self._run([program, "get"], input=key, capture_output=True, text=True,
                             timeout=HELPER_TIMEOUT_S)
        except FileNotFoundError:
            log.warning("credential helper %s not found; asking %s anonymously", program, key)
            return None
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("credential helper %s failed (%s); asking %s anonymously", program,
                        type(exc).__name__, key)
            return None
        if done.returncode != 0:
            return None  # "credentials not found in native keychain": anonymous
        try:
            answer = json.loads(done.stdout)
            username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
        except (ValueError, AttributeError):
            # Not the helper's JSON; its output is not repeated, since it may hold a secret.
            log.warning("credential helper %s gave an answer that is not JSON; asking %s "
                        "anonymously", program, key)
            return None
        if not secret:
            return None
        if username == "<token>":
            return Credentials("", secret, True)
        return Credentials(username, secret)


# -- what the registry holds ----------------------------------------------------------------

@dataclass(frozen=True)
class RemoteManifest:
    reference: str          # as asked
    digest: str             # of the bytes below
    media_type: str
    body: bytes = field(repr=False)

    def document(self) -> Dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError:
            raise RegistryError(f"{self.reference}: the registry sent a manifest that is not JSON") from None
        if not isinstance(data, dict):
            raise RegistryError(f"{self.reference}: the registry sent a manifest that is not a JSON object")
        return data


@dataclass(frozen=True)
class RemoteImage:
    """What a tag points to: the manifest (or index) digest and the image config's labels."""

    reference: str
    digest: str
    media_type: str
    labels: Mapping[str, str]


@dataclass
class Lookups:
    """The answers of ``RegistryClient.look_up``."""

    found: Dict[str, RemoteImage] = field(default_factory=dict)
    missing: Set[str] = field(default_factory=set)      # the registry has no such tag
    notes: List[str] = field(default_factory=list)      # hosts and references that could not be asked


@dataclass
class _Answer:
    status: int
    headers: Any
    body: bytes
    url: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by the client itself, which drops credentials on a host change
    (a blob redirect to a storage service must not carry the registry's token)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib's API
        return None


@dataclass
class _Host:
    domain: str
    base: Optional[str] = None                  # "https://host" once known
    verify: bool = True
    down: Optional[str] = None                  # why it cannot be reached
    pinged: bool = False
    challenge: Optional[Tuple[str, Dict[str, str]]] = None
    tokens: Dict[str, Tuple[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> Optional[Tuple[str, Dict[str, str]]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ("bearer", {realm, service, scope})."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


def _connection_reason(exc: BaseException) -> str:
    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 5:
        seen += 1
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "unknown host"
        if isinstance(current, (socket.timeout, TimeoutError)):
            return "timed out"
        if isinstance(current, ssl.SSLError):
            return f"TLS failed ({current.reason or type(current).__name__})"
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (current.__cause__ or current.__context__)
    text = str(getattr(exc, "reason", None) or exc)
    return text or type(exc).__name__


class RegistryClient:
    """Registry API v2 requests, shared by threads. ``insecure`` names the registries (host or
    ``host:port``) to reach without certificate checks, then over plain HTTP;
    ``insecure_cidrs`` does the same for IP addresses. ``platform`` (``linux/amd64``) picks the
    image of a multi-platform index."""

    def __init__(self, *, insecure: Iterable[str] = (), insecure_cidrs: Iterable[str] = (),
                 platform: Optional[str] = None, credentials: Optional[CredentialStore] = None,
                 timeout: float = REQUEST_TIMEOUT_S, ping_timeout: float = PING_TIMEOUT_S):
        self._insecure = set(insecure)
        self._cidrs = []
        for cidr in insecure_cidrs:
            try:
                self._cidrs.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                continue
        self.platform = platform
        self._credentials = credentials
        self._timeout = timeout
        self._ping_timeout = ping_timeout
        self._hosts: Dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._openers = {
            True: urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(
                context=ssl.create_default_context())),
            False: urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(
                context=_unverified_context())),
        }
        self._headers = {"User-Agent": f"images/{__version__}"}

    @classmethod
    def for_engine(cls, info: Mapping[str, Any], version: Optional[Mapping[str, Any]] = None,
                   **options: Any) -> "RegistryClient":
        """A client that treats registries as the engine does: ``info`` is the engine's
        ``GET /info`` answer (``RegistryConfig``), ``version`` its ``GET /version`` answer."""
        config = info.get("RegistryConfig") or {}
        indexes = config.get("IndexConfigs") or {}
        insecure = [name for name, entry in indexes.items()
                    if isinstance(entry, Mapping) and entry.get("Secure") is False]
        platform = None
        if version and version.get("Os") and version.get("Arch"):
            platform = f"{version['Os']}/{version['Arch']}"
        return cls(insecure=insecure, insecure_cidrs=config.get("InsecureRegistryCIDRs") or (),
                   platform=platform, **options)

    # -- hosts ------------------------------------------------------------------------------

    def _host(self, domain: str) -> _Host:
        with self._lock:
            host = self._hosts.get(domain)
            if host is None:
                host = self._hosts[domain] = _Host(domain)
            return host

    def is_insecure(self, domain: str) -> bool:
        if domain in self._insecure:
            return True
        try:
            address = ipaddress.ip_address(_host_only(domain))
        except ValueError:
            return False
        return any(address in network for network in self._cidrs)

    def _schemes(self, domain: str) -> List[Tuple[str, bool]]:
        if is_loopback(domain):
            return [("http", True)]
        if self.is_insecure(domain):
            return [("https", False), ("http", True)]
        return [("https", True)]

    def down(self, domain: str) -> Optional[str]:
        """Why ``domain`` cannot be reached, once a connection to it failed; else None."""
        return self._host(domain).down

    def ping(self, domain: str) -> None:
        """Make sure the host answers the API (``GET /v2/``), once; ``RegistryUnavailable`` when
        it cannot be reached (then and for every later look-up), ``RegistryError`` when what
        answers is not a registry."""
        host = self._host(domain)
        with host.lock:
            if host.down is not None:
                raise self._unavailable(host)
            if host.pinged:
                return
            reasons = []
            for scheme, verify in self._schemes(domain):
                base = f"{scheme}://{api_host(domain)}"
                try:
                    answer = self._open("GET", base + "/v2/", dict(self._headers), None, verify,
                                        self._ping_timeout)
                except _Unreachable as exc:
                    reasons.append(exc.reason)
                    continue
                if answer.status not in (200, 401):
                    raise RegistryError(f"{domain} does not answer as a registry: GET /v2/ said "
                                        f"{answer.status}")
                host.base, host.verify, host.pinged = base, verify, True
                if answer.status == 401:
                    host.challenge = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
                return
            host.down = reasons[0] if reasons else "unreachable"
            raise self._unavailable(host)

    def _unavailable(self, host: _Host) -> RegistryUnavailable:
        return RegistryUnavailable(f"cannot reach the registry at {host.domain}: {host.down}",
                                   host.domain, host.down or "")

    # -- HTTP -------------------------------------------------------------------------------

    def _open(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes],
              verify: bool, timeout: float) -> _Answer:
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            response = self._openers[verify].open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                return _Answer(exc.code, exc.headers, _read(exc), url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _Unreachable(_connection_reason(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - http.client's protocol errors
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from exc
        with response:
            try:
                return _Answer(response.status, response.headers, _read(response), url)
            except (OSError, ValueError) as exc:
                raise _Unreachable(_connection_reason(exc)) from exc

    def _request(self, domain: str, method: str, path: str, *, scope: str,
                 headers: Optional[Dict[str, str]] = None, body: Optional[bytes] = None,
                 lookup: bool = True) -> _Answer:
        """One API request with authentication and redirects. With ``lookup``, a host marked
        down is not asked again, and a failed connection marks it down."""
        host = self._host(domain)
        if lookup or not host.pinged:
            try:
                self.ping(domain)
            except RegistryUnavailable:
                if lookup:
                    raise
                host.down = None  # a push is tried even when a look-up could not connect
                self.ping(domain)
        sent = dict(self._headers, **(headers or {}))
        auth = self._cached_auth(host, scope)
        answer = self._send(host, method, path, sent, auth, body, lookup)
        if answer.status == 401:
            challenge = parse_challenge(answer.headers.get("WWW-Authenticate", "")) or host.challenge
            auth = self._authenticate(host, challenge, scope)
            if auth is not None:
                answer = self._send(host, method, path, sent, auth, body, lookup)
        if answer.status in (401, 403):
            who = "anonymously" if self._creds(domain) is None else "with the docker config's credentials"
            raise RegistryError(f"{domain} denied {method} {path} ({answer.status}, asked {who}); log in "
                                "with `docker login`" + _error_text(answer))
        return answer

    def _send(self, host: _Host, method: str, path: str, headers: Dict[str, str],
              auth: Optional[str], body: Optional[bytes], lookup: bool) -> _Answer:
        url = (host.base or "") + path
        origin = urlsplit(url).netloc
        for _ in range(_MAX_REDIRECTS + 1):
            sent = dict(headers)
            if auth is not None and urlsplit(url).netloc == origin:
                sent["Authorization"] = auth
            try:
                answer = self._open(method, url, sent, body, host.verify, self._timeout)
            except _Unreachable as exc:
                if urlsplit(url).netloc == origin:
                    if lookup:
                        host.down = exc.reason
                    raise RegistryUnavailable(f"cannot reach the registry at {host.domain}: {exc.reason}",
                                              host.domain, exc.reason) from None
                raise RegistryError(f"{host.domain} redirected {method} {path} to "
                                    f"{urlsplit(url).netloc}, which cannot be reached: {exc.reason}") from None
            if answer.status in (301, 302, 303, 307, 308) and answer.headers.get("Location"):
                url = urljoin(url, answer.headers["Location"])
                if answer.status == 303:
                    method, body = "GET", None
                continue
            return answer
        raise RegistryError(f"{host.domain}: too many redirects for {method} {path}")

    def _creds(self, domain: str) -> Optional[Credentials]:
        if self._credentials is None:
            self._credentials = CredentialStore()
        return self._credentials.get(domain)

    def _cached_auth(self, host: _Host, scope: str) -> Optional[str]:
        with host.lock:
            token = host.tokens.get(scope)
            if token is not None and token[1] > time.monotonic():
                return f"Bearer {token[0]}"
            challenge = host.challenge
        if challenge is not None and challenge[0] == "basic":
            creds = self._creds(host.domain)
            if creds is not None and not creds.identity_token:
                return _basic(creds)
        return None

    def _authenticate(self, host: _Host, challenge: Optional[Tuple[str, Dict[str, str]]],
                      scope: str) -> Optional[str]:
        if challenge is None:
            return None
        scheme, params = challenge
        creds = self._creds(host.domain)
        if scheme == "basic":
            return _basic(creds) if creds is not None and not creds.identity_token else None
        if scheme != "bearer" or not params.get("realm"):
            return None
        # The scope the challenge names is what this very request needs.
        wanted = params.get("scope") or scope
        query = {"service": params.get("service") or "", "scope": wanted}
        realm = params["realm"]
        headers = dict(self._headers)
        if creds is not None and creds.identity_token:
            body = urlencode(dict(query, grant_type="refresh_token", refresh_token=creds.secret,
                                  client_id="images")).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            answer = self._token_request("POST", realm, headers, body, host)
        else:
            if creds is not None:
                headers["Authorization"] = _basic(creds)
                query["account"] = creds.username
            answer = self._token_request("GET", f"{realm}?{urlencode(query)}", headers, None, host)
        if answer.status != 200:
            who = "anonymously" if creds is None else "with the docker config's credentials"
            raise RegistryError(f"{host.domain}: the token service refused access to {wanted} "
                                f"({answer.status}, asked {who}); log in with `docker login`")
        try:
            data = json.loads(answer.body)
            token = str(data.get("token") or data.get("access_token") or "")
            lifetime = float(data.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token, lifetime = "", 0.0
        if not token:
            raise RegistryError(f"{host.domain}: the token service sent no token")
        with host.lock:
            host.tokens[scope] = (token, time.monotonic() + max(lifetime - 10, 5))
        return f"Bearer {token}"

    def _token_request(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes],
                       host: _Host) -> _Answer:
        verify = host.verify or urlsplit(url).scheme != "https"
        try:
            return self._open(method, url, headers, body, verify, self._timeout)
        except _Unreachable as exc:
            raise RegistryError(f"{host.domain}: cannot reach its token service at "
                                f"{urlsplit(url).netloc}: {exc.reason}") from None

    # -- the API ----------------------------------------------------------------------------

    def manifest(self, reference: str, *, lookup: bool = True) -> Optional[RemoteManifest]:
        """The manifest (or index) ``reference`` names, as the registry stores it; None when the
        registry has no such tag or repository."""
        domain, name, tag, digest = locate(reference)
        path = f"/v2/{name}/manifests/{digest or tag or 'latest'}"
        answer = self._request(domain, "GET", path, scope=f"repository:{name}:pull",
                               headers={"Accept": ACCEPT}, lookup=lookup)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise RegistryError(f"{domain}: GET {path} said {answer.status}{_error_text(answer)}")
        media_type = (answer.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        if not media_type or media_type in ("application/json", "application/octet-stream"):
            try:
                media_type = str(json.loads(answer.body).get("mediaType") or media_type)
            except (ValueError, AttributeError):
                pass
        actual = "sha256:" + hashlib.sha256(answer.body).hexdigest()
        if digest is not None and digest.startswith("sha256:") and digest != actual:
            raise RegistryError(f"{domain}: the manifest of {reference} does not match its digest")
        return RemoteManifest(reference, answer.headers.get("Docker-Content-Digest") or actual,
                              media_type, answer.body)

    def blob(self, repository_reference: str, digest: str) -> bytes:
        """A blob of a repository (``host/name``), checked against its digest."""
        domain, name, _tag, _digest = locate(repository_reference)
        path = f"/v2/{name}/blobs/{digest}"
        answer = self._request(domain, "GET", path, scope=f"repository:{name}:pull")
        if answer.status != 200:
            raise RegistryError(f"{domain}: GET {path} said {answer.status}{_error_text(answer)}")
        if digest.startswith("sha256:") and "sha256:" + hashlib.sha256(answer.body).hexdigest() != digest:
            raise RegistryError(f"{domain}: blob {digest} of {name} does not match its digest")
        return answer.body

    def image(self, reference: str) -> Optional[RemoteImage]:
        """The digest ``reference`` points to and the labels of its image config, read without
        pulling the image; None when the registry has no such tag. For a multi-platform index,
        the image for ``platform``."""
        top = self.manifest(reference)
        if top is None:
            return None
        current = top
        repository = refs.split(reference)[0]
        if top.media_type in INDEX_TYPES:
            entry = pick_platform(top.document().get("manifests") or [], self.platform)
            if entry is None:
                return RemoteImage(reference, top.digest, top.media_type, {})
            current = self.manifest(f"{repository}@{entry['digest']}")
            if current is None:
                return RemoteImage(reference, top.digest, top.media_type, {})
        if current.media_type not in MANIFEST_TYPES:
            return RemoteImage(reference, top.digest, top.media_type, {})  # schema 1: no config
        config = current.document().get("config") or {}
        if not isinstance(config, dict) or not config.get("digest"):
            return RemoteImage(reference, top.digest, top.media_type, {})
        try:
            document = json.loads(self.blob(repository, str(config["digest"])))
        except ValueError:
            raise RegistryError(f"{reference}: the image config is not JSON") from None
        labels = ((document.get("config") or {}).get("Labels") or {}) if isinstance(document, dict) else {}
        return RemoteImage(reference, top.digest, top.media_type,
                           {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {})

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        """Store ``body`` under the tag of ``reference``; returns the manifest digest."""
        domain, name, tag, _digest = locate(reference)
        path = f"/v2/{name}/manifests/{tag or 'latest'}"
        answer = self._request(domain, "PUT", path, scope=f"repository:{name}:pull,push",
                               headers={"Content-Type": media_type}, body=body, lookup=False)
        if answer.status not in (200, 201):
            raise RegistryError(f"cannot tag {reference} in its registry: PUT said {answer.status}"
                                f"{_error_text(answer)}")
        return answer.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()

    def copy_tag(self, source: str, target: str) -> str:
        """Point the tag ``target`` at the manifest ``source`` (``repo@digest`` or ``repo:tag``)
        of the same repository: the same bytes under another tag, nothing uploaded."""
        source_domain, source_name, _t, _d = locate(source)
        domain, name, _tag, _digest = locate(target)
        if (source_domain, source_name) != (domain, name):
            raise RegistryError(f"cannot tag {target} from {source}: they are in different repositories")
        found = self.manifest(source, lookup=False)
        if found is None:
            raise RegistryError(f"cannot tag {target}: {source} is no longer in the registry")
        return self.put_manifest(target, found.body, found.media_type)

    def tags(self, repository: str) -> List[str]:
        """The tags of ``repository`` (``host/name``); [] when the registry does not know it."""
        domain, name, _tag, _digest = locate(repository)
        answer = self._request(domain, "GET", f"/v2/{name}/tags/list", scope=f"repository:{name}:pull")
        if answer.status == 404:
            return []
        if answer.status != 200:
            raise RegistryError(f"{domain}: GET /v2/{name}/tags/list said {answer.status}{_error_text(answer)}")
        try:
            return list(json.loads(answer.body).get("tags") or [])
        except (ValueError, AttributeError):
            raise RegistryError(f"{domain}: the tag list of {name} is not JSON") from None

    def look_up(self, references: Sequence[str], *, workers: int = MAX_LOOKUPS) -> Lookups:
        """``image`` for every reference, in parallel. A host that cannot be reached is asked
        once (its references are left out, with one note); a reference that cannot be read
        is left out with a note."""
        result = Lookups()
        wanted = list(dict.fromkeys(references))
        if not wanted:
            return result
        domains = list(dict.fromkeys(locate(r)[0] for r in wanted))
        down: Dict[str, str] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(domains))),
                                thread_name_prefix="images-registry-ping") as pool:
            for domain, problem in zip(domains, pool.map(self._try_ping, domains)):
                if problem is not None:
                    down[domain] = problem
        for domain, problem in down.items():
            result.notes.append(f"could not ask the registry at {domain} ({problem}); "
                                "its images are not looked up in this run")
        asked = [r for r in wanted if locate(r)[0] not in down]
        failed: Dict[str, List[str]] = {}
        lock = threading.Lock()

        def one(reference: str) -> None:
            try:
                found = self.image(reference)
            except RegistryUnavailable as exc:
                with lock:
                    if exc.host not in down:
                        down[exc.host] = exc.reason
                        result.notes.append(f"could not ask the registry at {exc.host} ({exc.reason}); "
                                            "its images are not looked up in this run")
                return
            except RegistryError as exc:
                with lock:
                    failed.setdefault(str(exc), []).append(reference)
                return
            with lock:
                if found is None:
                    result.missing.add(reference)
                else:
                    result.found[reference] = found

        if asked:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(asked))),
                                    thread_name_prefix="images-registry") as pool:
                list(pool.map(one, asked))
        for message, which in failed.items():
            more = f" (and {len(which) - 1} more)" if len(which) > 1 else ""
            result.notes.append(f"could not look up {which[0]}{more}: {message}")
        return result

    def _try_ping(self, domain: str) -> Optional[str]:
        try:
            self.ping(domain)
        except RegistryUnavailable as exc:
            return exc.reason
        except RegistryError as exc:
            return str(exc)
        return None


class _Unreachable(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def pick_platform(entries: Sequence[Mapping[str, Any]], platform: Optional[str]) -> Optional[Mapping[str, Any]]:
    """The entry of an index for ``platform`` (``os/arch[/variant]``); attestation entries
    (platform ``unknown/unknown``) never match. Without ``platform``, the first image entry."""
    wanted = (platform or "").split("/")
    for entry in entries:
        if not isinstance(entry, Mapping) or not entry.get("digest"):
            continue
        p = entry.get("platform") or {}
        if p.get("os") == "unknown" or p.get("architecture") == "unknown":
            continue
        if platform is None:
            return entry
        if p.get("os") != wanted[0] or (len(wanted) > 1 and p.get("architecture") != wanted[1]):
            continue
        if len(wanted) > 2 and p.get("variant") and p.get("variant") != wanted[2]:
            continue
        return entry
    return None


def _unverified_context() -> ssl.SSLContext:
    # The engine's rule for a registry listed as insecure: TLS when it speaks it, unchecked.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode("ascii")


def _read(response: Any) -> bytes:
    data = response.read(_MAX_BODY + 1)
    if len(data) > _MAX_BODY:
        raise ValueError("answer too large")
    return data


def _error_text(answer: _Answer) -> str:
    """The registry's own words for an error answer (``{"errors": [{"message": ...}]}``)."""
    try:
        errors = json.loads(answer.body).get("errors") or []
        messages = [str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        return ""
    return f": {'; '.join(messages)}" if messages else ""
