"""Test support for sparkwing and its plugins: fixtures and store conformance suites."""
