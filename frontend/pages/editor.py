"""The custom provider editor (new from a template, or edit/override an existing one) and Catwalk JSON import."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import msgspec
import reflex as rx

from frontend import catalog_api
from frontend.api import Problem
from frontend.auth import AuthState, client_for, for_admins
from frontend.layout import page_frame
from frontend.words import plural

MODEL_FIELDS = ("id", "name", "context_window", "default_max_tokens", "cost_in", "cost_out")
PROVIDER_FIELDS = ("id", "name", "type", "api_endpoint", "api_key", "default_large_model_id", "default_small_model_id", "models")
NUMBER_FIELDS = {"context_window": int, "default_max_tokens": int, "cost_in": float, "cost_out": float}
API_NAMES = {"cost_in": "cost_per_1m_in", "cost_out": "cost_per_1m_out"}


@dataclass
class ModelDraft:
    """One model row as typed, with the error the API gave for each of its fields."""

    id: str = ""
    name: str = ""
    context_window: str = "8192"
    default_max_tokens: str = "4096"
    cost_in: str = "0"
    cost_out: str = "0"
    price_unknown: bool = False
    base: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _draft_of(model: catalog_api.ModelInfo) -> ModelDraft:
    return ModelDraft(
        id=model.id, name=model.name, context_window=str(model.context_window),
        default_max_tokens=str(model.default_max_tokens), cost_in=f"{model.cost_per_1m_in:g}",
        cost_out=f"{model.cost_per_1m_out:g}", price_unknown=model.price_status == "unknown",
        base=msgspec.json.encode(model).decode(),
    )


def _parse(text: str, kind: type[int] | type[float]) -> int | float | None:
    try:
        return kind(text.strip())
    except ValueError:
        return None


def _model_of(draft: ModelDraft, index: int, errors: dict[str, str]) -> catalog_api.ModelInfo | None:
    """The model to send, or None with the local errors recorded (not-a-number fields)."""
    numbers: dict[str, int | float] = {}
    for name, kind in NUMBER_FIELDS.items():
        value = _parse(getattr(draft, name), kind)
        if value is None:
            errors[f"models[{index}].{API_NAMES.get(name, name)}"] = "must be a number"
        else:
            numbers[API_NAMES.get(name, name)] = value
    if len(numbers) < len(NUMBER_FIELDS):
        return None
    base = msgspec.json.decode(draft.base, type=catalog_api.ModelInfo) if draft.base else None
    if draft.price_unknown:
        numbers |= {"cost_per_1m_in": 0.0, "cost_per_1m_out": 0.0}
    fields = {"id": draft.id.strip(), "name": draft.name.strip(), **numbers}
    model = msgspec.convert(fields, catalog_api.ModelInfo) if base is None else msgspec.structs.replace(base, **fields)
    return msgspec.structs.replace(model, price_status=_price_status(model, draft.price_unknown))


def _price_status(model: catalog_api.ModelInfo, unknown: bool) -> str:
    """Unknown only when the user says so; every price 0 is free, as in the catalog."""
    prices = (model.cost_per_1m_in, model.cost_per_1m_out, model.cost_per_1m_cache_read, model.cost_per_1m_cache_write)
    return "unknown" if unknown else "free" if not any(prices) else "known"


def _model_errors(errors: dict[str, str], index: int) -> dict[str, str]:
    prefix = f"models[{index}]."
    names = {API_NAMES.get(f, f): f for f in MODEL_FIELDS}
    return {names[k[len(prefix):]]: v for k, v in errors.items() if k.startswith(prefix) and k[len(prefix):] in names}


class EditorState(rx.State):
    provider_id: str = ""
    existing: bool = False
    version: int = 0
    name: str = ""
    type: str = "openai-compat"
    api_endpoint: str = ""
    api_key: str = ""
    default_large_model_id: str = ""
    default_small_model_id: str = ""
    models: list[ModelDraft] = []
    errors: dict[str, str] = {}
    message: str = ""
    template_names: list[str] = []
    template_ids: list[str] = []
    template_name: str = ""  # the template the form was filled from
    types: list[str] = []
    shipped: dict[str, str] = {}  # shipped provider id -> name, to warn before an override
    override_question: str = ""  # the API's words on what an override would replace, while asking to confirm
    import_json: str = ""
    import_as_id: str = ""
    import_message: str = ""
    import_override_question: str = ""
    _headers: dict[str, str] = {}

    @rx.event
    async def load(self) -> None:
        params = self.router.url.query_parameters
        self.errors, self.message, self.import_message = {}, "", ""
        self.override_question, self.import_override_question, self.template_name = "", "", ""
        client = client_for(self)
        templates = await catalog_api.templates(client)
        listing = await catalog_api.providers(client)
        self.template_ids = [t.id for t in templates]
        self.template_names = [t.name for t in templates]
        self.types = sorted({card.type for card in listing.providers} | {t.provider.type for t in templates})
        self.shipped = {card.id: card.name for card in listing.providers if card.overridden or not card.custom}
        if params.get("id"):
            await self._load_provider(params["id"])
        else:
            wanted = params.get("template", templates[0].id if templates else "")
            self._use_template(next((t for t in templates if t.id == wanted), templates[0]))

    async def _load_provider(self, provider_id: str) -> None:
        try:
            provider = await catalog_api.provider(client_for(self), provider_id)
        except Problem as exc:
            self.message = exc.message
            return
        self._fill(provider_id, provider)
        self.existing, self.version = True, provider.version if provider.custom else 0

    def _use_template(self, template: catalog_api.Template) -> None:
        self._fill(template.suggested_id, template.provider)
        self.existing, self.version, self.template_name = False, 0, template.name

    def _fill(self, provider_id: str, draft: catalog_api.ProviderDraft) -> None:
        self.provider_id, self.name, self.type = provider_id, draft.name, draft.type
        self.api_endpoint, self.api_key = draft.api_endpoint, draft.api_key or ""
        self.default_large_model_id = draft.default_large_model_id
        self.default_small_model_id = draft.default_small_model_id
        self.models = [_draft_of(m) for m in draft.models]
        self._headers = dict(draft.default_headers)

    @rx.event
    async def pick_template(self, name: str) -> None:
        templates = await catalog_api.templates(client_for(self))
        chosen = next((t for t in templates if t.name == name), None)
        if chosen is not None:
            self._use_template(chosen)
            self.errors = {}

    @rx.event
    def set_field(self, field: str, value: str) -> None:
        if field in PROVIDER_FIELDS or field in ("import_json", "import_as_id"):
            setattr(self, "provider_id" if field == "id" else field, value)

    @rx.event
    def set_model_field(self, index: int, field: str, value: str) -> None:
        if field in MODEL_FIELDS:
            self.models[index] = replace(self.models[index], **{field: value})

    @rx.event
    def add_model(self) -> None:
        self.models = [*self.models, ModelDraft()]

    @rx.event
    def remove_model(self, index: int) -> None:
        self.models = [m for i, m in enumerate(self.models) if i != index]

    def _show_errors(self, errors: dict[str, str]) -> None:
        self.errors = errors
        self.models = [replace(m, errors=_model_errors(errors, i)) for i, m in enumerate(self.models)]

    @rx.event
    def set_price_unknown(self, index: int, unknown: bool) -> None:
        self.models[index] = replace(self.models[index], price_unknown=unknown)

    @rx.var
    def override_warning(self) -> str:
        """Said under the id field before saving: this id is a shipped provider's."""
        name = self.shipped.get(self.provider_id.strip(), "")
        if not name:
            return ""
        return f"This id overrides the shipped provider {name}: saving replaces it for every instance using it."

    @rx.event
    def cancel_override(self) -> None:
        self.override_question, self.import_override_question = "", ""

    @rx.event
    async def save(self, override: bool = False) -> rx.event.EventSpec | None:
        self.override_question = ""
        local: dict[str, str] = {} if self.provider_id.strip() else {"id": "Provider id is required"}
        models = [_model_of(m, i, local) for i, m in enumerate(self.models)]
        if local:
            self._show_errors(local)
            self.message = "Fix the fields marked below."
            return None
        draft = catalog_api.ProviderDraft(
            name=self.name.strip(), type=self.type, api_endpoint=self.api_endpoint.strip(),
            api_key=self.api_key.strip() or None, default_large_model_id=self.default_large_model_id.strip(),
            default_small_model_id=self.default_small_model_id.strip(),
            default_headers=dict(self._headers),
            models=[m for m in models if m is not None],
        )
        try:
            saved = await catalog_api.save_custom(
                client_for(self), self.provider_id.strip(), draft, self.version, override=override
            )
        except Problem as exc:
            if exc.status == 409 and "id" in exc.fields:
                self.override_question = exc.fields["id"]
                return None
            self._show_errors(exc.fields)
            self.message = exc.message
            return None
        return rx.redirect(f"/catalog/provider?id={saved.id}")

    @rx.event
    async def read_upload(self, files: list[rx.UploadFile]) -> None:
        for upload in files:
            self.import_json = (await upload.read()).decode("utf-8", errors="replace")

    @rx.event
    async def import_providers(self, override: bool = False) -> rx.event.EventSpec | None:
        self.import_override_question = ""
        try:
            imported = await catalog_api.import_catwalk(
                client_for(self), self.import_json, self.import_as_id.strip(), override=override
            )
        except Problem as exc:
            if exc.status == 409 and exc.fields:
                self.import_override_question = "; ".join(exc.fields.values())
                return None
            details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            self.import_message = f"{exc.message}{' — ' + details if details else ''}"
            return None
        if len(imported) == 1:
            return rx.redirect(f"/catalog/provider?id={imported[0]}")
        self.import_message = f"Imported {plural(len(imported), 'provider')}: {', '.join(imported)}"
        return None


