"""Form pieces shared by the pages: labelled inputs with their field error, and API refusals split per field."""

from __future__ import annotations

import httpx
import reflex as rx

from frontend.api import Problem

UNREACHABLE = "The Switchboard API could not be reached; try again."
RequestFailure = Problem | httpx.HTTPError
REQUEST_FAILURES = (Problem, httpx.HTTPError)  # what a call of the API may raise


def split_problem(problem: Problem, fields: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """Errors for the form's own fields, and everything else as one message for the top of the form."""
    by_field: dict[str, str] = {}
    rest: list[str] = []
    for error in problem.errors:
        if error.field in fields:
            by_field.setdefault(error.field, error.message)
        else:
            rest.append(f"{error.field}: {error.message}")
    general = "; ".join(rest) or ("" if by_field else str(problem))
    return by_field, general


def describe_failure(error: RequestFailure) -> str:
    """A one-line message for a refused or failed request."""
    return str(error) if isinstance(error, Problem) else UNREACHABLE


def labelled(label: str, control: rx.Component, field_id: str, error: rx.Var[str] | str = "") -> rx.Component:
    """A label above its input, with the field's error (if any) below it."""
    return rx.flex(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=field_id),
        control,
        rx.cond(error, rx.text(error, size="1", color_scheme="red", class_name="field-error")),
        direction="column",
        spacing="1",
        width="100%",
    )


def text_field(
    label: str, field_id: str, name: str, error: rx.Var[str] | str = "", **props: object
) -> rx.Component:
    return labelled(label, rx.input(id=field_id, name=name, width="100%", **props), field_id, error)


def error_callout(message: rx.Var[str]) -> rx.Component:
    """A red notice shown only while `message` is not empty."""
    return rx.cond(
        message,
        rx.callout(message, icon="triangle_alert", color_scheme="red", size="1", class_name="form-error"),
    )
