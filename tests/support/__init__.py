"""Helpers shared by the test suites (real processes, real files; no mocks)."""
