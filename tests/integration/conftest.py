"""Fixtures for tests against the real Docker engine and the registry on 127.0.0.1:5000.

Without an engine these tests are skipped, with the reason; with ``IMAGES_REQUIRE_ENGINE=1``
(which ``.ci/run`` sets) a missing engine or registry fails them instead, so CI cannot go green
by skipping.

Every image a test makes carries the label ``images.test.case=<token>`` (the Dockerfile header
of ``busybox_context`` sets it before any other step, so intermediate images of a failed build
carry it too) and every tag starts with ``images-test-<token>/``. Teardown removes both. The
fixtures use docker-py directly for setup and cleanup, independently of the code under test.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import struct
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Union

import pytest

from builder.engine import DockerEngine, connect
from builder.errors import EngineUnavailable

HERE = Path(__file__).resolve().parent
REGISTRY = "127.0.0.1:5000"
CASE_LABEL = "images.test.case"
SESSION_LABEL = "images.test.session"
SESSION_TOKEN = secrets.token_hex(4)


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def _unavailable(reason: str) -> None:
    if os.environ.get("IMAGES_REQUIRE_ENGINE") == "1":
        pytest.fail(f"{reason} (IMAGES_REQUIRE_ENGINE=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    """A connected engine (the one the docker CLI would use)."""
    try:
        connected = connect()
    except EngineUnavailable as exc:
        _unavailable(f"no Docker engine: {exc}")
    yield connected
    _sweep({SESSION_LABEL: SESSION_TOKEN}, prefix=None)
    connected.close()


@pytest.fixture(scope="session")
def registry() -> str:
    """The registry's address, ``127.0.0.1:5000``, once it answers."""
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5) as answer:
            answer.read()
    except (OSError, urllib.error.URLError) as exc:
        _unavailable(f"no registry at http://{REGISTRY}/v2/: {exc}")
    return REGISTRY


def busybox_path() -> Path:
    """The static busybox binary that FROM-scratch test images run."""
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    if not path.is_file():
        _unavailable("no busybox binary (install busybox-static)")
    if _is_dynamic_elf(path):
        _unavailable(f"{path} is dynamically linked; FROM scratch needs busybox-static")
    return path


