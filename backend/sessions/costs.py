"""What a session cost at the prices recorded with each turn, beside what it would cost at today's prices."""

from __future__ import annotations

from backend.sessions.pricing import Tokens, cost_of, price_in_force
from backend.sessions.schemas import SessionCost, TurnCost
from backend.sessions.service import Sessions
from backend.sessions.view import TurnOut


def _tokens(turn: TurnOut) -> Tokens:
    return Tokens(turn.input_tokens, turn.output_tokens, turn.cache_read_tokens, turn.cache_write_tokens)


def turn_cost(sessions: Sessions, turn: TurnOut) -> TurnCost:
    """The turn's recorded cost beside its cost at the catalog's prices now (None: unknown)."""
    current = cost_of(
        _tokens(turn), price_in_force(sessions.catalog, turn.provider_id, turn.model_id), turn.provider_type
    )
    return TurnCost(
        turn_id=turn.turn_id, model_id=turn.model_id, provider_id=turn.provider_id,
        cost_usd=turn.cost_usd, current_cost_usd=current,
    )


async def session_cost(sessions: Sessions, session_id: str) -> SessionCost:
    """Every turn's recorded cost and its cost at the catalog's prices now (custom overrides included)."""
    await sessions.row(session_id)
    by_turn = [turn_cost(sessions, turn) for turn in await sessions.view.turns(sessions.store, session_id)]
    return SessionCost(
        session_id=session_id,
        turns=len(by_turn),
        cost_usd=round(sum(turn.cost_usd or 0.0 for turn in by_turn), 10),
        unknown_cost_turns=sum(turn.cost_usd is None for turn in by_turn),
        current_cost_usd=round(sum(turn.current_cost_usd or 0.0 for turn in by_turn), 10),
        current_unknown_cost_turns=sum(turn.current_cost_usd is None for turn in by_turn),
        by_turn=by_turn,
    )
