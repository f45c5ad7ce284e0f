"""sparkwing-sqlite: the SQLite state store (the laptop default)."""

__version__ = "0.1.0"
