"""Where a key goes, as the web app shows it: origins, the endpoint notice on cards, the key asked again, the import."""

from __future__ import annotations

import msgspec

from frontend.instances_api import EnvCandidate, Instance
from frontend.pages.env_import import _row_of
from frontend.pages.instance_dialog_states import moves_key, origin_of
from frontend.pages.instances_state import card_of

CHANGED = {
    "id": "i1", "name": "Dev", "provider_id": "gw", "provider_type": "openai-compat", "endpoint": "",
    "timeout_ms": 30_000, "version": 3, "status": "connected", "last_test": None, "model_count": 2,
    "credential": {"last4": "abcd", "origin": "http://127.0.0.1:8001", "version": 1},
    "endpoint_status": "changed", "current_origin": "https://gw.example",
}


def test_origins_are_written_as_the_api_writes_them() -> None:
    assert origin_of("https://API.example.com:443/v1") == "https://api.example.com"
    assert origin_of("http://127.0.0.1:8001/openai/v1") == "http://127.0.0.1:8001"
    assert origin_of("http://[::1]:80/") == "http://[::1]"
    assert origin_of("gw.example/v1") == "" and origin_of("http://gw.example:99999") == ""


def test_the_key_is_asked_again_only_when_the_endpoint_moves_it_elsewhere() -> None:
    key = "https://gw.example"
    assert not moves_key(key, "https://gw.example/v1", "https://gw.example/v1", "")  # unchanged
    assert not moves_key(key, "https://gw.example/v2", "https://gw.example/v1", "")  # same origin
    assert moves_key(key, "https://other.example/v1", "https://gw.example/v1", "")
    assert not moves_key("", "https://other.example/v1", "https://gw.example/v1", "")  # no key
    assert moves_key(key, "", "https://gw.example/v1", "")  # back to a catalog default not known here
    assert not moves_key(key, "", "https://gw.example/v1", key)


def test_a_card_shows_where_the_key_was_confirmed_and_where_requests_go_now() -> None:
    card = card_of(msgspec.convert(CHANGED, Instance), testing=False)
    assert (card.endpoint_status, card.key_origin, card.current_origin) == (
        "changed", "http://127.0.0.1:8001", "https://gw.example"
    )
    keyless = card_of(msgspec.convert({**CHANGED, "credential": None, "current_origin": None,
                                       "endpoint_status": "unresolved"}, Instance), testing=False)
    assert (keyless.endpoint_status, keyless.key_origin, keyless.current_origin) == ("unresolved", "", "")


def test_the_import_shows_where_each_key_is_sent() -> None:
    candidate = EnvCandidate("Groq (environment)", "groq", "GROQ_API_KEY", "QRST", "", "create", "https://api.groq.com")
    assert _row_of(candidate).sends_to == "https://api.groq.com"
    nowhere = EnvCandidate("Gw", "gw", "MY_GATEWAY_API_KEY", None, "", "invalid", None)
    assert _row_of(nowhere).sends_to == "nowhere: the endpoint is unresolved"
