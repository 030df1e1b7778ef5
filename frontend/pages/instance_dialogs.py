"""The Instances page's dialogs: add or edit, rotate key, delete, history and models."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import reflex as rx

from frontend import instances_api
from frontend.api import Problem
from frontend.forms import describe_failure, error_callout, labelled, split_problem, text_field
from frontend.pages.instances_state import InstancesState, shown_time

FORM_FIELDS = ("name", "endpoint", "timeout_ms", "api_key")
DEFAULT_TIMEOUT_MS = "30000"
KEYLESS_TYPES = ("ollama",)
SHOWN_PROVIDERS = 60
AVAILABILITY_COLORS = {"available": "green", "not_offered": "gray", "not_in_catalog": "amber"}


@dataclass
class ProviderChoice:
    id: str
    name: str
    type: str
    endpoint: str
    model_count: int


@dataclass
class HistoryRow:
    position: int
    time: str
    type: str
    actor: str
    summary: str


@dataclass
class ModelRow:
    id: str
    name: str
    availability: str


def is_keyless(provider: instances_api.ProviderDetail) -> bool:
    """Local servers take no key: Ollama, and any provider whose catalog entry names no key variable."""
    return provider.type in KEYLESS_TYPES or not (provider.api_key or "").strip()


def endpoint_hint(endpoint: str) -> str:
    """The placeholder for the endpoint field: the catalog's default, or where it is read from."""
    if endpoint.startswith("$"):
        return f"catalog default (from {endpoint})"
    return endpoint or "catalog default"


def parse_timeout(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isdigit() else None


class FailureState(rx.State):
    """What every dialog shows when the API refuses: errors next to fields, the rest on top."""

    errors: dict[str, str] = {}
    general_error: str = ""

    def _clear(self) -> None:
        self.errors = {}
        self.general_error = ""

    def _refused(self, failure: Problem | httpx.HTTPError, fields: tuple[str, ...]) -> None:
        if isinstance(failure, Problem):
            self.errors, self.general_error = split_problem(failure, fields)
        else:
            self.errors, self.general_error = {}, describe_failure(failure)


class InstanceFormState(FailureState):
    """The Add instance dialog (step 1: provider, step 2: settings) and the Edit dialog (settings only)."""

    is_open: bool = False
    editing_id: str = ""
    editing_version: int = 0
    step: int = 1
    query: str = ""
    providers: list[ProviderChoice] = []
    provider_id: str = ""
    provider_name: str = ""
    endpoint_placeholder: str = ""
    keyless: bool = False
    name: str = ""
    endpoint: str = ""
    timeout_ms: str = DEFAULT_TIMEOUT_MS
    saving: bool = False

    @rx.var
    def shown_providers(self) -> list[ProviderChoice]:
        words = self.query.casefold().split()
        found = [p for p in self.providers if all(w in f"{p.id} {p.name} {p.type}".casefold() for w in words)]
        return found[:SHOWN_PROVIDERS]

    @rx.var
    def asks_key(self) -> bool:
        """A new instance of a provider that takes a key; keys of existing ones are changed by rotation."""
        return self.editing_id == "" and not self.keyless

    @rx.event
    async def open_add(self) -> None:
        self._clear()
        self.editing_id, self.step, self.query, self.is_open = "", 1, "", True
        self.name, self.endpoint, self.timeout_ms = "", "", DEFAULT_TIMEOUT_MS
        try:
            summaries = await instances_api.catalog_providers()
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, ())
            return
        self.providers = [ProviderChoice(p.id, p.name, p.type, p.api_endpoint, p.model_count) for p in summaries]

    @rx.event
    async def choose(self, provider_id: str) -> None:
        try:
            provider = await instances_api.catalog_provider(provider_id)
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, ())
            return
        self.provider_id, self.provider_name = provider.id, provider.name
        self.endpoint_placeholder = endpoint_hint(provider.api_endpoint)
        self.keyless = is_keyless(provider)
        self.name = provider.name
        self.step = 2

    @rx.event
    def back(self) -> None:
        self._clear()
        self.step = 1

    @rx.event
    def search(self, query: str) -> None:
        self.query = query

    @rx.event
    def open_edit(self, instance_id: str, name: str, endpoint: str, timeout_ms: int, version: int) -> None:
        self._clear()
        self.editing_id, self.editing_version, self.step, self.is_open = instance_id, version, 2, True
        self.name, self.endpoint, self.timeout_ms = name, endpoint, str(timeout_ms)
        self.endpoint_placeholder = "catalog default"

    @rx.event
    def show(self, opened: bool) -> None:
        self.is_open = opened

    @rx.event
    async def save(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        """Create or change the instance; on refusal keep the dialog open with the errors shown."""
        self._clear()
        timeout_ms = parse_timeout(form.get("timeout_ms", ""))
        if timeout_ms is None:
            self.errors = {"timeout_ms": "must be a whole number of milliseconds"}
            return None
        self.saving = True
        try:
            await self._send(form, timeout_ms)
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, FORM_FIELDS)
            return None
        finally:
            self.saving = False
        self.is_open = False
        return InstancesState.reload()

    async def _send(self, form: dict[str, str], timeout_ms: int) -> None:
        fields: dict[str, object] = {"name": form.get("name", ""), "endpoint": form.get("endpoint", "").strip()}
        fields["timeout_ms"] = timeout_ms
        if self.editing_id:
            before = {"name": self.name, "endpoint": self.endpoint, "timeout_ms": parse_timeout(self.timeout_ms)}
            changes = {key: value for key, value in fields.items() if before[key] != value}
            if changes:
                await instances_api.update_instance(self.editing_id, self.editing_version, changes)
            return
        key = form.get("api_key", "")
        extra = {"api_key": key} if key and not self.keyless else {}
        await instances_api.create_instance({**fields, "provider_id": self.provider_id, **extra})


