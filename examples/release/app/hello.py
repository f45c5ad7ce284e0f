"""The application this example releases (a stand-in for your real code)."""

VERSION = "dev"


def greet(name: str) -> str:
    """Return a greeting."""
    return f"hello, {name}"
