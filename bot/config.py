"""Settings: the only reader of environment variables (and of a `.env` file)."""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.messages import person_key
from bot.core.views import WarningRule

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"  # where links point unless DUBAN_PUBLIC_URL says otherwise


class Settings(BaseSettings):
    """Everything an operator can configure, each as a `DUBAN_*` variable."""

    model_config = SettingsConfigDict(env_prefix="DUBAN_", env_file=".env", extra="ignore")

    state_dir: Path = REPO_ROOT / "var"
    database_url: str = ""  # default: sqlite+aiosqlite:///<state_dir>/duban.db
    timezone: str = "Asia/Shanghai"
    today: dt.date | None = None  # pins "today" for demos and tests
    time: dt.time | None = None  # with `today`, pins the time of day too (a test that must not depend on the hour)
    coordinators: str = ""  # "telegram:12345,wecom:zhangsan,console:admin" (wecom: both WeCom channels)
    plan_file: Path = REPO_ROOT / "data" / "plans" / "pingshan-2023.yaml"  # loaded into an empty database
    plan: str = ""  # key of the plan chats work on; default: the most recently imported
    units_file: Path = REPO_ROOT / "data" / "units.yaml"
    invite_days: int = 7
    secret_key: str = ""  # signs upload links and buttons; generated into the state dir when empty

    # Telegram
    telegram_token: str = ""
    telegram_api_url: str = ""  # root of another Bot API server, e.g. http://127.0.0.1:8081
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    telegram_rate_limit: bool = True  # keep within Telegram's flood limits (30 msg/s, 20/min per group)
    telegram_download_limit_mb: int = 20  # the cloud Bot API's getFile cap; raise with a local server

    # WeCom
    wecom_corp_id: str = ""
    wecom_agent_id: int = 0
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_api_url: str = "https://qyapi.weixin.qq.com"
    wecom_replay_window_s: int = 300  # callbacks older than this are refused; 0 disables (tests replay old vectors)

    # WeCom 智能机器人 over the long connection (no public address needed)
    wecom_bot_id: str = ""
    wecom_bot_secret: str = ""
    wecom_bot_ws_url: str = "wss://openws.work.weixin.qq.com"
    wecom_bot_lease_s: int = 20  # one process holds the connection; another takes over this long after it died

    # Outbound proxy (bot.channels.proxy): HTTPS_PROXY / HTTP_PROXY / NO_PROXY as every tool reads them, or one
    # proxy for duban alone
    proxy: str = ""
    https_proxy: str = Field(default_factory=lambda: _standard_env("https_proxy"))
    http_proxy: str = Field(default_factory=lambda: _standard_env("http_proxy"))
    no_proxy: str = Field(default_factory=lambda: _standard_env("no_proxy"))

    # HTTP server (WeCom callback, Telegram webhook, upload page, /healthz)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = DEFAULT_PUBLIC_URL
    upload_max_mb: int = 200
    upload_link_hours: int = 24
    desk_idle_minutes: int = 120  # a desk session unused this long ends (sign in again from chat)

    # Reminders and digests
    reminder_offsets: str = "30,14,7,3,1,0"
    reminder_cooperating_offsets: str = "7,1"
    reminder_time: dt.time = dt.time(9, 0)
    catch_up_days: int = 3
    tick_seconds: int = 60
    digest_weekday: int = 0  # Monday
    snooze_workdays: int = 2
    scheduler: bool = True  # `duban run` ticks reminders; off for instances that only serve chat
    # The rhythm: progress check-ins and the traffic light (预警)
    checkin_day: int = Field(default=25, ge=1, le=31)  # the day of the month progress is asked
    warning_due_days: int = Field(default=14, ge=0)  # 黄: due within this many days, evidence missing
    warning_return_workdays: int = Field(default=5, ge=1)  # 红: a return not resubmitted within this many workdays

    # The escalation ladder: 催办 → 督办单 → 分管领导
    office_name: str = ""  # who signs a 督办通知单; default: the plan's district + 节水办 (坪山区节水办)
    notice_overdue_workdays: int = 3  # overdue this many workdays with nothing new: a 督办单 goes out by itself
    escalate_overdue_workdays: int = 10  # overdue this many workdays: the unit's 分管领导 is told
    escalate_urges: int = 3  # or urged this many times without the task moving since

    log_level: str = "WARNING"  # what reaches the terminal; the log file in the state directory gets INFO

    @field_validator("coordinators")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @property
    def tz(self) -> ZoneInfo:
        """Return the plan's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def db_url(self) -> str:
        """Return the async database URL, defaulting to a SQLite file in the state directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.state_dir / 'duban.db'}"

    @property
    def coordinator_keys(self) -> frozenset[str]:
        """Return configured coordinators as ``channel:user_id`` keys (asked on every message: read once per value)."""
        return _keys(self.coordinators)

    @property
    def warning_rule(self) -> WarningRule:
        """Return the traffic light's thresholds."""
        return WarningRule(self.warning_due_days, self.warning_return_workdays, self.checkin_day)

    def offsets(self, cooperating: bool = False) -> tuple[int, ...]:
        """Return the reminder offsets in days before a deadline."""
        raw = self.reminder_cooperating_offsets if cooperating else self.reminder_offsets
        return tuple(sorted({int(p) for p in raw.split(",") if p.strip()}, reverse=True))

    @property
    def telegram_enabled(self) -> bool:
        """Tell whether the Telegram channel is configured."""
        return bool(self.telegram_token)

    @property
    def wecom_enabled(self) -> bool:
        """Tell whether the WeCom channel is fully configured."""
        return all(
            (self.wecom_corp_id, self.wecom_agent_id, self.wecom_secret, self.wecom_token, self.wecom_aes_key)
        )


    @property
    def wecom_bot_enabled(self) -> bool:
        """Tell whether the WeCom 智能机器人 (long connection) is configured."""
        return bool(self.wecom_bot_id and self.wecom_bot_secret)


def secret_for(settings: Settings) -> bytes:
    """Return the signing key: configured, or created once in the state directory and kept."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.state_dir / "secret.key"
    if not path.exists():
        import os
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a name of this process's own, then linked into place: a link never replaces a
        # key another process (started at the same moment) put there first, so every process signs alike.
        tmp = path.with_name(f".secret-{os.getpid()}-{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process's key won
        finally:
            tmp.unlink()
    return path.read_text().strip().encode()



def _standard_env(name: str) -> str:
    """Read a standard proxy variable (no DUBAN_ prefix), the lower-case spelling first as curl and urllib do."""
    return os.environ.get(name) or os.environ.get(name.upper()) or ""


@functools.lru_cache(maxsize=8)
def _keys(listed: str) -> frozenset[str]:
    # `wecom-bot:x` is accepted as another name of `wecom:x`: one person on both WeCom channels
    return frozenset(person_key(p.strip()) for p in listed.split(",") if p.strip())
