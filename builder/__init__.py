"""images: a declarative Docker image-build orchestrator."""
__version__ = "0.1.0"
