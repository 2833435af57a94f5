"""Values read from git (and the clock) for ``${GIT_SHA}`` and friends, and provenance labels.

Nothing runs until a value is asked for: a manifest that names none of them never starts git.
The commit's values come from one ``git rev-parse``; ``${GIT_TAG}`` and ``semver:`` add one
``git for-each-ref`` (every tag, with the commit it points at); ``${GIT_DIRTY}`` adds one
``git status``. Each answer is kept for the life of the object, and the object is safe to share
between threads (builds ask for provenance labels from worker threads).

These are the lowest-precedence values of interpolation: a variable of the same name in the
manifest, the environment or ``--var`` wins (see ``Interpolator``).
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Tuple

if TYPE_CHECKING:
    from builder.manifest.semver import Version

GIT_NAMES = ("GIT_SHA", "GIT_SHORT_SHA", "GIT_BRANCH", "GIT_TAG", "GIT_DIRTY")
BUILTIN_NAMES = GIT_NAMES + ("DATE",)
# A fixed length, git's own minimum abbreviation: `rev-parse --short` grows with the repository,
# and a tag that changes length from one clone to another would be a surprise.
SHORT_SHA_LENGTH = 7

# Branch names CI systems give when they check out a detached HEAD (first non-empty one wins).
# A tag pipeline's ref name is a tag, not a branch: those are skipped.
_CI_BRANCH = (
    ("GITHUB_HEAD_REF", None),                      # a pull request's source branch
    ("GITHUB_REF_NAME", ("GITHUB_REF_TYPE", "tag")),
    ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", None),  # GitLab merge request pipelines
    ("CI_COMMIT_BRANCH", None),
    ("CI_COMMIT_REF_NAME", ("CI_COMMIT_TAG", None)),
)


class GitUnavailable(Exception):
    """A git value was asked for and git cannot give it; ``str()`` says why, for a manifest error."""


class GitValues:
    """The git values of the work tree holding ``folder``.

    ``commit`` describes that commit instead of HEAD, as a clean checkout of it on the current
    branch would see it (``images changed --since`` loads an older manifest with it).
    ``now`` is the time ``${DATE}`` is taken from (default: ``SOURCE_DATE_EPOCH`` when set, else
    the time of the first use).
    """

    def __init__(self, folder: Path, environ: Optional[Mapping[str, str]] = None, *,
                 commit: Optional[str] = None, now: Optional[float] = None):
        self.folder = Path(folder)
        self.environ = os.environ if environ is None else environ
        self.commit = commit
        self._now = now
        self._lock = threading.RLock()
        self._done: Dict[str, object] = {}

    # -- the values ----------------------------------------------------------------------------

    def value(self, name: str) -> str:
        """The value of a builtin name (one of BUILTIN_NAMES); raise GitUnavailable."""
        if name == "DATE":
            return time.strftime("%Y%m%d", time.gmtime(self.now()))
        if name == "GIT_SHA":
            return self._head()[1]
        if name == "GIT_SHORT_SHA":
            return self._head()[1][:SHORT_SHA_LENGTH]
        if name == "GIT_BRANCH":
            return self.branch()
        if name == "GIT_TAG":
            return self.tag()
        if name == "GIT_DIRTY":
            return "dirty" if self.dirty() else ""
        raise KeyError(name)

    def now(self) -> float:
        with self._lock:
            if self._now is None:
                epoch = self.environ.get("SOURCE_DATE_EPOCH", "")
                self._now = float(epoch) if epoch.isdigit() else time.time()
            return self._now

    def toplevel(self) -> Path:
        return Path(self._head()[0])

    def sha(self) -> str:
        return self._head()[1]

    def branch(self) -> str:
        ref = self._head()[2]
        if ref.startswith("refs/heads/"):
            return ref[len("refs/heads/"):]
        for name, unless in _CI_BRANCH:      # detached: what the CI system says it checked out
            value = self.environ.get(name, "")
            if not value:
                continue
            if unless is not None:
                other, bad = unless
                other_value = self.environ.get(other, "")
                if (bad is None and other_value) or (bad is not None and other_value == bad):
                    continue
            return value
        return ""

    def tag(self) -> str:
        """The tag at the commit: the highest semantic version when there are several, else the
        last by name; empty when none."""
        from builder.manifest import semver

        head = self.sha()
        here = [name for name, commit in self.tags() if commit == head]
        if not here:
            return ""
        return semver.highest(here) or sorted(here)[-1]

    def tags(self) -> List[Tuple[str, str]]:
        """Every tag of the repository: (name, the commit it points at)."""
        with self._lock:
            if "tags" not in self._done:
                self.toplevel()  # the same diagnosis as every other value outside a work tree
                text = self._git("for-each-ref", "--format=%(objectname) %(*objectname) %(refname:strip=2)",
                                 "refs/tags")
                found = []
                for line in text.splitlines():
                    obj, peeled, name = line.split(" ", 2)
                    found.append((name, peeled or obj))
                self._done["tags"] = found
            return list(self._done["tags"])  # type: ignore[arg-type]

    def release_tags(self) -> List["Version"]:
        """The releases among the tags (``v?MAJOR.MINOR.PATCH``), for ``semver:``."""
        from builder.manifest import semver

        return semver.releases(name for name, _ in self.tags())

    def dirty(self) -> bool:
        """Whether tracked files differ from the commit (staged or not), as ``git describe
        --dirty`` sees it: untracked files do not count."""
        if self.commit is not None:
            return False
        with self._lock:
            if "dirty" not in self._done:
                self.toplevel()
                # --no-optional-locks: reading must not rewrite the index of the user's repository.
                text = self._git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no",
                                 front=True)
                self._done["dirty"] = bool(text.strip())
            return bool(self._done["dirty"])

    def remote_url(self) -> Optional[str]:
        """The ``origin`` remote's URL with any credentials taken out; None without one."""
        with self._lock:
            if "remote" not in self._done:
                try:
                    self.toplevel()
                    url = self._git("config", "--get", "remote.origin.url", ok=(0, 1)).strip()
                except GitUnavailable:
                    url = ""
                self._done["remote"] = strip_credentials(url) or None
            return self._done["remote"]  # type: ignore[return-value]

    # -- git itself ----------------------------------------------------------------------------

    def _head(self) -> Tuple[str, str, str]:
        """(toplevel, commit, symbolic ref or 'HEAD'), from one ``git rev-parse``."""
        with self._lock:
            if "head" not in self._done:
                lines = self._git("rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD",
                                  "--").splitlines()
                if len(lines) < 3:
                    raise GitUnavailable(f"git rev-parse gave no commit in {self.folder}")
                top, sha, ref = lines[0], lines[1], lines[2]
                if self.commit is not None:
                    sha = self.commit
                self._done["head"] = (top, sha, ref)
            return self._done["head"]  # type: ignore[return-value]

    def _git(self, *args: str, ok=(0,), front: bool = False) -> str:
        import subprocess  # only here: most runs never start git

        command = ["git", *args[:1], "-C", str(self.folder), *args[1:]] if front else \
                  ["git", "-C", str(self.folder), *args]
        try:
            proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=_git_env(), timeout=60)
        except FileNotFoundError:
            raise GitUnavailable("git is not installed (it is needed for the git values)") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitUnavailable(f"git could not run: {exc}") from None
        if proc.returncode not in ok:
            raise GitUnavailable(_diagnose(proc.stderr.decode("utf-8", "replace")))
        return proc.stdout.decode("utf-8", "surrogateescape")