def _is_dynamic_elf(path: Path) -> bool:
    """True when the ELF file asks for a program interpreter (the dynamic loader)."""
    with open(path, "rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # only 64-bit ELF is checked
            return False
        endian = "<" if header[5] == 1 else ">"
        phoff, = struct.unpack_from(endian + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", header, 54)
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    return any(struct.unpack_from(endian + "I", table, i * phentsize)[0] == 3 for i in range(phnum))


@dataclass
class Case:
    """What one test makes: its label, its repository prefix, and helpers that use them."""

    token: str
    registry_repositories: List[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``key=value`` of the label every image of this test carries."""
        return f"{CASE_LABEL}={self.token}"

    @property
    def prefix(self) -> str:
        return f"images-test-{self.token}"

    def ref(self, name: str, tag: str = "latest", registry: Optional[str] = None) -> str:
        repository = f"{self.prefix}/{name}"
        if registry:
            repository = f"{registry}/{repository}"
            self.registry_repositories.append(f"{self.prefix}/{name}")
        return f"{repository}:{tag}"

    def dockerfile(self, body: str = "", stage: Optional[str] = None) -> str:
        """A FROM-scratch Dockerfile with busybox at /bin/busybox, followed by ``body``.

        The ENV line makes each case's steps its own under BuildKit too, whose layer cache,
        unlike the classic builder's, does not depend on an earlier LABEL."""
        return (f"FROM scratch{' AS ' + stage if stage else ''}\n"
                f"LABEL {SESSION_LABEL}={SESSION_TOKEN} {CASE_LABEL}={self.token}\n"
                f"ENV IMAGES_TEST_CASE={self.token}\n"
                f"COPY busybox /bin/busybox\n"
                f"{body}")


@pytest.fixture
def case(engine: DockerEngine) -> Iterator[Case]:
    """This test's label and repository prefix; removes what carries them afterwards."""
    current = Case(token=secrets.token_hex(4))
    yield current
    _sweep({CASE_LABEL: current.token}, prefix=current.prefix)
    _delete_from_registry(current.registry_repositories)


@pytest.fixture
def busybox_context(tmp_path: Path, case: Case) -> Callable[..., Path]:
    """``make(body="", files=None, stage=None) -> Path``: a build-context folder holding the
    static busybox, a Dockerfile made of ``case.dockerfile(body, stage)`` and any extra
    ``files`` (name -> text or bytes)."""
    binary = busybox_path()
    counter = iter(range(1_000_000))

    def make(body: str = "", files: Optional[Dict[str, Union[str, bytes]]] = None,
             stage: Optional[str] = None) -> Path:
        folder = tmp_path / f"context-{next(counter)}"
        folder.mkdir()
        shutil.copy2(binary, folder / "busybox")
        (folder / "Dockerfile").write_text(case.dockerfile(body, stage=stage))
        for name, content in (files or {}).items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        return folder

    return make


@pytest.fixture
def tar_stream() -> Callable[..., Iterator[bytes]]:
    """``tar_stream(folder)``: the folder as an uncompressed tar, in chunks as it is written."""
    return _tar_stream


def _tar_stream(folder: Path, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    # No .dockerignore handling: test contexts hold only what they need.

    class _Sink:
        def __init__(self) -> None:
            self.parts: List[bytes] = []

        def write(self, data: bytes) -> int:
            self.parts.append(bytes(data))
            return len(data)

        def take(self) -> bytes:
            data, self.parts = b"".join(self.parts), []
            return data

    sink = _Sink()
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(folder.rglob("*")):
            # Whole-second times, as the docker CLI sends: a fractional mtime would give every
            # entry a PAX extension, which the engine's BuildKit does not take for a tar at all.
            archive.add(str(path), arcname=path.relative_to(folder).as_posix(), recursive=False,
                        filter=_whole_seconds)
            data = sink.take()
            for start in range(0, len(data), chunk_size):
                yield data[start:start + chunk_size]
    yield sink.take()


def _whole_seconds(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = int(info.mtime)
    return info


def _docker_client():  # docker-py itself, independent of the code under test
    import docker

    return docker.APIClient(version="auto", timeout=120)


def _sweep(labels: Dict[str, str], prefix: Optional[str]) -> None:
    """Remove containers and images carrying ``labels``, and tags starting with ``prefix``."""
    import docker.errors

    client = _docker_client()
    try:
        label_filter = [f"{key}={value}" for key, value in labels.items()]
        for container in client.containers(all=True, filters={"label": label_filter}):
            _remove_container(client, container["Id"])
        images = client.images(all=True, filters={"label": label_filter})
        if prefix:
            for image in client.images(all=True):
                tags = image.get("RepoTags") or []
                if any(_under_prefix(tag, prefix) for tag in tags):
                    images.append(image)
        # Newest first, so that children go before the images they were built on.
        for image in sorted(images, key=lambda entry: entry.get("Created", 0), reverse=True):
            try:
                client.remove_image(image["Id"], force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                pass  # still the parent of an image outside this test; left for the session sweep
    finally:
        client.close()


def _remove_container(client, container_id: str) -> None:
    """Remove a container, waiting for the engine when it is already removing it (as it does
    with the container of a cancelled build step)."""
    import docker.errors

    deadline = time.monotonic() + 30
    while True:
        try:
            client.remove_container(container_id, force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _under_prefix(tag: str, prefix: str) -> bool:
    repository = tag.rsplit(":", 1)[0]
    parts = repository.split("/")
    return prefix in parts


def _delete_from_registry(repositories: List[str]) -> None:
    """Best effort: delete the manifests a test pushed (the registry has deletes enabled in CI)."""
    for repository in sorted(set(repositories)):
        try:
            with urllib.request.urlopen(f"http://{REGISTRY}/v2/{repository}/tags/list",
                                        timeout=5) as answer:
                tags = json.load(answer).get("tags") or []
            for tag in tags:
                head = urllib.request.Request(
                    f"http://{REGISTRY}/v2/{repository}/manifests/{tag}", method="HEAD",
                    headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
                with urllib.request.urlopen(head, timeout=5) as answer:
                    digest = answer.headers.get("Docker-Content-Digest")
                if digest:
                    delete = urllib.request.Request(
                        f"http://{REGISTRY}/v2/{repository}/manifests/{digest}", method="DELETE")
                    urllib.request.urlopen(delete, timeout=5).close()
        except (OSError, ValueError):
            continue


@pytest.fixture
def rootfs_tarball(tmp_path: Path) -> Path:
    """A filesystem tarball (for ``import``) holding /bin/busybox and /bin/sh -> busybox."""
    binary = busybox_path()
    path = tmp_path / "rootfs.tar"
    with tarfile.open(path, "w") as archive:
        for folder in ("bin", "tmp"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
        archive.add(str(binary), arcname="bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type = tarfile.SYMTYPE
        link.linkname = "busybox"
        archive.addfile(link)
    return path


@pytest.fixture
def docker_api(engine: DockerEngine) -> Iterator[object]:
    """docker-py's own client, for setup the engine layer does not offer (containers) and for
    checks that should not trust the code under test."""
    client = _docker_client()
    yield client
    client.close()
