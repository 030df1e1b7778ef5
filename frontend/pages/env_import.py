"""The environment import page: which instances the server's provider keys would create, and creating them."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from frontend import instances_api
from frontend.auth import client_for, for_admins
from frontend.forms import REQUEST_FAILURES, describe_failure, error_callout
from frontend.layout import page_frame
from frontend.words import code_badge, default_endpoint_words, plural

COLUMNS = ("Instance", "Provider", "Variable", "Key", "Endpoint", "Sends to", "Action")


@dataclass
class CandidateRow:
    name: str
    provider_id: str
    variable: str
    key: str
    endpoint: str
    sends_to: str
    action: str


def _row_of(candidate: instances_api.EnvCandidate) -> CandidateRow:
    key = f"•••• {candidate.last4}" if candidate.last4 else "–"
    sends_to = candidate.sends_to or "nowhere: the endpoint is unresolved"
    endpoint = candidate.endpoint or default_endpoint_words(candidate.default_endpoint or "unresolved")
    return CandidateRow(
        candidate.name, candidate.provider_id, candidate.variable, key, endpoint, sends_to, candidate.action
    )


class EnvImportState(rx.State):
    """The preview of the import, and what the last apply did."""

    rows: list[CandidateRow] = []
    loaded: bool = False
    applying: bool = False
    result: str = ""
    error: str = ""

    async def _preview(self) -> None:
        try:
            self.rows = [_row_of(c) for c in await instances_api.preview_env_import(client_for(self))]
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.loaded = True

    @rx.event
    async def load(self) -> None:
        self.error, self.result = "", ""
        await self._preview()

    @rx.event
    async def apply(self) -> None:
        self.error, self.applying = "", True
        try:
            done = await instances_api.apply_env_import(client_for(self))
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        finally:
            self.applying = False
        self.result = f"Created {plural(len(done.created), 'instance')}; {len(done.existing):,} already present."
        await self._preview()

    @rx.var
    def creatable(self) -> int:
        return sum(1 for row in self.rows if row.action == "create")

    @rx.var
    def import_label(self) -> str:
        return f"Import {plural(self.creatable, 'instance')}"


def _candidate_row(row: CandidateRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.name),
        rx.table.cell(row.provider_id),
        rx.table.cell(rx.code(row.variable, variant="ghost")),
        rx.table.cell(row.key, white_space="nowrap"),
        rx.table.cell(rx.code(row.endpoint, variant="ghost"), class_name="env-endpoint"),
        rx.table.cell(rx.code(row.sends_to, variant="ghost"), class_name="env-sends-to"),
        rx.table.cell(code_badge(row.action, class_name="env-action", custom_attrs={"data-code": row.action})),
        class_name="env-candidate",
    )


def env_import_page() -> rx.Component:
    return page_frame(
        "Import from environment",
        rx.text(
            "Provider keys found in the server's environment (variables the catalog names that match *_API_KEY or "
            "*_TOKEN, or that the shipped catalog uses, and OLLAMA_HOST; never SWITCHBOARD_*). Only the last four "
            "characters of a key are shown; \"Sends to\" is where each key will be sent.",
            color_scheme="gray",
        ),
        error_callout(EnvImportState.error),
        rx.cond(EnvImportState.result, rx.callout(EnvImportState.result, icon="check", color_scheme="green", id="import-result")),
        rx.cond(
            EnvImportState.loaded & (EnvImportState.rows.length() == 0),
            rx.callout("No provider keys were found in the environment.", icon="info"),
        ),
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in COLUMNS))),
                rx.table.body(rx.foreach(EnvImportState.rows, _candidate_row), id="env-candidates"),
                width="100%",
            ),
            overflow_x="auto",
            margin_y="var(--space-4)",
            class_name="table-box",
        ),
        rx.flex(
            rx.link(rx.button("Back to instances", variant="soft"), href="/instances"),
            for_admins(
                rx.button(
                    EnvImportState.import_label,
                    on_click=EnvImportState.apply,
                    loading=EnvImportState.applying,
                    disabled=EnvImportState.creatable == 0,
                    id="apply-import",
                ),
            ),
            spacing="3",
            wrap="wrap",
        ),
    )
