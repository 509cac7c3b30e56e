"""Typed errors. A UserError carries the Chinese sentence the user sees; anything else is a bug."""


class UserError(Exception):
    """A refusal or a problem with the user's input; its message is shown to the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(UserError):
    """The sender's role or unit does not allow this action."""


class NotFound(UserError):
    """The task, unit, file or code named does not exist."""


class PlanFileError(UserError):
    """A plan file (YAML or spreadsheet) is malformed; the message names file, task/row and field."""


class Transient(Exception):
    """Handling a message failed for a passing reason (the database or the network away for a moment).

    The message stays kept and is handled again after a pause: the user gets one real answer, late, not an
    apology. Raised with the original failure as its cause.
    """
