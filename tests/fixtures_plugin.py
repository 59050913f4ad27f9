"""Fixtures for the plugin tests."""