class RotateState(FailureState):
    """The Rotate key dialog: a new key, tested against the provider first when `verify` is set."""

    is_open: bool = False
    instance_id: str = ""
    instance_name: str = ""
    last4: str = ""
    verify: bool = True
    saving: bool = False

    @rx.event
    def open_for(self, instance_id: str, name: str, last4: str) -> None:
        self._clear()
        self.instance_id, self.instance_name, self.last4 = instance_id, name, last4
        self.verify, self.is_open = True, True

    @rx.event
    def show(self, opened: bool) -> None:
        self.is_open = opened

    @rx.event
    def choose_verify(self, verify: bool) -> None:
        self.verify = verify

    @rx.event
    async def save(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        self._clear()
        self.saving = True
        try:
            await instances_api.set_credential(self.instance_id, form.get("api_key", ""), self.verify)
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, ("api_key",))
            return None
        finally:
            self.saving = False
        self.is_open = False
        return InstancesState.reload()


class DeleteState(FailureState):
    """The confirmation before an instance (and its stored key) is deleted."""

    is_open: bool = False
    instance_id: str = ""
    instance_name: str = ""
    version: int = 0

    @rx.event
    def open_for(self, instance_id: str, name: str, version: int) -> None:
        self._clear()
        self.instance_id, self.instance_name, self.version, self.is_open = instance_id, name, version, True

    @rx.event
    def show(self, opened: bool) -> None:
        self.is_open = opened

    @rx.event
    async def confirm(self) -> rx.event.EventSpec | None:
        self._clear()
        try:
            await instances_api.delete_instance(self.instance_id, self.version)
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, ())
            return None
        self.is_open = False
        return InstancesState.reload()


class HistoryState(FailureState):
    """An instance's events, oldest first."""

    is_open: bool = False
    instance_name: str = ""
    rows: list[HistoryRow] = []

    @rx.event
    async def open_for(self, instance_id: str, name: str) -> None:
        self._clear()
        self.instance_name, self.rows, self.is_open = name, [], True
        try:
            events = await instances_api.instance_history(instance_id)
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, ())
            return
        self.rows = [HistoryRow(e.position, shown_time(e.recorded_at), e.type, e.actor, e.summary) for e in events]

    @rx.event
    def show(self, opened: bool) -> None:
        self.is_open = opened


