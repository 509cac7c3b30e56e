"""Fakes at the wire: real HTTP servers that stand in for external APIs in tests."""
