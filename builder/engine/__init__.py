"""Engine layer: the only code that talks to Docker (through docker-py's low-level APIClient).

docker is imported lazily, inside the functions that need it, so that loading the package
(and ``images --help``) costs nothing.
"""
from builder.engine.docker_engine import DockerEngine, connect

__all__ = ["DockerEngine", "connect"]
