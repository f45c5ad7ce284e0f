"""Conformance suites for the store contracts; a backend subclasses one per contract it implements."""
