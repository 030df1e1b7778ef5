"""HTTP routes for signing in and out, who am I, and managing tokens (admins)."""

from __future__ import annotations

from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT, HTTP_303_SEE_OTHER

from backend.auth.guard import AUTH_COOKIE, principal_of
from backend.auth.permissions import SIGN_IN, SIGN_OUT
from backend.auth.schemas import CreateToken, IssuedToken, Me, SignIn
from backend.auth.service import Principal, Tokens
from backend.auth.view import TokenInfo
from backend.errors import FieldError, ValidationFailed
from events import Metadata

TokensDep = NamedDependency[Tokens]
RequestMetadata = NamedDependency[Metadata]
SIGN_IN_PAGE = "/sign-in"
NO_STORE = {"cache-control": "no-store"}
FORM_ANSWER = {
    HTTP_303_SEE_OTHER: ResponseSpec(
        None, description="A form post: on to the page in `next`, or back to the sign-in page", generate_examples=False
    )
}
"""The redirect a form post gets instead of the JSON answer."""


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @get("/me", summary="Who the request acts as, its role, and whether a token is required")
    async def me(self, request: Request, tokens: TokensDep) -> Me:
        return await _me(principal_of(request), tokens)

    @post(
        SIGN_IN.removeprefix("/api/v1/auth"),
        status_code=HTTP_200_OK,
        summary="Check a token and keep it in the switchboard_token cookie (form field `token` and `next`, or JSON)",
        responses=FORM_ANSWER,
    )
    async def sign_in(self, request: Request, tokens: TokensDep) -> Response[Me]:
        if _is_json(request):
            token = _json_token(await request.body())
            principal = await tokens.principal(token)
            if principal is None:
                raise NotAuthorizedException("Invalid token")
            return Response(await _me(principal, tokens), cookies=[_cookie(request, token)], headers=NO_STORE)
        form = await request.form()
        sent, back = form.get("token"), _local_path(form.get("next"))
        token = sent if isinstance(sent, str) else ""
        if await tokens.principal(token) is None:
            return Redirect(f"{SIGN_IN_PAGE}?error=1&next={quote(back, safe='')}", status_code=HTTP_303_SEE_OTHER)
        return Redirect(back, status_code=HTTP_303_SEE_OTHER, cookies=[_cookie(request, token)])

    @post(
        SIGN_OUT.removeprefix("/api/v1/auth"),
        status_code=HTTP_204_NO_CONTENT,
        summary="Forget the switchboard_token cookie (303 to the sign-in page for a form, 204 for JSON)",
        responses=FORM_ANSWER,
    )
    async def sign_out(self, request: Request) -> Response[None]:
        cleared = _cookie(request, "", max_age=0)
        if _is_json(request):
            return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[cleared])
        return Redirect(SIGN_IN_PAGE, status_code=HTTP_303_SEE_OTHER, cookies=[cleared])


class TokensController(Controller):
    path = "/api/v1/tokens"
    tags = ["auth"]

    @get("/", summary="Every token (active first): id, name, role, hash prefix; never a token")
    async def list_tokens(self, tokens: TokensDep) -> list[TokenInfo]:
        return await tokens.all()

    @post("/", status_code=HTTP_201_CREATED, summary="Issue a token; the answer is the only place it is ever shown")
    async def create(self, tokens: TokensDep, data: JSONBody[CreateToken], metadata: RequestMetadata) -> Response[IssuedToken]:
        info, token = await tokens.issue(data.name, data.role, metadata)
        issued = IssuedToken(**msgspec.structs.asdict(info), token=token)
        return Response(issued, status_code=HTTP_201_CREATED, headers=NO_STORE)

    @delete("/{token_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Revoke a token")
    async def revoke(self, tokens: TokensDep, token_id: FromPath[str], metadata: RequestMetadata) -> None:
        await tokens.revoke(await tokens.active(token_id, by_name=False), metadata)


async def _me(principal: Principal, tokens: Tokens) -> Me:
    return Me(actor=principal.actor, role=principal.role, mode=principal.mode, auth_required=await tokens.required())


def _is_json(request: Request) -> bool:
    return request.content_type[0] == "application/json"


def _json_token(body: bytes) -> str:
    try:
        return msgspec.json.decode(body, type=SignIn).token
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ValidationFailed(
            "Send the token as JSON", [FieldError("token", 'required: {"token": "sbt_..."}')]
        ) from None


def _local_path(value: object) -> str:
    """`next` when it is a path on this site, else `/` (never another host)."""
    if not isinstance(value, str) or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "/"
    return value


def _cookie(request: Request, token: str, *, max_age: int | None = None) -> Cookie:
    """The token cookie: HttpOnly, SameSite=Strict, the whole site, Secure when served over https."""
    return Cookie(
        key=AUTH_COOKIE,
        value=token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=max_age,
    )
