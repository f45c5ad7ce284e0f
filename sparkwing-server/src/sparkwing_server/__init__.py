"""sparkwing-server: long-running sparkwing processes (the local dashboard first)."""

__version__ = "0.1.0"
