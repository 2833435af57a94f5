"""Reading a Dockerfile's dependencies the way the engine's parser and classic builder do."""
from __future__ import annotations

import pytest

from builder.dockerfile import DockerfileError, Reference, parse_dockerfile

SHA = "sha256:" + "a" * 64


def F(ref: str, line: int) -> Reference:
    return Reference(ref, "FROM", line)


def C(ref: str, line: int) -> Reference:
    return Reference(ref, "COPY --from", line)


def M(ref: str, line: int) -> Reference:
    return Reference(ref, "RUN --mount", line)


# (id, Dockerfile text, build args, target, references, stages, steps)
SHAPES = [
    ("simple", "FROM alpine:3.19\nRUN echo hi\n", {}, None,
     [F("alpine:3.19", 1)], ("",), 2),
    ("lowercase instructions", "from alpine\nrun echo hi\ncopy . /app\n", {}, None,
     [F("alpine", 1)], ("",), 3),
    ("mixed case FROM and AS; stage names lowercased", "FrOm alpine As Build\nRuN true\n", {}, None,
     [F("alpine", 1)], ("build",), 2),
    ("--platform flag skipped", "FROM --platform=linux/amd64 alpine AS x\n", {}, None,
     [F("alpine", 1)], ("x",), 1),
    ("--platform=$BUILDPLATFORM and a stage copied from",
     "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN go build\n"
     "FROM alpine\nCOPY --from=build /out /out\n", {}, None,
     [F("golang:1.22", 1), F("alpine", 3)], ("build", ""), 4),
    ("$VAR from an ARG default", "ARG BASE=acme/base\nFROM $BASE\n", {}, None,
     [F("acme/base", 2)], ("",), 2),
    ("${VAR} in a tag", "ARG TAG=1.0\nFROM acme/base:${TAG}\n", {}, None,
     [F("acme/base:1.0", 2)], ("",), 2),
    ("build arg overrides a declared ARG", "ARG TAG=1.0\nFROM acme/base:${TAG}\n", {"TAG": "2.0"}, None,
     [F("acme/base:2.0", 2)], ("",), 2),
    ("undeclared build arg does not substitute", "FROM acme/base:${TAG:-latest}\n", {"TAG": "2.0"}, None,
     [F("acme/base:latest", 1)], ("",), 1),
    ("${VAR:-default} with an ARG without default", "ARG V\nFROM node:${V:-20}-alpine\n", {}, None,
     [F("node:20-alpine", 2)], ("",), 2),
    ("${VAR:-default} overridden", "ARG V\nFROM node:${V:-20}-alpine\n", {"V": "18"}, None,
     [F("node:18-alpine", 2)], ("",), 2),
    ("${VAR:+alt} set", "ARG SLIM=1\nFROM python:3.12${SLIM:+-slim}\n", {}, None,
     [F("python:3.12-slim", 2)], ("",), 2),
    ("${VAR:+alt} emptied by a build arg", "ARG SLIM=1\nFROM python:3.12${SLIM:+-slim}\n", {"SLIM": ""}, None,
     [F("python:3.12", 2)], ("",), 2),
    ("ARG default built from an earlier ARG, override flows through",
     "ARG REG=localhost:5000\nARG IMG=$REG/acme/base\nFROM ${IMG}:1\n", {"REG": "reg.example.com"}, None,
     [F("reg.example.com/acme/base:1", 3)], ("",), 3),
    ("ARG after FROM does not feed FROM", "ARG X=a\nFROM alpine\nARG X=b\nFROM busybox:$X\n", {}, None,
     [F("alpine", 2), F("busybox:a", 4)], ("", ""), 4),
    ("several ARGs in one instruction", "ARG A=alpine B=3.19\nFROM $A:$B\n", {}, None,
     [F("alpine:3.19", 2)], ("",), 2),
    ("quoted ARG default and quoted FROM", 'ARG IMG="alpine:3.19"\nFROM "$IMG"\n', {}, None,
     [F("alpine:3.19", 2)], ("",), 2),
    ("${VAR#prefix} and ${VAR%suffix}",
     "ARG FULL=docker.io/library/alpine:3.19\nFROM ${FULL#docker.io/library/}\nFROM ${FULL%:*}:edge\n", {}, None,
     [F("alpine:3.19", 2), F("docker.io/library/alpine:edge", 3)], ("", ""), 3),
    ("unset variable expands to nothing", "FROM alpine${SUFFIX}\n", {}, None,
     [F("alpine", 1)], ("",), 1),
    ("FROM an earlier stage is not an image", "FROM alpine AS base\nFROM base AS test\nFROM base\n", {}, None,
     [F("alpine", 1)], ("base", "test", ""), 3),
    ("stage names match case-insensitively", "FROM alpine AS Base\nFROM BASE\n", {}, None,
     [F("alpine", 1)], ("base", ""), 2),
    ("stage name reached through an ARG", "ARG B=builder\nFROM golang AS builder\nFROM $B\n", {}, None,
     [F("golang", 2)], ("builder", ""), 3),
    ("COPY --from a stage index", "FROM alpine\nFROM busybox\nCOPY --from=0 /a /a\n", {}, None,
     [F("alpine", 1), F("busybox", 2)], ("", ""), 3),
    ("COPY --from an image", "FROM alpine\nCOPY --from=nginx:1.25 /etc/nginx /etc/nginx\n", {}, None,
     [F("alpine", 1), C("nginx:1.25", 2)], ("",), 2),
    ("COPY --from a registry image by digest; scratch is not an image",
     f"FROM scratch\nCOPY --from=localhost:5000/acme/tools@{SHA} /bin /bin\n", {}, None,
     [C(f"localhost:5000/acme/tools@{SHA}", 2)], ("",), 2),
    ("COPY --from the current or a later stage is an image to the classic builder",
     "FROM alpine AS a\nCOPY --from=a /x /x\nCOPY --from=b /y /y\nFROM busybox AS b\n", {}, None,
     [F("alpine", 1), C("a", 2), C("b", 3), F("busybox", 4)], ("a", "b"), 4),
    ("COPY --from a stage name is case-insensitive",
     "FROM alpine AS Builder\nFROM busybox\nCOPY --from=BUILDER /a /a\n", {}, None,
     [F("alpine", 1), F("busybox", 2)], ("builder", ""), 3),
    ("line continuations", "FROM \\\n  alpine:3.19 \\\n  AS build\nRUN echo\n", {}, None,
     [F("alpine:3.19", 1)], ("build",), 2),
    ("comment and empty lines inside a continuation",
     "FROM alpine\nRUN echo a \\\n  # a comment\n\n  && echo b\n"
     "COPY --from=busybox:1.36 /bin/busybox /bin/\n", {}, None,
     [F("alpine", 1), C("busybox:1.36", 6)], ("",), 3),
    ("escape directive switches to backtick",
     "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n  AS build\nRUN dir c:\\\n"
     "FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nCOPY --from=build c:\\a c:\\b\n", {}, None,
     [F("mcr.microsoft.com/windows/servercore:ltsc2022", 2),
      F("mcr.microsoft.com/windows/nanoserver:ltsc2022", 5)], ("build", ""), 4),
    ("syntax directive then comments", "# syntax=docker/dockerfile:1\n# a comment\nFROM alpine\n", {}, None,
     [F("alpine", 3)], ("",), 1),
    ("a directive after a comment is just a comment",
     "# comment\n# escape=`\nFROM alpine \\\n  AS x\n", {}, None,
     [F("alpine", 3)], ("x",), 1),
    ("indented comment lines", "   # comment\nFROM alpine\n  # another\nRUN x\n", {}, None,
     [F("alpine", 2)], ("",), 2),
    ("JSON form instructions", 'FROM alpine\nCOPY --from=tools ["/a b", "/c"]\nCMD ["sh"]\n', {}, None,
     [F("alpine", 1), C("tools", 2)], ("",), 3),
    ("RUN --mount from an image, a stage and none",
     "FROM alpine AS base\n"
     "RUN --mount=type=cache,target=/root/.cache,from=cachepkgs/img:1 pip install x\n"
     "RUN --mount=from=base,target=/b ls\n"
     "RUN --mount=type=bind,from=ghcr.io/acme/data:2,source=/d,target=/d cat /d/x\n"
     "RUN --mount=type=tmpfs,target=/tmp true\n", {}, None,
     [F("alpine", 1), M("cachepkgs/img:1", 2), M("ghcr.io/acme/data:2", 4)], ("base",), 5),
    ("target stops before later stages",
     "FROM golang:1.22 AS build\nFROM alpine AS runtime\nRUN true\nFROM debian:12 AS debug\n", {}, "runtime",
     [F("golang:1.22", 1), F("alpine", 2)], ("build", "runtime"), 3),
    ("target matches case-insensitively",
     "FROM golang:1.22 AS build\nFROM alpine AS runtime\nFROM debian:12 AS debug\n", {}, "RUNTIME",
     [F("golang:1.22", 1), F("alpine", 2)], ("build", "runtime"), 2),
    ("ONBUILD triggers are not this image's dependencies",
     "FROM alpine\nONBUILD COPY --from=builder:1 /a /a\n", {}, None,
     [F("alpine", 1)], ("",), 2),
    ("heredoc content is not parsed",
     "FROM alpine\nRUN <<EOF\nFROM evil\nCOPY --from=evil2 a b\nEOF\nCOPY --from=busybox /bin/busybox /b\n", {}, None,
     [F("alpine", 1), C("busybox", 6)], ("",), 3),
    ("heredoc with <<- and a tab-indented terminator",
     'FROM alpine\nCOPY <<-"END" /etc/motd\n\thello\n\tEND\nFROM busybox\n', {}, None,
     [F("alpine", 1), F("busybox", 5)], ("", ""), 3),
    ("byte-order mark and CRLF line endings", "\ufeffFROM alpine \\\r\n  AS a\r\nRUN true\r\n", {}, None,
     [F("alpine", 1)], ("a",), 2),
    ("digest and image ID references", f"FROM alpine@{SHA}\nFROM {'b' * 64}\n", {}, None,
     [F(f"alpine@{SHA}", 1), F("b" * 64, 2)], ("", ""), 2),
    ("each use is listed", "FROM alpine\nFROM alpine\nCOPY --from=alpine /a /a\n", {}, None,
     [F("alpine", 1), F("alpine", 2), C("alpine", 3)], ("", ""), 3),
    ("built-in proxy args substitute without declaration", "FROM ${HTTP_PROXY:-alpine}\n",
     {"HTTP_PROXY": "proxy"}, None, [F("proxy", 1)], ("",), 1),
]


