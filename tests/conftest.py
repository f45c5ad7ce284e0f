"""Shared fixtures for the whole suite live in sparkwing.testing (a pytest plugin)."""