def _error(key: str) -> rx.Component:
    return rx.cond(
        EditorState.errors.contains(key),
        rx.text(EditorState.errors[key], color_scheme="red", size="1", class_name="field-error", data_field=key),
    )


def _field(label: str, key: str, value: rx.Var[str], **props: object) -> rx.Component:
    return rx.box(
        rx.text(label, size="2", weight="medium", as_="label"),
        rx.input(value=value, id=f"field-{key}", on_change=lambda v: EditorState.set_field(key, v), **props),
        _error(key),
    )


def _model_cell(model: rx.Var[ModelDraft], index: rx.Var[int], field: str, width: str) -> rx.Component:
    return rx.table.cell(
        rx.input(
            value=getattr(model, field), width=width, aria_label=field,
            id=f"model-{field}-" + index.to_string(),
            disabled=model.price_unknown if field in ("cost_in", "cost_out") else False,
            on_change=lambda v: EditorState.set_model_field(index, field, v),
        ),
        rx.cond(
            model.errors.contains(field),
            rx.text(model.errors[field], color_scheme="red", size="1", class_name="field-error"),
        ),
    )


def _model_editor_row(model: rx.Var[ModelDraft], index: rx.Var[int]) -> rx.Component:
    widths = {"id": "14em", "name": "14em"}
    return rx.table.row(
        *(_model_cell(model, index, f, widths.get(f, "7em")) for f in MODEL_FIELDS),
        rx.table.cell(
            rx.checkbox(
                checked=model.price_unknown, id="model-price_unknown-" + index.to_string(),
                aria_label="price unknown", on_change=lambda v: EditorState.set_price_unknown(index, v),
            ),
        ),
        rx.table.cell(rx.button("Remove", variant="ghost", color_scheme="red", on_click=EditorState.remove_model(index))),
    )


