"""What a channel hands the core (Incoming) and what the core hands back (Reply).

Modelled on NoneBot2's Event: the business logic needs who spoke, where, what they said and what
they attached; everything platform-specific stays in the channel that translated it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class ChatKind(StrEnum):
    """Whether a chat is one person talking to duban or a group."""

    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True)
class ChatRef:
    """A platform-neutral address of a chat, stored in the database and pushed to later.

    `channel` is "telegram", "wecom", "wecom-robot" or "console"; `chat_id` is the platform's id as text
    (a Telegram chat id, a WeCom UserID, a robot name).
    """

    channel: str
    chat_id: str
    kind: ChatKind = ChatKind.PRIVATE

    def key(self) -> str:
        """Return a compact text form, e.g. ``telegram:12345``."""
        return f"{self.channel}:{self.chat_id}"


@dataclass(frozen=True)
class Attachment:
    """A file a user sent: the channel has already saved its bytes to `path` (a temporary file)."""

    file_name: str
    path: Path
    mime_type: str = "application/octet-stream"
    size: int = 0


@dataclass(frozen=True)
class Incoming:
    """One message or button press, normalised from any channel."""

    channel: str
    user_id: str
    chat: ChatRef
    text: str = ""
    user_name: str = ""
    attachments: tuple[Attachment, ...] = ()
    callback: str | None = None  # opaque data of a pressed choice (button)
    message_id: str = ""  # the platform's id, for de-duplication and logs
    reply_limit: int = 3500  # characters one reply may carry on this channel; longer answers are paged

    @property
    def is_group(self) -> bool:
        """Tell whether this came from a group chat."""
        return self.chat.kind is ChatKind.GROUP


@dataclass(frozen=True)
class Choice:
    """A button under a reply; `data` is opaque and short (Telegram allows 64 bytes)."""

    label: str
    data: str


@dataclass(frozen=True)
class OutFile:
    """A file to send with a reply (a spreadsheet, a chart)."""

    file_name: str
    path: Path
    is_image: bool = False


@dataclass(frozen=True)
class Reply:
    """What the core says back: plain Chinese text, optional choices and an optional file.

    Text is plain (no markup); each channel escapes and formats it for its platform.
    `link` is an optional (title, url) pair, e.g. an upload page, rendered as a button or textcard.
    """

    text: str
    choices: tuple[Choice, ...] = ()
    file: OutFile | None = None
    link: tuple[str, str] | None = None
    edit: bool = False  # replace the message whose button was pressed, where the platform can


@dataclass(frozen=True)
class Push:
    """A proactive message (reminder, digest, notice) addressed to a stored chat."""

    to: ChatRef
    reply: Reply
    dedupe_key: str = ""  # ledger key, so a retried push is recognised
    tags: tuple[str, ...] = field(default=())
