"""Fixtures shared by unit and integration tests: a throwaway git repository."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, Optional, Union

import pytest

_IDENTITY = ("-c", "user.name=images tests", "-c", "user.email=tests@images.invalid",
             "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false")


class GitRepo:
    """A git repository in a temporary folder, driven by the real ``git``."""

    def __init__(self, root: Path):
        self.root = root

    def git(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["HOME"] = str(self.root.parent)      # no user configuration either
        proc = subprocess.run(["git", *_IDENTITY, *args], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
        return proc.stdout.strip()

    def write(self, files: Dict[str, Union[str, bytes, None]]) -> None:
        """Write (or, with None, delete) files relative to the repository's root."""
        for name, content in files.items():
            path = self.root / name
            if content is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def commit(self, message: str = "change", files: Optional[Dict[str, Union[str, bytes, None]]] = None) -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, rev: str = "HEAD", annotated: bool = False) -> None:
        if annotated:
            self.git("tag", "-a", "-m", name, name, rev)
        else:
            self.git("tag", name, rev)


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """An empty repository (branch ``main``) in ``tmp_path / "repo"``."""
    root = tmp_path / "repo"
    root.mkdir()
    repo = GitRepo(root)
    repo.git("init", "-q", "-b", "main")
    return repo
