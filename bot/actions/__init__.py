"""What people do with the plan, once for every way in: chat handlers, desk pages and the CLI call the same actions.

Each action takes the actor (who, through which channel, with the services) and typed arguments, checks access in
one place (`bot.actions.access`), writes the change and its audit, tells whoever must know (pushes through the
outbox), and returns a typed result. Refusals are `UserError`s in plain Chinese that name no command: chat adds
its own usage hints, the desk its own web words. Nothing here knows a channel, a page or a chat command.
"""
