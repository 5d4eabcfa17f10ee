"""dueq: the composition root that mounts the scheduler's and the worker's commands."""

__all__ = ["__version__"]

__version__ = "0.1.0"
