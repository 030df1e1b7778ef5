"""Checks of our own for the generated-request run: every refusal (4xx) is problem+json with its status and a
title, and a validation refusal names each field it refused. Loaded by schemathesis through its hooks setting."""

from __future__ import annotations

import json

import schemathesis
from schemathesis import Case, Response
from schemathesis.checks import CheckContext

PROBLEM_JSON = "application/problem+json"
NAMES_FIELDS = (400, 422)
"""Refusals that carry `errors`, each naming a field (a 400 for a malformed body may have none: it names no field)."""


@schemathesis.check
def refusals_are_problems(ctx: CheckContext, response: Response, case: Case) -> None:
    if not 400 <= response.status_code < 500:
        return
    media = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if media != PROBLEM_JSON:
        raise AssertionError(f"a {response.status_code} answered {media or 'no content type'}, not {PROBLEM_JSON}")
    problem = json.loads(response.content)
    if problem.get("status") != response.status_code or not problem.get("title"):
        raise AssertionError(f"the problem lacks its status or title: {problem}")
    errors = problem.get("errors") if response.status_code in NAMES_FIELDS else None
    if errors is not None and not all(isinstance(e, dict) and e.get("field") and e.get("message") for e in errors):
        raise AssertionError(f"an error names no field or says nothing: {errors}")