def _models_editor() -> rx.Component:
    headers = ("Model id", "Name", "Context", "Max tokens", "$ in /1M", "$ out /1M", "Price unknown", "")
    return rx.box(
        rx.heading("Models", size="4", margin_top="24px"),
        rx.text("A model priced 0 is free unless its price is marked unknown.", size="1", color_scheme="gray"),
        _error("models"),
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
                rx.table.body(rx.foreach(EditorState.models, _model_editor_row), id="model-editor"),
            ),
            overflow_x="auto", max_width="100%", class_name="table-scroll",
        ),
        rx.button("Add model", variant="soft", on_click=EditorState.add_model, id="add-model", margin_top="8px"),
    )


def _provider_form() -> rx.Component:
    return rx.grid(
        rx.box(
            _field("Provider id", "id", EditorState.provider_id, read_only=EditorState.existing),
            rx.cond(
                EditorState.override_warning != "",
                rx.text(EditorState.override_warning, color_scheme="amber", size="1", id="override-warning"),
            ),
        ),
        _field("Name", "name", EditorState.name),
        rx.box(
            rx.text("Type (wire protocol)", size="2", weight="medium"),
            rx.select(
                EditorState.types, value=EditorState.type, on_change=lambda v: EditorState.set_field("type", v),
                id="field-type", width="100%",
            ),
            _error("type"),
        ),
        _field("Endpoint", "api_endpoint", EditorState.api_endpoint, placeholder="http://localhost:11434/v1"),
        _field("Key variable (e.g. $MY_API_KEY; empty for none)", "api_key", EditorState.api_key),
        _field("Default large model id", "default_large_model_id", EditorState.default_large_model_id),
        _field("Default small model id", "default_small_model_id", EditorState.default_small_model_id),
        columns=rx.breakpoints(initial="1", sm="2"), spacing="4",
    )