@pytest.mark.parametrize("text,args,target,refs,stages,steps",
                         [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_dockerfile_shapes(text, args, target, refs, stages, steps):
    info = parse_dockerfile(text, args, target)
    assert list(info.references) == refs
    assert info.stages == stages
    assert info.steps == steps


ERRORS = [
    ("empty file", "", {}, None, 0, "file with no instructions"),
    ("only comments", "# hello\n\n", {}, None, 0, "file with no instructions"),
    ("instruction before FROM", "RUN x\nFROM alpine\n", {}, None, 1, "no build stage in current context"),
    ("FROM without image", "FROM\n", {}, None, 1, "FROM requires either one or three arguments"),
    ("FROM with two words", "FROM alpine builder\n", {}, None, 1, "FROM requires either one or three arguments"),
    ("--platform with a space", "FROM --platform linux/amd64 alpine\n", {}, None, 1,
     "FROM requires either one or three arguments"),
    ("unknown FROM flag", "FROM --plaform=linux/amd64 alpine\n", {}, None, 1,
     "unknown flag: plaform (did you mean platform?)"),
    ("bad stage name", "FROM alpine AS 1st\n", {}, None, 1,
     "invalid name for build stage: '1st', name can't start with a number or contain symbols"),
    ("unknown instruction", "FROM alpine\nRUNN make\n", {}, None, 2, "unknown instruction: RUNN (did you mean RUN?)"),
    ("missing target", "FROM alpine AS build\n", {}, "buidl", 0,
     "target stage 'buidl' could not be found (did you mean 'build'?)"),
    ("upper-case image name", "FROM Alpine\n", {}, None, 1, "repository names must be lowercase"),
    ("blank base after expansion", "ARG X\nFROM $X\n", {}, None, 2, "base name ($X) should not be blank"),
    ("duplicate stage name", "FROM alpine AS a\nFROM busybox AS a\n", {}, None, 2, "a stage name already used"),
    ("COPY --from with a variable", "ARG V=x\nFROM alpine\nCOPY --from=$V /a /a\n", {}, None, 3,
     "does not expand variables in COPY --from"),
    ("COPY --from the current stage index", "FROM alpine\nFROM busybox\nCOPY --from=1 /a /a\n", {}, None, 3,
     "refers to current build stage"),
    ("COPY --from an index out of bounds", "FROM alpine\nCOPY --from=5 /a /a\n", {}, None, 2, "index out of bounds"),
    ("COPY --from twice", "FROM alpine\nCOPY --from=a --from=b /a /a\n", {}, None, 2, "duplicate flag specified: from"),
    ("COPY with one argument", "FROM alpine\nCOPY onlyone\n", {}, None, 2, "COPY requires at least two arguments"),
    ("JSON array of non-strings", 'FROM alpine\nCMD ["a", 1]\n', {}, None, 2,
     "arrays must be comprised of strings only"),
    ("invalid escape token", "# escape=x\nFROM alpine\n", {}, None, 1, "invalid escape token 'x'"),
    ("escape directive twice", "# escape=`\n# escape=\\\nFROM alpine\n", {}, None, 2,
     "only one escape parser directive can be used"),
    ("unterminated heredoc", "FROM alpine\nRUN <<EOF\necho\n", {}, None, 2, "unterminated heredoc"),
    ("unclosed ${", "FROM alpine:${TAG\n", {}, None, 1, "syntax error: missing '}'"),
    ("RUN --mount from with a variable", "FROM alpine\nRUN --mount=from=$X,target=/x true\n", {}, None, 2,
     "'from' doesn't support variable expansion"),
    ("ONBUILD FROM", "FROM alpine\nONBUILD FROM busybox\n", {}, None, 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("ARG without a name", "ARG =x\nFROM alpine\n", {}, None, 1, "ARG names can not be blank"),
    ("ENV without value", "FROM alpine\nENV ONLYKEY\n", {}, None, 2, "ENV must have two arguments"),
    ("ENV with a blank name", "FROM alpine\nENV =x\n", {}, None, 2, "ENV names can not be blank"),
]


@pytest.mark.parametrize("text,args,target,line,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_dockerfile_errors(text, args, target, line, message):
    with pytest.raises(DockerfileError) as exc:
        parse_dockerfile(text, args, target)
    assert exc.value.line == line
    assert message in exc.value.message
    assert str(exc.value) == (f"line {line}: {exc.value.message}" if line else exc.value.message)


def test_errors_after_the_target_stage_are_not_reported_unless_syntax():
    # The classic builder parses the whole file but only dispatches up to the target: a bad
    # image name in a later stage does not fail the build, an unknown instruction does.
    text = "FROM alpine AS build\nFROM Bad-Name AS later\n"
    assert parse_dockerfile(text, {}, "build").stages == ("build",)
    with pytest.raises(DockerfileError, match="unknown instruction"):
        parse_dockerfile("FROM alpine AS build\nFROM x AS later\nFOO bar\n", {}, "build")


def test_build_args_mapping_is_not_mutated():
    args = {"TAG": "1"}
    parse_dockerfile("ARG TAG=0\nARG OTHER=2\nFROM a:$TAG\n", args)
    assert args == {"TAG": "1"}
