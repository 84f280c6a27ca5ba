"""Acceptance tests: the example applications run as a user runs them."""
