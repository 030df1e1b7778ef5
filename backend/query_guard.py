"""Refuse query parameters a route does not declare, so a typo is an error, not a silent no-op."""

from __future__ import annotations

from functools import cache

from litestar import Request
from litestar.exceptions import ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.params import ParameterKwarg
from litestar.utils.signature import ParsedSignature


@cache
def _declared_names(handler: BaseRouteHandler) -> frozenset[str]:
    """The query names the handler takes, itself or through its dependencies (a filter shared by two routes)."""
    signatures = [handler.parsed_fn_signature]
    signatures += [provide.parsed_fn_signature for provide in handler.resolve_dependencies().values()]
    return frozenset().union(*map(_query_names, signatures))


def _query_names(signature: ParsedSignature) -> set[str]:
    names: set[str] = set()
    for name, field in signature.parameters.items():
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
            continue
        query = (kwarg.query or kwarg.name) if isinstance(kwarg, ParameterKwarg) else None
        names.add(query or name)
    return names


def refuse_unknown_query_params(request: Request) -> None:
    """A before-request hook: 400 naming every query parameter the handler does not take."""
    declared = _declared_names(request.route_handler)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise ValidationException(
            "Unknown query parameter",
            extra=[{"key": name, "message": "unknown query parameter"} for name in unknown],
        )
