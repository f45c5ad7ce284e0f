"""sparkwing-postgres: the PostgreSQL state store (one database shared by a team's runners)."""

__version__ = "0.1.0"
