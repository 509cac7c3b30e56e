"""What every group of subcommands shares: the command signature, the registration hook and the consoles."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable

from rich.console import Console

from bot.app import App

Command = Callable[[App, argparse.Namespace], Awaitable[None]]
Add = Callable[[str, Command, str], argparse.ArgumentParser]

err = Console(stderr=True, soft_wrap=True)  # what people read (never in --json output); the terminal wraps it
out = Console()


def print_json(data: object) -> None:
    """Write JSON for scripts to stdout (Chinese kept readable)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
