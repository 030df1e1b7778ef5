"""Which sessions use an instance, and deleting an instance that sessions use (refused unless forced)."""

from __future__ import annotations

from backend.errors import Conflict
from backend.instances.commands import delete_instance
from backend.sessions.service import Sessions
from backend.wording import plural
from events import Metadata

SHOWN = 20


async def sessions_using(sessions: Sessions, instance_id: str) -> list[tuple[str, str]]:
    """(id, name) of each non-archived session whose default or any agent uses the instance."""
    return [
        (row.session.id, row.session.name)
        for row in await sessions.view.all(sessions.store)
        if not row.session.archived
        and (row.session.default_instance_id == instance_id
             or any(agent.instance_id == instance_id for agent in row.session.agents))
    ]


async def delete_used_instance(
    sessions: Sessions, instance_id: str, metadata: Metadata, if_match: int | None, force: bool
) -> None:
    """Delete the instance; while sessions use it, only with `force` (their agents then refuse turns)."""
    users = await sessions_using(sessions, instance_id)
    if users and not force:
        named = ", ".join(f"{name!r} ({session_id})" for session_id, name in users[:SHOWN])
        raise Conflict(
            f"instance {instance_id} is used by {plural(len(users), 'session')}: {named}. "
            "Choose another model in them first, or delete with ?force=true"
        )
    await delete_instance(sessions.instances, instance_id, metadata, if_match)
