"""What a channel hands the core (Message) and what the core hands back (Reply).

Modelled on NoneBot2's Event: the business logic needs who spoke, where, what they said and what
they attached; everything platform-specific stays in the channel that translated it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


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


# The self-built app ("wecom") and the 智能机器人 ("wecom-bot") of one 企业 see the same member UserIDs: a person
# is known by their channel's realm (one row, one key, one role), while a chat stays on the channel it is on.
REALMS = {"wecom-bot": "wecom"}


def realm(channel: str) -> str:
    """Return the channel whose ids name the people of `channel` ("wecom-bot" people are "wecom" people)."""
    return REALMS.get(channel, channel)


def person_key(key: str) -> str:
    """Return a ``channel:user_id`` key in its realm: ``wecom-bot:zhangsan`` is ``wecom:zhangsan``."""
    channel, sep, user_id = key.partition(":")
    return f"{realm(channel)}{sep}{user_id}"


@dataclass(frozen=True)
class Media:
    """A file a message refers to, not fetched yet: the channel that decoded it knows how to fetch `ref`."""

    kind: str  # the platform's word for it ("document", "photo", "image", "file", "video"), for a default name
    ref: str  # what the platform fetches it by: a Telegram file_id, a WeCom MediaId, a download URL
    name: str = ""  # the file name as sent, when the platform says
    size: int = 0  # declared size in bytes, when the platform says (0: unknown)
    mime_type: str = ""
    secret: str = ""  # what decrypts it, where the platform encrypts files (the WeCom bot's aeskey)


ENTERED = "entered"  # Envelope.event: the person opened the chat with duban (apps fire it on every open)
FOLLOWED = "followed"  # Envelope.event: the person was just given duban (added to the app's members)
UNSUPPORTED = "unsupported"  # Envelope.event: a kind of message duban cannot read (a location, a link, a voice note)


@dataclass(frozen=True)
class Envelope:
    """One message from any platform, decoded once: what the intake keeps before acknowledging, and handles.

    `key` is the platform's delivery id (a redelivery has the same key). Media are references, fetched only when
    the message is handled. `group` names messages sent together (a Telegram album), handled as one.
    `reply_to` is how the platform lets us reply to this very message (a button press's query id, a long
    connection's req_id); it means something only to the channel that decoded it.
    """

    key: str
    chat: ChatRef
    user_id: str
    user_name: str = ""
    text: str = ""
    callback: str | None = None
    media: tuple[Media, ...] = ()
    event: str = ""
    message_id: str = ""  # the platform's id of the message itself
    group: str = ""
    reply_to: Mapping[str, str] = field(default_factory=dict)

    @property
    def channel(self) -> str:
        """Return the channel the message came on."""
        return self.chat.channel

    def to_json(self) -> dict[str, Any]:
        """Return the form the intake stores (plain JSON types)."""
        out: dict[str, Any] = {"v": 1, "key": self.key, "channel": self.chat.channel, "chat": self.chat.chat_id,
                               "kind": self.chat.kind.value, "user": self.user_id}
        for name, value in (("name", self.user_name), ("text", self.text), ("event", self.event),
                            ("message_id", self.message_id), ("group", self.group)):
            if value:
                out[name] = value
        if self.callback is not None:
            out["callback"] = self.callback
        if self.media:
            out["media"] = [{k: v for k, v in vars(m).items() if v} for m in self.media]
        if self.reply_to:
            out["reply_to"] = dict(self.reply_to)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Envelope | None:
        """Rebuild a stored envelope; None for anything that is not one (a row kept in another layout)."""
        if data.get("v") != 1:
            return None
        return cls(
            key=str(data["key"]), chat=ChatRef(str(data["channel"]), str(data["chat"]), ChatKind(data["kind"])),
            user_id=str(data["user"]), user_name=str(data.get("name", "")), text=str(data.get("text", "")),
            callback=None if data.get("callback") is None else str(data["callback"]),
            media=tuple(Media(**m) for m in data.get("media", ())), event=str(data.get("event", "")),
            message_id=str(data.get("message_id", "")), group=str(data.get("group", "")),
            reply_to={str(k): str(v) for k, v in (data.get("reply_to") or {}).items()})


@dataclass(frozen=True)
class Attachment:
    """A file a user sent: the channel has already saved its bytes to `path` (a temporary file)."""

    file_name: str
    path: Path
    mime_type: str = "application/octet-stream"
    size: int = 0


@dataclass(frozen=True)
class Message:
    """One message or button press, normalised from any channel."""

    channel: str
    user_id: str
    chat: ChatRef
    text: str = ""
    user_name: str = ""
    attachments: tuple[Attachment, ...] = ()
    callback: str | None = None  # opaque data of a pressed choice (button)
    message_id: str = ""  # the platform's id of the message, for logs
    reply_limit: int = 3500  # characters one listing page may carry on this channel; longer lists are paged
    event: str = ""  # ENTERED, FOLLOWED or UNSUPPORTED (a kind of message duban cannot read); text is then empty

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
