"""sparkwing-cli: the ``sparkwing`` command."""

__version__ = "0.1.0"
