"""The Docker engine behind a small interface.

The short calls (ping, version, list, inspect, history, tag, remove) go through
``builder.engine.http``, a standard-library client, so that a run that changes nothing never
loads docker-py; the streaming calls (build, push, pull, save, load, import) and the registry
lookup go through docker-py's low-level APIClient, imported and created when first needed. An
endpoint the small client does not handle (TLS, ``ssh://``, a proxy) gets docker-py for
everything. Every docker-py, requests or transport failure leaves this module as one of our typed
errors: ``EngineUnavailable`` when no engine answers, ``EngineError`` (or ``BuildError``) when it
answered and the operation failed, ``Cancelled`` when the caller stopped a build.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import re
import socket
import threading
import time
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from builder import __version__, refs
from builder.engine.buildkit import TRACE_ID, TraceError, TraceRenderer, error_message, exit_code
from builder.engine.endpoint import Endpoint, load_config, resolve
from builder.engine.http import Client, HTTPError, quote_path
from builder.engine.streams import LineSplitter, describe_status, is_retryable, message_error
from builder.engine.translate import (HINT, api_message, engine_errors, status_code, translate,
                                      unreachable_reason)
from builder.errors import BuildError, Cancelled, EngineError, EngineUnavailable, ImagesError

log = logging.getLogger(__name__)

OutputSink = Callable[[str], None]
ProgressSink = Callable[[dict], None]

# Short calls (inspect, tag, list) give up after this long; streaming calls (build, push, pull,
# save, load, import) have no read timeout, since a RUN step or a big layer may stay silent.
_REQUEST_TIMEOUT_S = 60
# How long opening a connection may take; an engine that accepts nothing in this time is down.
_CONNECT_TIMEOUT_S = 5
# The oldest API docker-py speaks; an engine older than this is refused, as docker-py does.
_MIN_API_VERSION = "1.24"
# How often a waiting build looks at its cancel event (a threading.Event cannot be waited on
# together with a queue, so the wait is sliced).
_CANCEL_POLL_S = 0.1
# How long a cancelled build waits for its reader thread to notice the closed connection.
_ABORT_JOIN_S = 2.0
_CHUNK = 1 << 20
# The engine builds with its built-in BuildKit from this API version on (Docker 18.09).
_BUILDKIT_API_VERSION = "1.39"
#: What ``build(builder=...)`` accepts; "auto" follows DOCKER_BUILDKIT, then the engine.
BUILDERS = ("auto", "buildkit", "classic")
_SUCCESSFULLY_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})\s*$")
_LOADED = re.compile(r"^Loaded image(?: ID)?: (\S+)\s*$")


def connect(host: Optional[str] = None) -> "DockerEngine":
    """Connect to the engine the docker CLI would use, or to ``host`` (``unix://...``,
    ``tcp://host:port``, ``ssh://...``).

    Raises ``EngineUnavailable`` with one line naming the endpoint tried when nothing answers.
    """
    return DockerEngine(resolve(host))


class DockerEngine:
    """One Docker engine. Safe to share between threads: short calls share a connection pool,
    and every streaming call gets a connection (and a docker-py client) of its own."""

    #: Seconds to wait before each retry of a push or pull that failed in a way that may pass
    #: (a 5xx from the registry, a connection that broke half-way). One retry per entry. The
    #: engine already retries each layer upload and download a few times by itself, so a few
    #: whole-operation retries are enough.
    retry_delays: Sequence[float] = (2.0, 5.0)

    def __init__(self, endpoint: Endpoint):
        self._endpoint = endpoint
        #: The address in use, as users write it (``unix:///var/run/docker.sock``).
        self.endpoint: str = endpoint.url
        self._docker_api: Any = None  # docker-py's pooled client, made when first needed
        self._docker_api_lock = threading.Lock()
        self._builder: Optional[str] = None  # what "auto" means on this engine, once asked
        headers = {"User-Agent": f"images/{__version__}"}
        extra = load_config().get("HttpHeaders")  # sent on every request, as docker-py does
        if isinstance(extra, dict):
            headers.update({str(key): str(value) for key, value in extra.items()})
        client = Client.for_endpoint(endpoint.url, tls=endpoint.tls, timeout=_REQUEST_TIMEOUT_S,
                                     connect_timeout=_CONNECT_TIMEOUT_S, headers=headers)
        if client is not None:
            # The engine's API version, so an older engine (20.10 speaks 1.41) is not sent paths
            # it rejects; this first request is also the reachability check.
            self.api_version: str = self._negotiate(client)
            client.api_version = self.api_version
            self._transport: Any = client
            return
        if endpoint.url.startswith("unix://"):
            self._probe_socket("/" + endpoint.url[len("unix://"):].lstrip("/"))
        # "auto": docker-py asks the engine for its version, as _negotiate does.
        self._docker_api = self._new_client(version="auto", timeout=_REQUEST_TIMEOUT_S)
        self.api_version = self._docker_api.api_version
        self._transport = _DockerPyTransport(self._docker_api)

    # -- plumbing ---------------------------------------------------------------------------

    def _negotiate(self, client: Client) -> str:
        """The API version docker-py's ``version="auto"`` would pick: the engine's own."""
        try:
            answer = json.loads(client.request("GET", "/version", versioned=False))
            version = answer["ApiVersion"]
        except Exception as exc:  # noqa: BLE001 - sorted into our errors just below
            ours = translate(exc, endpoint=self.endpoint, action="cannot connect")
            if isinstance(ours, EngineUnavailable):
                raise ours from exc
            if isinstance(exc, (KeyError, TypeError)):
                problem = 'Invalid response from docker daemon: key "ApiVersion" is missing.'
            else:
                problem = f"Error while fetching server API version: {exc}"
            raise self._unusable(problem) from exc
        if not isinstance(version, str) or _version_tuple(version) < _version_tuple(
                _MIN_API_VERSION):
            raise self._unusable(f"the engine speaks API {version}; API versions below "
                                 f"{_MIN_API_VERSION} are not supported")
        return version

    def _unusable(self, problem: str) -> EngineUnavailable:
        return EngineUnavailable(
            f"cannot use the Docker engine address {self.endpoint!r} "
            f"(from {self._endpoint.source}): {problem}; fix it or set DOCKER_HOST")

    def _new_client(self, *, version: str, timeout: Optional[float]) -> Any:
        import docker
        from docker.errors import DockerException

        try:
            return docker.APIClient(base_url=self._endpoint.url, version=version, timeout=timeout,
                                    tls=self._endpoint.tls or False,
                                    user_agent=f"images docker-sdk-python/{docker.__version__}")
        except Exception as exc:  # noqa: BLE001 - sorted into our errors just below
            ours = translate(exc, endpoint=self.endpoint, action="cannot connect")
            if isinstance(ours, EngineUnavailable):
                raise ours from exc
            if isinstance(exc, DockerException):
                raise self._unusable(str(exc)) from exc
            raise

    def _probe_socket(self, path: str) -> None:
        # docker-py's unix-socket connection leaks its socket when connect() fails (the
        # object is dropped unclosed); trying the socket here first gives the same answer
        # without the leak.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(_REQUEST_TIMEOUT_S)
            probe.connect(path)
        except OSError as exc:
            reason = unreachable_reason(exc) or str(exc)
            raise EngineUnavailable(
                f"cannot reach the Docker engine at {self.endpoint}: {reason}; {HINT}") from None
        finally:
            probe.close()

    def _stream_client(self) -> Any:
        """A client of its own for one streaming call, with no read timeout."""
        return self._new_client(version=self.api_version, timeout=None)

    def _docker_client(self) -> Any:
        """docker-py's pooled client, for the few short calls that need its registry
        credentials."""
        with self._docker_api_lock:
            if self._docker_api is None:
                self._docker_api = self._new_client(version=self.api_version,
                                                    timeout=_REQUEST_TIMEOUT_S)
            return self._docker_api

    def _errors(self, action: str):
        return engine_errors(self.endpoint, action)

    def _request(self, action: str, method: str, path: str,
                 params: Optional[Dict[str, Any]] = None) -> bytes:
        """One short call; ``path`` is quoted already. Failures leave as our errors, with the
        engine's HTTP error (an ``HTTPError``) as ``__cause__`` when it answered with one."""
        with self._errors(action):
            return self._transport.request(method, path, params)

    def _request_json(self, action: str, method: str, path: str,
                      params: Optional[Dict[str, Any]] = None) -> Any:
        body = self._request(action, method, path, params)
        try:
            return json.loads(body)
        except ValueError:
            raise EngineError(f"{action}: the Docker engine at {self.endpoint} sent an answer "
                              "that is not JSON") from None

    def close(self) -> None:
        """Release the pooled connections."""
        self._transport.close()
        if self._docker_api is not None:
            self._docker_api.close()

    def __enter__(self) -> "DockerEngine":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the engine itself ------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the engine answers; raises ``EngineUnavailable`` when it does not."""
        self._request("cannot ping the Docker engine", "GET", "/_ping")

    def version(self) -> Dict[str, Any]:
        """The engine's ``/version`` answer (``Version``, ``ApiVersion``, ``Os``, ``Arch``, ...)."""
        return self._request_json("cannot read the Docker engine's version", "GET", "/version")

    def info(self) -> Dict[str, Any]:
        """The engine's ``/info`` answer; ``RegistryConfig`` says which registries it treats
        as insecure."""
        return self._request_json("cannot read the Docker engine's settings", "GET", "/info")

    def registry_client(self, **options: Any) -> Any:
        """A ``RegistryClient`` that reaches registries as this engine does (its insecure
        registries, its platform)."""
        from builder.engine.registry import RegistryClient

        return RegistryClient.for_engine(self.info(), self.version(), **options)

    # -- build ------------------------------------------------------------------------------

    def builder(self, requested: str = "auto") -> str:
        """The builder a ``build(builder=requested)`` uses: "buildkit" or "classic".

        "auto" follows ``DOCKER_BUILDKIT`` as the docker CLI does (``0`` or ``false``: classic;
        ``1`` or ``true``: BuildKit), and otherwise takes BuildKit wherever the engine has it
        (a Linux engine speaking API 1.39 or later).
        """
        if requested not in BUILDERS:
            raise EngineError(f"unknown builder {requested!r}; use one of {', '.join(BUILDERS)}")
        if requested != "auto":
            return requested
        setting = os.environ.get("DOCKER_BUILDKIT", "").strip().lower()
        if setting in ("0", "false"):
            return "classic"
        if setting in ("1", "true"):
            return "buildkit"
        if self._builder is None:
            version = self.version()
            linux = str(version.get("Os", "linux")).lower() == "linux"
            recent = _version_tuple(self.api_version) >= _version_tuple(_BUILDKIT_API_VERSION)
            self._builder = "buildkit" if linux and recent else "classic"
        return self._builder

    def build(self, context_stream: Iterable[bytes], *, dockerfile: str = "Dockerfile",
              buildargs: Optional[Dict[str, str]] = None, labels: Optional[Dict[str, str]] = None,
              target: Optional[str] = None, platform: Optional[str] = None, pull: bool = False,
              nocache: bool = False, on_output: Optional[OutputSink] = None,
              cancel: Optional[threading.Event] = None, builder: str = "auto") -> str:
        """Build an image from a tar stream of its context and return its ID (``sha256:...``).

        ``context_stream`` yields the bytes of an uncompressed tar; it is sent as it is produced
        (chunked upload), never held whole in memory. The image gets no tag: the caller tags it
        after success, so an interrupted build leaves no tag behind. ``on_output`` receives the
        build log one line at a time, without the line break (``Step 3/7 : RUN make``).

        When ``cancel`` is set, or the calling thread is interrupted, the connection is closed,
        which makes the engine kill the running step and drop the build; ``Cancelled`` is raised
        within a fraction of a second. Raises ``BuildError`` with the engine's message when the
        build fails, ``EngineUnavailable`` when the engine cannot be reached.

        ``builder`` picks the engine's builder (see ``builder()``). With BuildKit the log lines
        are those of ``docker build --progress=plain`` (``#3 [2/2] RUN make``); with the classic
        builder, its own (``Step 2/2 : RUN make``).
        """
        if cancel is not None and cancel.is_set():
            raise Cancelled("build cancelled before it started")
        buildkit = self.builder(builder) == "buildkit"
        sink = on_output or (lambda line: None)
        params = dict(
            custom_context=True, dockerfile=dockerfile, buildargs=dict(buildargs or {}),
            labels=dict(labels or {}), target=target or None, platform=platform or None,
            pull=pull, nocache=nocache, decode=True,
            # docker-py leaves rm off by default; the CLI removes intermediate containers, and
            # forcerm does so after a failed step too.
            rm=True, forcerm=True,
            # True would silently add the proxy settings of ~/.docker/config.json as build args:
            # they would change the image without changing its cache key, and differ between
            # machines. Proxies that a build needs are passed as ordinary, hashed build args.
            use_config_proxy=False,
            # no tag here: see the docstring.
        )
        if buildkit:
            params["buildkit"] = True
        client = self._stream_client()
        connection = _StreamConnection()
        client.hooks["response"].append(connection.hook)
        params["fileobj"] = connection.guard(context_stream)
        events: "queue.Queue[Tuple[str, Any]]" = queue.Queue()
        reader = threading.Thread(target=_read_build, args=(client, params, connection, events),
                                  name="images-build-reader", daemon=True)
        splitter = LineSplitter(sink)
        trace = TraceRenderer(sink)
        image_id: Optional[str] = None
        reader.start()
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("build cancelled")
                try:
                    kind, payload = events.get(timeout=_CANCEL_POLL_S)
                except queue.Empty:
                    continue
                if kind == "done":
                    break
                if kind == "context-failed":
                    raise payload
                if kind == "failed":
                    raise self._build_failure(payload)
                if payload.get("id") == TRACE_ID and isinstance(payload.get("aux"), str):
                    try:
                        trace.feed(payload["aux"])
                    except TraceError as exc:
                        log.debug("unreadable BuildKit trace message: %s", exc)
                    continue
                error = message_error(payload)
                if error is not None:
                    splitter.flush()
                    if buildkit:
                        raise BuildError(error_message(error[0]),
                                         error[1] if error[1] is not None else exit_code(error[0]))
                    raise BuildError(error[0], error[1])
                if "stream" in payload:
                    splitter.feed(str(payload["stream"]))
                aux = payload.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
                status = describe_status(payload)
                if status is not None:
                    splitter.flush()
                    sink(status)
        except BaseException:
            connection.abort()
            reader.join(_ABORT_JOIN_S)
            raise
        reader.join(_ABORT_JOIN_S)
        splitter.flush()
        if image_id is None:
            image_id = self._id_from_log(splitter.last_lines)
        return image_id

    def _build_failure(self, exc: BaseException) -> ImagesError:
        import docker.errors

        if isinstance(exc, ImagesError):
            return exc
        if isinstance(exc, docker.errors.APIError):
            # The engine refused the build before it started (no such Dockerfile, bad platform).
            return BuildError(api_message(exc))
        ours = translate(exc, endpoint=self.endpoint, action="cannot build")
        if ours is None:
            raise exc
        return ours

    def _id_from_log(self, last_lines: List[str]) -> str:
        # An engine older than API 1.30 sends no aux message: fall back to the log's last line.
        for line in reversed(last_lines):
            match = _SUCCESSFULLY_BUILT.match(line)
            if match:
                info = self.inspect_image(match.group(1))
                if info:
                    return str(info["Id"])
        raise BuildError("the engine ended the build without reporting an image ID")

    # -- tags and local images --------------------------------------------------------------

    def tag(self, image_id: str, reference: str) -> None:
        """Point ``reference`` (``repo:tag``; a bare ``repo`` means ``repo:latest``) at an image.
        A tag that pointed elsewhere moves."""
        repository, tag, digest = refs.split(reference)
        action = f"cannot tag {_short_id(image_id)} as {reference}"
        if digest is not None:
            raise EngineError(f"{action}: a tag cannot contain a digest")
        path = f"/images/{_path_name(image_id, action)}/tag"
        try:
            self._request(action, "POST", path,
                          {"tag": tag or "latest", "repo": repository, "force": 0})
        except EngineError as exc:
            if status_code(exc.__cause__) == 404:
                raise EngineError(f"{action}: no such image") from None
            raise

    def untag(self, reference: str) -> List[Dict[str, str]]:
        """Remove the tag ``reference``. When it was the image's last tag and nothing else holds
        the image, the engine deletes the image too (as ``docker rmi TAG`` does). Refuses when a
        container uses the image and this is its last tag. Returns the engine's record."""
        return self._delete(reference, force=False, what="tag")

    def remove_image(self, id_or_ref: str, force: bool = False) -> List[Dict[str, str]]:
        """Remove an image (by ID: with all its tags when ``force``) or one of its tags.

        Refuses with a message naming the containers when one uses the image. Returns the
        engine's record: a list of ``{"Untagged": ref}`` and ``{"Deleted": id}``.
        """
        return self._delete(id_or_ref, force=force, what="image")

    def _delete(self, name: str, *, force: bool, what: str) -> List[Dict[str, str]]:
        action = f"cannot remove {what} {name}"
        path = f"/images/{_path_name(name, action)}"
        try:
            # force and noprune as docker-py sends them (False/True); noprune=False deletes the
            # untagged parents that only this image held, as ``docker rmi`` does.
            return list(self._request_json(action, "DELETE", path,
                                           {"force": force, "noprune": False}) or [])
        except EngineError as exc:
            cause = exc.__cause__
            if status_code(cause) == 404:
                raise EngineError(f"{action}: no such image") from None
            if status_code(cause) == 409:
                users = self._containers_using(name)
                if users:
                    listed = ", ".join(f"{cname} ({state})" for cname, state in users)
                    plural = "s" if len(users) > 1 else ""
                    running = any(state == "running" for _, state in users)
                    advice = ("stop and remove the container first" if running or force
                              else "remove the container first, or force the removal")
                    raise EngineError(f"{action}: it is used by container{plural} {listed}; "
                                      f"{advice}") from None
            raise

    def inspect_image(self, ref_or_id: str) -> Optional[Dict[str, Any]]:
        """The engine's full description of an image, or None when there is no such image."""
        action = f"cannot inspect image {ref_or_id}"
        try:
            return self._request_json(action, "GET", f"/images/{_path_name(ref_or_id, action)}/json")
        except EngineError as exc:
            if status_code(exc.__cause__) == 404:
                return None
            raise

    def list_images(self, label: Optional[str] = None, all: bool = False) -> List[Dict[str, Any]]:
        """The engine's image list entries (``Id``, ``RepoTags``, ``Created``, ``Size``,
        ``Labels``, ...), only those carrying ``label`` (a key, or ``key=value``) when given;
        ``all`` adds intermediate images."""
        params: Dict[str, Any] = {"only_ids": 0, "all": 1 if all else 0}
        if label:
            params["filters"] = json.dumps({"label": [label]})
        return list(self._request_json("cannot list images", "GET", "/images/json", params))

    def history(self, ref: str) -> List[Dict[str, Any]]:
        """The image's layers, newest first, as ``docker image history`` shows them."""
        action = f"cannot read the history of {ref}"
        try:
            return list(self._request_json(action, "GET",
                                           f"/images/{_path_name(ref, action)}/history"))
        except EngineError as exc:
            if status_code(exc.__cause__) == 404:
                raise EngineError(f"{action}: no such image") from None
            raise

    def containers_using(self, image_id: str) -> List[str]:
        """Names of the containers (running or not) created from this very image."""
        return [name for name, _state in self._containers_using(image_id)]

    def _containers_using(self, image: str) -> List[Tuple[str, str]]:
        info = self.inspect_image(image)
        if info is None:
            return []
        full_id = info["Id"]
        # The parameters docker-py's containers(all=True, filters=...) sends.
        params = {"limit": -1, "all": 1, "size": 0, "trunc_cmd": 0,
                  "filters": json.dumps({"ancestor": [full_id]})}
        entries = self._request_json(f"cannot list the containers of {image}", "GET",
                                     "/containers/json", params)
        found = []
        for entry in entries:
            # "ancestor" also matches containers of images built on this one; those do not
            # stop this image's removal, so keep only exact matches.
            if entry.get("ImageID") != full_id:
                continue
            names = entry.get("Names") or []
            name = names[0].lstrip("/") if names else str(entry.get("Id", ""))[:12]
            found.append((name, str(entry.get("State") or "unknown")))
        return found

    # -- registries -------------------------------------------------------------------------

    def push(self, reference: str, on_progress: Optional[ProgressSink] = None) -> Optional[str]:
        """Push one tag to its registry and return the manifest digest the registry reported.

        ``on_progress`` receives the engine's progress messages (``{"status": "Pushing", "id":
        LAYER, "progressDetail": {...}}``). Errors inside the stream, which docker-py does not
        raise, become ``EngineError``; a 5xx or a broken connection is retried after each of
        ``retry_delays``. Credentials come from the docker config and its credential helpers.
        """
        repository, tag, digest = refs.split(reference)
        action = f"cannot push {reference}"
        if digest is not None:
            raise EngineError(f"{action}: push a tag, not a digest")

        def attempt() -> Optional[str]:
            pushed_digest = None
            client = self._stream_client()
            try:
                for message in client.push(repository, tag=tag or "latest", stream=True,
                                           decode=True):
                    _raise_stream_error(message)
                    aux = message.get("aux")
                    if isinstance(aux, dict) and aux.get("Digest"):
                        pushed_digest = str(aux["Digest"])
                    if on_progress is not None:
                        on_progress(message)
            finally:
                client.close()
            return pushed_digest

        return self._with_retries(action, repository, attempt)

    def pull(self, reference: str, on_progress: Optional[ProgressSink] = None) -> str:
        """Pull ``reference`` (``repo``, ``repo:tag`` or ``repo@digest``) and return the image ID.

        Same progress, error and retry behaviour as ``push``.
        """
        repository, tag, digest = refs.split(reference)
        action = f"cannot pull {reference}"

        def attempt() -> None:
            client = self._stream_client()
            try:
                for message in client.pull(repository, tag=digest or tag or "latest",
                                           stream=True, decode=True):
                    _raise_stream_error(message)
                    if on_progress is not None:
                        on_progress(message)
            finally:
                client.close()

        self._with_retries(action, repository, attempt)
        local = reference if (tag or digest) else f"{reference}:latest"
        info = self.inspect_image(local)
        if info is None:
            raise EngineError(f"{action}: the engine reported success but has no such image")
        return str(info["Id"])

    def _with_retries(self, action: str, repository: str, attempt: Callable[[], Any]) -> Any:
        import docker.errors

        delays = list(self.retry_delays)
        tries = 0
        while True:
            tries += 1
            try:
                with self._errors(action):
                    return attempt()
            except _StreamError as exc:
                text = str(exc)
                retryable = is_retryable(text)
            except EngineUnavailable:
                raise
            except EngineError as exc:
                cause = exc.__cause__
                if isinstance(cause, docker.errors.APIError):
                    text = api_message(cause)
                    retryable = is_retryable(text)
                else:  # the connection to the engine broke half-way
                    text = str(exc).partition(": ")[2] or str(exc)
                    retryable = True
            if retryable and delays:
                delay = delays.pop(0)
                log.warning("%s: %s; retrying in %.1f s", action, text, delay)
                time.sleep(delay)
                continue
            after = f" (gave up after {tries} attempts)" if tries > 1 else ""
            raise EngineError(f"{action}: {text}{_registry_hint(repository, text)}{after}")

    def inspect_distribution(self, ref: str) -> Dict[str, Any]:
        """Ask the registry about ``ref`` without pulling it: ``Descriptor`` (with the manifest
        ``digest``) and ``Platforms``."""
        repository = refs.split(ref)[0]
        action = f"cannot look up {ref} in its registry"
        import docker.errors

        try:
            with self._errors(action):
                return self._docker_client().inspect_distribution(ref)
        except EngineError as exc:
            cause = exc.__cause__
            if isinstance(cause, docker.errors.APIError):
                text = api_message(cause)
                raise EngineError(f"{action}: {text}{_registry_hint(repository, text)}") from None
            raise

    # -- archives ---------------------------------------------------------------------------

    def save(self, references: Sequence[str], fileobj: IO[bytes]) -> None:
        """Write one ``docker save`` tarball holding ``references`` (with those tags) to
        ``fileobj``, chunk by chunk as the engine produces it."""
        names = list(references)
        action = f"cannot save {', '.join(names)}"
        if not names:
            raise EngineError(f"{action}: nothing to save")
        client = self._stream_client()
        try:
            with self._errors(action):
                # docker-py's get_image takes one name; the engine's /images/get takes many.
                url = f"{client.base_url}/v{client.api_version}/images/get"
                response = client.get(url, params={"names": names}, stream=True)
                try:
                    _raise_for_status(response)
                    for chunk in response.iter_content(chunk_size=_CHUNK):
                        fileobj.write(chunk)
                finally:
                    response.close()
        finally:
            client.close()

    def load(self, fileobj: IO[bytes]) -> List[str]:
        """Load a ``docker save`` tarball, read chunk by chunk from ``fileobj``. Returns what the
        engine loaded: tags (``repo:tag``) and, for untagged images, IDs."""
        loaded: List[str] = []
        action = "cannot load images"
        client = self._stream_client()
        try:
            with self._errors(action):
                for message in client.load_image(_read_chunks(fileobj), quiet=True):
                    error = message_error(message)
                    if error is not None:
                        raise EngineError(f"{action}: {error[0]}")
                    for line in str(message.get("stream", "")).splitlines():
                        match = _LOADED.match(line.strip())
                        if match:
                            loaded.append(match.group(1))
        finally:
            client.close()
        return loaded

    def import_image(self, tarball_path: str, repository: Optional[str] = None,
                     tag: Optional[str] = "latest", *, labels: Optional[Dict[str, str]] = None,
                     changes: Optional[List[str]] = None) -> str:
        """Make an image from a filesystem tarball (``docker image import``; gzip, bzip2 and xz
        are recognised by the engine) and return its ID. ``labels`` are set on the image;
        ``changes`` are further Dockerfile instructions applied to it (``CMD ["/bin/sh"]``)."""
        action = f"cannot import {tarball_path}"
        changes = list(changes or [])
        if labels:
            changes.append("LABEL " + " ".join(f"{_dockerfile_word(key, action)}="
                                               f"{_dockerfile_word(value, action)}"
                                               for key, value in sorted(labels.items())))
        # docker-py treats a string that is not an existing file as a URL for the engine to
        # fetch; a missing file must not turn into a download attempt.
        if not os.path.isfile(tarball_path):
            raise EngineError(f"{action}: no such file")
        client = self._stream_client()
        try:
            with self._errors(action):
                text = client.import_image(src=tarball_path, repository=repository,
                                           tag=tag if repository else None,
                                           changes=changes or None)
        finally:
            client.close()
        image_id = None
        for message in _json_messages(text):
            error = message_error(message)
            if error is not None:
                raise EngineError(f"{action}: {error[0]}")
            status = str(message.get("status", ""))
            if status.startswith("sha256:"):
                image_id = status
        if image_id is None:
            raise EngineError(f"{action}: the engine did not report an image ID")
        return image_id


class _DockerPyTransport:
    """docker-py's pooled client behind the ``request`` of ``http.Client``, for the endpoints
    that client leaves to docker-py. The engine's error answers become ``HTTPError`` too."""

    def __init__(self, client: Any):
        self._client = client

    def request(self, method: str, path: str, params: Optional[Dict[str, Any]] = None, *,
                versioned: bool = True) -> bytes:
        import docker.errors

        client = self._client
        prefix = f"/v{client.api_version}" if versioned else ""
        send = {"GET": client._get, "POST": client._post, "DELETE": client._delete}[method]
        response = send(f"{client.base_url}{prefix}{path}", params=dict(params or {}))
        try:
            client._raise_for_status(response)
        except docker.errors.APIError as exc:
            raise HTTPError(method, path, response.status_code, str(response.reason or ""),
                            str(exc.explanation or "")) from exc
        return response.content

    def close(self) -> None:
        self._client.close()


def _version_tuple(version: str) -> Tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _path_name(name: str, action: str) -> str:
    """An image name or ID as one segment of a request path."""
    if not name:
        # docker-py refused these before sending anything; an empty segment would ask the
        # engine for a different path altogether.
        raise EngineError(f"{action}: no image name or ID given")
    return quote_path(name)


class _StreamError(Exception):
    """An error message found inside a push or pull stream."""


def _raise_stream_error(message: dict) -> None:
    error = message_error(message)
    if error is not None:
        raise _StreamError(error[0])


def _registry_hint(repository: str, text: str) -> str:
    if "connection refused" in text or "no such host" in text:
        domain = refs.normalize_repository(repository).split("/", 1)[0]
        return f"; is the registry at {domain} running and reachable from the engine?"
    if "denied" in text or "unauthorized" in text or "authentication required" in text:
        return "; log in with `docker login` (credentials come from the docker config)"
    return ""


def _raise_for_status(response: Any) -> None:
    import docker.errors
    import requests

    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        raise docker.errors.create_api_error_from_http_exception(exc) from None


def _read_chunks(fileobj: IO[bytes]) -> Iterator[bytes]:
    while True:
        block = fileobj.read(_CHUNK)
        if not block:
            return
        yield block


def _json_messages(text: str) -> Iterator[dict]:
    decoder = json.JSONDecoder()
    position = 0
    text = text or ""
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        try:
            message, position = decoder.raw_decode(text, position)
        except ValueError:
            return
        if isinstance(message, dict):
            yield message


def _dockerfile_word(text: str, action: str) -> str:
    """``text`` as one double-quoted Dockerfile word: the engine expands ``$`` inside double
    quotes, so it is escaped along with the quote and the backslash."""
    if "\n" in text or "\r" in text:
        raise EngineError(f"{action}: a label on an imported image cannot contain a line break")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _short_id(image_id: str) -> str:
    return image_id[7:19] if image_id.startswith("sha256:") else image_id


class _Aborted(Exception):
    """Raised inside the context stream to stop an upload that was cancelled."""


class _StreamConnection:
    """The HTTP response of one streaming call, kept so that another thread can cut it.

    requests hands the response over (through a response hook) as soon as the headers arrive;
    closing a socket from another thread does not wake a thread blocked reading it, but shutting
    it down does, and it tells the engine at once that the client is gone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response: Any = None
        self.aborted = False
        self.context_error: Optional[BaseException] = None

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._response = response
            aborted = self.aborted
        if aborted:
            _shutdown(response)
        return response

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            response = self._response
        if response is not None:
            _shutdown(response)

    def close(self) -> None:
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone
                pass

    def guard(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The caller's context stream, stopped when the build is aborted. A failure of the
        stream itself (a file that vanished) is kept, so it is not mistaken for a broken
        connection once requests has wrapped it."""
        try:
            for chunk in chunks:
                if self.aborted:
                    raise _Aborted()
                if chunk:
                    yield bytes(chunk)
        except (_Aborted, GeneratorExit):
            raise
        except BaseException as exc:
            self.context_error = exc
            raise


def _shutdown(response: Any) -> None:
    raw = getattr(response, "raw", None)
    connection = getattr(raw, "connection", None)  # urllib3 keeps it on a streamed response
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
            return
        except OSError:
            pass
    try:
        response.close()
    except Exception:  # noqa: BLE001 - best effort on a connection being torn down
        pass


def _read_build(client: Any, params: Dict[str, Any], connection: _StreamConnection,
                events: "queue.Queue[Tuple[str, Any]]") -> None:
    """Reader thread of a build: sends the context, then queues every decoded message."""
    try:
        try:
            messages = _buildkit_build(client, params) if params.pop("buildkit", False) else client.build(**params)
            for message in messages:
                events.put(("message", message))
        finally:
            connection.close()
            client.close()
        events.put(("done", None))
    except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
        if connection.aborted:
            events.put(("failed", Cancelled("build cancelled")))
        elif connection.context_error is not None:
            # The caller's own stream failed (a file vanished): its error, untranslated, since a
            # FileNotFoundError from a context is not a missing engine socket.
            events.put(("context-failed", connection.context_error))
        else:
            events.put(("failed", exc))


def _buildkit_build(client: Any, params: Dict[str, Any]) -> Iterator[dict]:
    """docker-py's ``APIClient.build`` with ``version=2``, which it has no parameter for: the
    same request, and the same decoded message stream."""
    query: Dict[str, Any] = {
        "version": "2", "dockerfile": params["dockerfile"], "nocache": params["nocache"],
        "pull": params["pull"], "rm": params["rm"], "forcerm": params["forcerm"],
    }
    if params.get("buildargs"):
        query["buildargs"] = json.dumps(params["buildargs"])
    if params.get("labels"):
        query["labels"] = json.dumps(params["labels"])
    if params.get("target"):
        query["target"] = params["target"]
    if params.get("platform"):
        query["platform"] = params["platform"]
    headers = {"Content-Type": "application/tar"}
    client._set_auth_headers(headers)
    response = client._post(client._url("/build"), data=params["fileobj"], params=query,
                            headers=headers, stream=True, timeout=None)
    return client._stream_helper(response, decode=True)
