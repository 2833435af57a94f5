"""``--format`` templates: builder.gotemplate against the docker CLI, on an image in the engine.

Each case renders a template over the inspect JSON that docker-py fetches and compares the
result with what ``docker image inspect --format`` prints for the same image.
"""
from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import subprocess
import tarfile
from typing import Dict, Iterator, Tuple

import pytest

from builder.gotemplate import TemplateError, render, render_image_inspect

DOCKERFILE = """\
FROM scratch
COPY hello.txt /hello.txt
LABEL a=b c=d weird="x<y&z> \u00e9" empty="" images.test.case={token}
ENV X=1 Y="two words"
EXPOSE 80/tcp 53/udp
VOLUME /data
WORKDIR /w
HEALTHCHECK --interval=30s --timeout=1500ms --retries=3 CMD ["/x", "check"]
STOPSIGNAL SIGTERM
CMD ["/x", "arg one"]
"""

# Printed alike by render() and render_image_inspect(), and by any docker CLI since 20.10.
COMMON = [
    "{{ json .RootFS.Layers }}",
    "{{ .Architecture }}",
    "{{ .Id }}",
    '{{ index .Config.Labels "a" }}',
    "{{ range $k, $v := .Config.Labels }}{{ $k }}={{ $v }};{{ end }}",
    '{{ join .Config.Cmd " " }}',
    "{{ .Config.Env }}",
    "{{ json .Config.Labels }}",
    "{{ .Size }}",
    "{{ upper .Os }}",
    "{{ if .Config.Labels }}yes{{ else }}no{{ end }}",
    "{{ len .RootFS.Layers }}",
    "{{ .Os }}/{{ .Architecture }}",
    "{{ range .RepoTags }}{{ . }} {{ end }}",
    "{{ index .RepoTags 0 }} {{ split (index .RepoTags 0) \":\" }}",
    "{{ .Config.Labels }}",
    "{{ .Config.Labels.weird }} {{ json .Config.Labels.weird }}",
    "{{ .Config.Cmd }} {{ json .Config.Cmd }} {{ index .Config.Cmd 1 }}",
    "{{ json .Config.Env }} {{ range $i, $e := .Config.Env }}{{ $i }}:{{ $e }} {{ end }}",
    "{{ .Config.WorkingDir }}|{{ .Config.User }}|{{ .Config.StopSignal }}",
    "{{ json .Config.ExposedPorts }} {{ len .Config.ExposedPorts }}",
    "{{ range $p, $_ := .Config.ExposedPorts }}{{ $p }} {{ end }}",
    "{{ .RootFS.Type }} {{ .GraphDriver.Name }} {{ .Created }} {{ .DockerVersion }}",
    '{{ printf "%s/%s %d %q %v" .Os .Architecture .Size .Os .Config.Cmd }}',
    '{{ if eq .Os "linux" }}linux{{ else if eq .Os "windows" }}windows{{ else }}other{{ end }}',
    "{{ with .Config }}{{ .WorkingDir }} {{ $.Os }}{{ end }}",
    '{{ title .Os }} {{ lower "ABC" }} {{ .Os | upper | printf "<%s>" }}',
    "{{- range .Config.Env }}\n- {{ . }}\n{{- end }}",
    "{{ len .Config.Labels }} {{ len .Config.Env }} {{ gt (len .RootFS.Layers) 0 }}",
    '{{ .Config.Labels.empty }}|{{ if .Config.Labels.empty }}set{{ else }}unset{{ end }}',
    '{{ range .RepoDigests }}{{ . }}{{ else }}no digests{{ end }} {{ json .RepoDigests }}',
    "{{ $id := .Id }}{{ range .RootFS.Layers }}{{ slice $id 7 19 }} {{ end }}",
    "{{ .Config.Healthcheck.Test }} {{ .Config.Healthcheck.Retries }}",
    "{{/* a comment */}}{{ .Os -}}   !",
]

# Where the CLI's typed struct shows: render_image_inspect() follows it, render() keeps
# Go's plain JSON semantics.
TYPED = [
    "{{ .Config.Entrypoint }} {{ .Config.OnBuild }} {{ json .Config.Entrypoint }}",
    "{{ .Config.ExposedPorts }} {{ .Config.Volumes }}",
    '{{ index .Config.Labels "nope" }}|{{ .Config.Labels.nope }}',
    "{{ .Metadata.LastTagTime }} {{ json .Metadata }}",
    "{{ .RootFS }} {{ .GraphDriver.Data | len }}",
    "{{ .Config.Healthcheck.Interval }} {{ .Config.Healthcheck.Timeout }}",
    "{{ .ContainerConfig.Entrypoint }} {{ .ContainerConfig.Volumes }}",
    '{{ eq .Size .VirtualSize }} {{ printf "%d" .Size }}',
]

