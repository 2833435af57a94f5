"""Manifest layer: YAML -> validated, typed model. No Docker, no graph."""
from builder.manifest.model import ImageSpec, Manifest, Pos

__all__ = ["ImageSpec", "Manifest", "Pos", "load_manifest"]


def load_manifest(path, variables=None, environ=None, cwd=None):
    """Load and validate ``path``; raise ManifestError with every problem found."""
    from builder.manifest.loader import load

    return load(path, variables=variables, environ=environ, cwd=cwd)
