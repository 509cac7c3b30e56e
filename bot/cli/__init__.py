"""The `duban` command: one module per group of subcommands, registered in bot/cli/main.py.

The CLI is outer shell, like the channels and the desk: it builds the App and calls actions, the store or the
runtime. Nothing inside duban imports it.
"""
