"""How the desk and the exports name the people in them: 「李老师（区教育局）」, never a key like `console:李老师`."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from bot.store.store import Store


async def person_labels(store: Store, coordinator_keys: Collection[str], keys: Iterable[str]) -> dict[str, str]:
    """Return the label of each person the keys name; someone named in DUBAN_COORDINATORS is 节水办 here as everywhere.

    A key no one answers to is left out (the caller shows it as it is).
    """
    found = await store.people.many(set(keys))
    return {key: (replace(p, coordinator=True) if key in coordinator_keys else p).label for key, p in found.items()}
