"""The one HTTP server `duban run` starts: WeCom callback, Telegram webhook, upload page and /healthz."""

from __future__ import annotations

from aiohttp import web

from bot.app import App


def build_web_app(app: App, *, max_upload_mb: int | None = None) -> web.Application:
    """Create the aiohttp application with /healthz; channels add their own routes to it."""
    limit = (max_upload_mb or app.settings.upload_max_mb) * 1024 * 1024
    web_app = web.Application(client_max_size=limit + 1024 * 1024)

    async def healthz(_request: web.Request) -> web.Response:
        plans = await app.store.plans.list_plans()
        return web.json_response({"ok": True, "plans": [p.key for p in plans]})

    web_app.router.add_get("/healthz", healthz)
    return web_app