def _import_box() -> rx.Component:
    return rx.card(
        rx.heading("Import Catwalk JSON", size="4"),
        rx.text("Paste one provider or a list, or load a file.", size="2", color_scheme="gray"),
        rx.upload(
            rx.button("Choose file", variant="soft"),
            id="import-file", accept={"application/json": [".json"]}, max_files=1,
            on_drop=EditorState.read_upload(rx.upload_files(upload_id="import-file")),
            border="none", padding="0",
        ),
        rx.text_area(
            value=EditorState.import_json, id="import-json", rows="6", margin_y="8px",
            on_change=lambda v: EditorState.set_field("import_json", v),
        ),
        rx.flex(
            rx.input(placeholder="import as id (optional)", value=EditorState.import_as_id, id="import-as-id",
                     on_change=lambda v: EditorState.set_field("import_as_id", v)),
            rx.button("Import", on_click=EditorState.import_providers(False), id="import-button"),
            spacing="3", wrap="wrap",
        ),
        rx.cond(
            EditorState.import_override_question != "",
            rx.callout.root(
                rx.callout.text(EditorState.import_override_question),
                rx.flex(
                    rx.button("Cancel", variant="soft", color_scheme="gray", on_click=EditorState.cancel_override),
                    rx.button("Import and override", color_scheme="red", id="confirm-import-override",
                              on_click=EditorState.import_providers(True)),
                    spacing="3", justify="end", wrap="wrap",
                ),
                color_scheme="amber", margin_top="8px", id="import-override",
            ),
        ),
        rx.cond(EditorState.import_message != "", rx.callout(EditorState.import_message, margin_top="8px", id="import-message")),
        margin_top="32px",
    )


def _override_dialog() -> rx.Component:
    """Asked when the id is a shipped provider's: what the override replaces and which instances use it."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Override a shipped provider?"),
            rx.alert_dialog.description(EditorState.override_question, id="override-question"),
            rx.flex(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray", on_click=EditorState.cancel_override,
                              id="cancel-override"),
                ),
                rx.alert_dialog.action(
                    rx.button("Override", color_scheme="red", on_click=EditorState.save(True), id="confirm-override"),
                ),
                spacing="3", justify="end", margin_top="16px",
            ),
            id="override-dialog",
        ),
        open=EditorState.override_question != "",
    )


def editor_page() -> rx.Component:
    return page_frame(
        "Custom provider",
        rx.cond(
            ~EditorState.existing,
            rx.flex(
                rx.text("Start from a template:", size="2"),
                rx.select(
                    EditorState.template_names, value=EditorState.template_name, on_change=EditorState.pick_template,
                    id="template-picker", placeholder="Choose a template",
                ),
                spacing="3", align="center", margin_bottom="16px", wrap="wrap",
            ),
        ),
        rx.cond(
            (AuthState.role != "") & ~AuthState.can_admin,
            rx.callout("Only an admin can change the catalog.", icon="lock", margin_bottom="12px", id="admin-only"),
        ),
        rx.cond(EditorState.message != "", rx.callout(EditorState.message, color_scheme="red", margin_bottom="12px", id="editor-message")),
        _provider_form(),
        _models_editor(),
        for_admins(
            rx.button(
                "Save provider", size="3", on_click=EditorState.save(False), id="save-provider", margin_top="16px",
            ),
            _override_dialog(),
            _import_box(),
        ),
    )