class ModelsState(FailureState):
    """The catalog's models for an instance joined with what its endpoint listed at the last test."""

    is_open: bool = False
    instance_id: str = ""
    instance_name: str = ""
    tested: bool = False
    rows: list[ModelRow] = []

    def _show(self, models: instances_api.InstanceModels) -> None:
        self.tested = models.tested
        self.rows = [ModelRow(m.id, m.name, m.availability) for m in models.models]

    @rx.event
    async def open_for(self, instance_id: str, name: str) -> None:
        self._clear()
        self.instance_id, self.instance_name, self.rows, self.is_open = instance_id, name, [], True
        try:
            self._show(await instances_api.instance_models(instance_id))
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, ())

    @rx.event
    async def add(self, model_id: str) -> None:
        self._clear()
        try:
            self._show(await instances_api.add_listed_model(self.instance_id, model_id))
        except (Problem, httpx.HTTPError) as failure:
            self._refused(failure, ())

    @rx.event
    def show(self, opened: bool) -> None:
        self.is_open = opened


def dialog(state: type[FailureState], title: rx.Var[str] | str, *body: rx.Component, width: str = "480px") -> rx.Component:
    """A dialog opened and closed through `state.is_open`, with its refusal shown under the title."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(" ", size="1"),
            error_callout(state.general_error),
            *body,
            max_width=width,
        ),
        open=state.is_open,
        on_open_change=state.show,
    )


def dialog_buttons(*confirm: rx.Component, close_label: str = "Cancel") -> rx.Component:
    return rx.flex(
        rx.dialog.close(rx.button(close_label, variant="soft", color_scheme="gray", type="button")),
        *confirm,
        spacing="3",
        justify="end",
        margin_top="var(--space-4)",
    )


def _provider_choice(provider: ProviderChoice) -> rx.Component:
    return rx.button(
        rx.flex(
            rx.text(provider.name, weight="medium"),
            rx.text(provider.type, " · ", provider.model_count, " models", size="1", color_scheme="gray"),
            direction="column",
            align="start",
            width="100%",
        ),
        on_click=InstanceFormState.choose(provider.id),
        variant="surface",
        color_scheme="gray",
        height="auto",
        padding="var(--space-2)",
        justify="start",
        class_name="provider-choice",
        type="button",
    )


def _provider_step() -> rx.Component:
    return rx.flex(
        rx.input(
            placeholder="Search providers",
            value=InstanceFormState.query,
            on_change=InstanceFormState.search,
            id="provider-search",
            custom_attrs={"aria-label": "Search providers"},
        ),
        rx.scroll_area(
            rx.grid(rx.foreach(InstanceFormState.shown_providers, _provider_choice), columns="2", spacing="2"),
            max_height="360px",
            type="auto",
        ),
        dialog_buttons(),
        direction="column",
        spacing="3",
        margin_top="var(--space-3)",
    )


def _settings_step() -> rx.Component:
    errors = InstanceFormState.errors
    key_field = text_field(
        "API key", "instance-key", "api_key", errors["api_key"], type="password", auto_complete="off"
    )
    return rx.form(
        rx.flex(
            rx.cond(
                InstanceFormState.editing_id == "",
                rx.text("Provider: ", rx.text.strong(InstanceFormState.provider_name), size="2"),
            ),
            text_field("Name", "instance-name", "name", errors["name"], default_value=InstanceFormState.name),
            text_field(
                "Endpoint", "instance-endpoint", "endpoint", errors["endpoint"],
                default_value=InstanceFormState.endpoint, placeholder=InstanceFormState.endpoint_placeholder,
            ),
            text_field(
                "Timeout (ms)", "instance-timeout", "timeout_ms", errors["timeout_ms"],
                default_value=InstanceFormState.timeout_ms, input_mode="numeric",
            ),
            rx.cond(InstanceFormState.asks_key, key_field),
            rx.flex(
                rx.cond(
                    InstanceFormState.editing_id == "",
                    rx.button("Back", variant="ghost", type="button", on_click=InstanceFormState.back),
                ),
                dialog_buttons(rx.button("Save", type="submit", loading=InstanceFormState.saving)),
                justify="between",
                align="end",
            ),
            direction="column",
            spacing="3",
            margin_top="var(--space-3)",
        ),
        on_submit=InstanceFormState.save,
    )


def instance_form_dialog() -> rx.Component:
    title = rx.cond(InstanceFormState.editing_id == "", "Add instance", "Edit instance")
    body = rx.cond(InstanceFormState.step == 1, _provider_step(), _settings_step())
    return dialog(InstanceFormState, title, body, width="560px")


def rotate_dialog() -> rx.Component:
    form = rx.form(
        rx.flex(
            rx.text(
                "Current key ends in ", rx.code(rx.cond(RotateState.last4, RotateState.last4, "(none)")), size="2"
            ),
            text_field(
                "New API key", "rotate-key", "api_key", RotateState.errors["api_key"],
                type="password", auto_complete="off",
            ),
            rx.el.label(
                rx.flex(
                    rx.checkbox(checked=RotateState.verify, on_change=RotateState.choose_verify, id="rotate-verify"),
                    rx.text("Verify the new key with the provider first; keep the old key if it fails", size="2"),
                    spacing="2",
                    align="center",
                ),
            ),
            dialog_buttons(rx.button("Save key", type="submit", loading=RotateState.saving)),
            direction="column",
            spacing="3",
            margin_top="var(--space-3)",
        ),
        on_submit=RotateState.save,
    )
    return dialog(RotateState, "Rotate key · " + RotateState.instance_name, form)


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete instance"),
            rx.alert_dialog.description(
                "Delete ", rx.text.strong(DeleteState.instance_name), " and destroy its stored key? ",
                "Its history stays in the log.",
            ),
            error_callout(DeleteState.general_error),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button("Delete", color_scheme="red", on_click=DeleteState.confirm),
                spacing="3",
                justify="end",
                margin_top="var(--space-4)",
            ),
            max_width="440px",
        ),
        open=DeleteState.is_open,
        on_open_change=DeleteState.show,
    )


def _history_row(row: HistoryRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.position),
        rx.table.cell(row.time, white_space="nowrap"),
        rx.table.cell(rx.badge(row.type, variant="soft")),
        rx.table.cell(row.actor),
        rx.table.cell(row.summary),
    )


def history_dialog() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in ("#", "Time", "Event", "Actor", "Summary")))),
        rx.table.body(rx.foreach(HistoryState.rows, _history_row), id="history-rows"),
        size="1",
        width="100%",
    )
    body = rx.scroll_area(table, max_height="60vh", type="auto", margin_top="var(--space-3)")
    return dialog(HistoryState, "History · " + HistoryState.instance_name, body, dialog_buttons(close_label="Close"), width="900px")


def _model_row(row: ModelRow) -> rx.Component:
    add = rx.button("Add to catalog", size="1", variant="soft", on_click=ModelsState.add(row.id))
    return rx.table.row(
        rx.table.cell(rx.code(row.id, variant="ghost")),
        rx.table.cell(row.name),
        rx.table.cell(
            rx.badge(row.availability, color_scheme=rx.match(row.availability, *AVAILABILITY_COLORS.items(), "gray"))
        ),
        rx.table.cell(rx.cond(row.availability == "not_in_catalog", add)),
        class_name="model-row",
    )


def models_dialog() -> rx.Component:
    note = rx.cond(
        ModelsState.tested,
        rx.text("Compared with what the endpoint listed at its last successful test.", size="2", color_scheme="gray"),
        rx.text("Not tested yet: test the instance to see which models its endpoint offers.", size="2", color_scheme="gray"),
    )
    table = rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in ("Model", "Name", "Availability", "")))),
        rx.table.body(rx.foreach(ModelsState.rows, _model_row), id="model-rows"),
        size="1",
        width="100%",
    )
    body = rx.scroll_area(table, max_height="60vh", type="auto", margin_top="var(--space-3)")
    return dialog(ModelsState, "Models · " + ModelsState.instance_name, note, body, dialog_buttons(close_label="Close"), width="760px")