def _git_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C"            # messages we recognise below
    env.pop("GIT_DIR", None)       # the manifest's own repository, whatever the caller's shell says
    env.pop("GIT_WORK_TREE", None)
    env.pop("GIT_INDEX_FILE", None)
    return env


def _diagnose(stderr: str) -> str:
    lowered = stderr.lower()
    if "not a git repository" in lowered or "must be run in a work tree" in lowered:
        return "the manifest is not in a git work tree"
    if "bad revision 'head'" in lowered or "ambiguous argument 'head'" in lowered:
        return "the git repository has no commit yet"
    first = next((line.strip() for line in stderr.splitlines() if line.strip()), "git failed")
    return first[len("fatal: "):] if first.startswith("fatal: ") else first


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@]*@)")


def strip_credentials(url: str) -> str:
    """``url`` without the ``user:password@`` of a URL with a scheme (CI systems put tokens there).

    An scp-like address (``git@host:org/repo.git``) names a login, not a secret, and is kept.
    """
    return _USERINFO.sub(lambda m: m.group("scheme"), url.strip())


def rfc3339(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(timestamp)))


class Provenance:
    """What the OCI provenance labels say of a build: revision, source and creation time.

    ``lookup`` is the interpolation lookup, so ``--var GIT_SHA=...`` (for a build from an
    exported tree without ``.git``) also sets the revision label.
    """

    def __init__(self, lookup: Callable[[str], Optional[str]], git: GitValues):
        self._lookup = lookup
        self.git = git

    def revision(self) -> Optional[str]:
        try:
            return self._lookup("GIT_SHA") or None
        except GitUnavailable:
            return None

    def source(self) -> Optional[str]:
        return self.git.remote_url()

    def created(self) -> str:
        epoch = self.git.environ.get("SOURCE_DATE_EPOCH", "")
        return rfc3339(float(epoch) if epoch.isdigit() else time.time())


# -- a revision's files, for `images changed --since` -----------------------------------------

def resolve_commit(folder: Path, rev: str) -> str:
    """The commit ``rev`` names in the repository holding ``folder``; raise GitUnavailable."""
    values = GitValues(folder)
    values.toplevel()
    text = values._git("rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}", ok=(0, 1))
    sha = text.strip()
    if not sha:
        raise GitUnavailable(f"unknown revision '{rev}' (in a shallow clone, fetch more history, e.g. "
                             "fetch-depth: 0)")
    return sha


def export_tree(folder: Path, commit: str, destination: Path, subdir: str = "") -> None:
    """Write the files of ``commit`` under ``subdir`` into ``destination``, as a checkout would.

    A private index is used (``GIT_INDEX_FILE``), so neither the repository's index, HEAD nor work
    tree changes. ``checkout-index`` applies the checkout filters and gives files the modes a
    checkout gives them (the umask applies, as it did to the work tree): the context digest
    hashes modes, and ``git archive``'s fixed modes would make every file look changed.
    """
    import subprocess

    values = GitValues(folder)
    top = values.toplevel()
    destination.mkdir(parents=True, exist_ok=True)
    index = destination.parent / f".{destination.name}.index"
    env = _git_env()
    env["GIT_INDEX_FILE"] = str(index)
    prefix = str(destination) + os.sep

    def git(*args: str, stdin: Optional[bytes] = None) -> bytes:
        proc = subprocess.run(["git", "-C", str(top), *args], input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=600)
        if proc.returncode != 0:
            raise GitUnavailable(_diagnose(proc.stderr.decode("utf-8", "replace")))
        return proc.stdout

    try:
        git("read-tree", commit)
        if subdir and subdir != ".":
            paths = git("ls-files", "-z", "--full-name", "--", f":(top,literal){subdir}")
            if paths:
                git("checkout-index", "-f", "-z", "--stdin", f"--prefix={prefix}", stdin=paths)
        else:
            git("checkout-index", "-a", "-f", f"--prefix={prefix}")
    finally:
        try:
            index.unlink()
        except OSError:
            pass
