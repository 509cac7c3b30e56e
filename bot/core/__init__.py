"""Platform-free vocabulary: messages, replies, chat references, clock, errors, plan values, Chinese parsing.

Nothing here imports an SDK, SQLModel or APScheduler; every other layer may import from here.
"""
