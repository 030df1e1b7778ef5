"""A self-contained API docs page rendered on the server from the OpenAPI schema (no CDN, no script)."""

from __future__ import annotations

from html import escape

import msgspec
from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

METHODS = ("get", "post", "put", "patch", "delete")


class ParameterDoc(msgspec.Struct, frozen=True):
    name: str
    location: str = msgspec.field(name="in", default="query")
    required: bool = False
    description: str = ""
    schema: dict[str, object] = {}


class OperationDoc(msgspec.Struct, frozen=True):
    summary: str = ""
    description: str = ""
    parameters: list[ParameterDoc] = []
    responses: dict[str, dict[str, object]] = {}


class SchemaDoc(msgspec.Struct, frozen=True):
    info: dict[str, object] = {}
    paths: dict[str, dict[str, object]] = {}


def _type_of(schema: dict[str, object]) -> str:
    if "type" in schema:
        return str(schema["type"])
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    variants = schema.get("oneOf") or schema.get("anyOf") or []
    if isinstance(variants, list):
        return " | ".join(_type_of(v) for v in variants if isinstance(v, dict))
    return "any"


def _operation_html(method: str, path: str, op: OperationDoc) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p.name)}</code></td><td>{escape(p.location)}</td>"
        f"<td>{escape(_type_of(p.schema))}</td><td>{'yes' if p.required else ''}</td>"
        f"<td>{escape(p.description)}</td></tr>"
        for p in op.parameters
    )
    table = (
        "<table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th></th></tr>"
        f"{rows}</table>"
        if rows
        else ""
    )
    codes = ", ".join(escape(code) for code in op.responses)
    return (
        f'<section><h3><span class="m">{method.upper()}</span> <code>{escape(path)}</code></h3>'
        f"<p>{escape(op.summary)}</p>{table}<p class=r>Responses: {codes}</p></section>"
    )


def render_docs(openapi: dict[str, object]) -> str:
    doc = msgspec.convert(openapi, SchemaDoc)
    sections = []
    for path, item in doc.paths.items():
        for method in METHODS:
            raw = item.get(method)
            if isinstance(raw, dict):
                op = msgspec.convert(raw, OperationDoc)
                sections.append(_operation_html(method, path, op))
    title = escape(str(doc.info.get("title", "API")))
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>"
        "body{font:15px system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1f2328}"
        "section{border-top:1px solid #d0d7de;padding:.5rem 0}.m{font-weight:700;color:#0969da}"
        "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:2px 8px;text-align:left}"
        ".r{color:#57606a}</style></head><body>"
        f"<h1>{title}</h1><p>Machine-readable schema: "
        '<a href="/api/schema/openapi.json">/api/schema/openapi.json</a></p>'
        f"{''.join(sections)}</body></html>"
    )


class ServerRenderedDocs(OpenAPIRenderPlugin):
    """Serves the docs page at /api/schema/docs."""

    def __init__(self) -> None:
        super().__init__(path="/docs")

    def render(self, request: Request, openapi_schema: dict[str, object]) -> bytes:
        return render_docs(openapi_schema).encode()
