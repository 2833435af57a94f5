"""Manifest layer: YAML -> validated, typed model. No Docker, no graph."""
from builder.manifest.model import ImageSpec, Manifest, Pos

__all__ = ["ImageSpec", "Manifest", "Pos", "load_manifest"]


def load_manifest(path, variables=None, environ=None, cwd=None, git=None):
    """Load and validate ``path``; raise ManifestError with every problem found.

    ``git`` (a ``gitvalues.GitValues``) answers ``${GIT_SHA}`` and the other builtin values;
    by default, the work tree holding the manifest does, when one is named.
    """
    from builder.manifest.loader import load

    return load(path, variables=variables, environ=environ, cwd=cwd, git=git)
