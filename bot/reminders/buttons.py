"""The reminder message's buttons: the question kind and actions shared by the engine and the handler."""

from __future__ import annotations

import secrets
from typing import Any

from bot.core.messages import Choice
from bot.core.views import Question

KIND = "remind"
VIEW = "view"
UPLOAD = "upload"
SNOOZE = "snooze"


class Buttons:
    """The buttons of a pushed message, each with the question it answers (kept with the message's claim)."""

    def __init__(self, person: str) -> None:
        self.person = person
        self.questions: list[Question] = []
        self.choices: list[Choice] = []

    def ask(self, label: str, action: str, payload: dict[str, Any]) -> None:
        """Add a button that answers a reminder question with `action`."""
        token = secrets.token_urlsafe(6)
        self.questions.append(Question(token, self.person, KIND, {"action": action, **payload}))
        self.choices.append(Choice(label, f"{token}:{action}"))