# Shapes of CLI 28's own types (github.com/docker/docker/api/types/image.InspectResponse and
# the OCI image config it holds); other CLI versions print their own.
CLI_28 = [
    "{{ json .Config }}",
    "{{ json . }}",
    "{{ .ID }} {{ printf \"%T %T\" . .Config }}",
    '{{ printf "%+v" .RootFS }} {{ .Metadata }}',
    '{{ index .Config.ExposedPorts "80/tcp" }} {{ index .ContainerConfig.ExposedPorts "80/tcp" }}',
    "{{ .Id }} {{ .Config.Entrypoint }} {{ .Config.Hostname }}",
    '{{ .Id }} {{ printf "%v %d" .Size .Size }}',
    "{{ json .ContainerConfig }}",
    "{{ .Config.Hostname }} {{ .Config }}",
    "{{ range 3 }}{{ . }}{{ end }}",
    '{{ with .Descriptor }}d{{ else with .Config }}{{ .WorkingDir }}{{ end }}',
]

# Bad templates: the message must be the CLI's (parse errors: ours adds the column).
ERRORS = [
    "{{ .Size }",
    "{{ .Size",
    "{{ end }}",
    "{{ if .Os }}",
    "{{ nope .Os }}",
    "{{ $x }}",
    "{{ .Nope }}",
    "{{ .Config.Nope }}",
    "{{ .Size 3 }}",
    "{{ json }}",
    "{{ index .Config.Env 9 }}",
    "{{ lower .Size }}",
    '{{ range "ab" }}{{ end }}',
    "line one\n{{ if .Os }}\n  {{ .Os.Nope }}{{ end }}",
]


@pytest.fixture(scope="module")
def docker_cli(engine) -> Tuple[str, str]:
    """The docker CLI's path and client version."""
    path = shutil.which("docker")
    if path is None:
        if os.environ.get("IMAGES_REQUIRE_ENGINE") == "1":
            pytest.fail("no docker CLI to compare with (IMAGES_REQUIRE_ENGINE=1)", pytrace=False)
        pytest.skip("no docker CLI to compare with")
    version = subprocess.run([path, "version", "--format", "{{.Client.Version}}"],
                             capture_output=True, text=True, timeout=60).stdout.strip()
    return path, version


@pytest.fixture(scope="module")
def image(engine) -> Iterator[Tuple[str, Dict]]:
    """A small image built from a tar through docker-py: its reference and inspect JSON."""
    import docker

    token = secrets.token_hex(4)
    ref = f"images-test-fmt-{token}:latest"
    files = {"Dockerfile": DOCKERFILE.format(token=token).encode(), "hello.txt": b"hello\n"}
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    context.seek(0)
    client = docker.APIClient(version="auto", timeout=120)
    try:
        log = list(client.build(fileobj=context, custom_context=True, tag=ref, rm=True,
                                forcerm=True, decode=True))
        failures = [entry["error"] for entry in log if "error" in entry]
        assert not failures, f"building {ref} failed: {failures}"
        data = client.inspect_image(ref)
        yield ref, data
        client.remove_image(data["Id"], force=True)
    finally:
        client.close()


def docker_format(docker_cli: Tuple[str, str], template: str, ref: str) -> subprocess.CompletedProcess:
    return subprocess.run([docker_cli[0], "image", "inspect", "--format", template, ref],
                          capture_output=True, text=True, timeout=60)


def expect_output(docker_cli: Tuple[str, str], template: str, ref: str) -> str:
    answer = docker_format(docker_cli, template, ref)
    assert answer.returncode == 0, answer.stderr
    return answer.stdout


@pytest.mark.parametrize("template", COMMON)
def test_render_prints_what_docker_prints(image, docker_cli, template):
    ref, data = image
    expected = expect_output(docker_cli, template, ref)
    assert render(template, data) + "\n" == expected
    assert render_image_inspect(template, data) + "\n" == expected


@pytest.mark.parametrize("template", TYPED)
def test_render_image_inspect_follows_the_clis_typed_view(image, docker_cli, template):
    ref, data = image
    assert render_image_inspect(template, data) + "\n" == expect_output(docker_cli, template, ref)


def needs_cli_28(docker_cli, why: str) -> None:
    """Skip, saying ``why``, unless the docker CLI compared against is version 28."""
    if docker_cli[1].split(".")[0] != "28":
        pytest.skip(f"{why}; this CLI is {docker_cli[1]}")


@pytest.mark.parametrize("template", CLI_28)
def test_render_image_inspect_prints_what_docker_cli_28_prints(image, docker_cli, template):
    needs_cli_28(docker_cli, "these cases pin docker CLI 28's types")
    ref, data = image
    assert render_image_inspect(template, data) + "\n" == expect_output(docker_cli, template, ref)


@pytest.mark.parametrize("template", ERRORS)
def test_bad_templates_fail_as_docker_fails(image, docker_cli, template):
    needs_cli_28(docker_cli, "messages are those of docker CLI 28's Go")
    ref, data = image
    answer = docker_format(docker_cli, template, ref)
    assert answer.returncode != 0
    with pytest.raises(TemplateError) as caught:
        render_image_inspect(template, data)
    ours = str(caught.value)
    if answer.returncode == 64:  # a parse error: Go names the line only
        ours = re.sub(r"^(template: :\d+):\d+: ", r"\1: ", ours)
    assert "template parsing error: " + ours == answer.stderr.strip()
