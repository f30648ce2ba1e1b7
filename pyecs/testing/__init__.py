"""Helpers for testing with pyecs: the pytest plugin and offline test images."""
