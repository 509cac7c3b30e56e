"""Persistence: SQLModel tables, the engine, repositories that return plain values, plan files."""
