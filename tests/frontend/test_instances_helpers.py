"""The Instances page's pure helpers: API refusals split per field, keyless providers, card contents."""

from __future__ import annotations

import msgspec

from frontend.api import FieldProblem, Problem
from frontend.forms import split_problem
from frontend.instances_api import CredentialSummary, Instance, LastTest, ProviderDetail
from frontend.pages.instance_dialog_states import (
    ProviderChoice,
    endpoint_hint,
    is_keyless,
    matching_providers,
    parse_timeout,
)
from frontend.pages.instances_state import card_of, shown_time
from frontend.words import plural


def instance(last_test: LastTest | None = None, last4: str | None = "abcd") -> Instance:
    return Instance(
        id="i1", name="Dev", provider_id="openai", provider_type="openai", endpoint="", timeout_ms=30_000,
        version=2, status="error" if last_test else "untested",
        credential=CredentialSummary(last4) if last4 else None, last_test=last_test, model_count=None,
    )


def test_field_errors_go_next_to_their_fields_and_the_rest_on_top() -> None:
    problem = Problem(422, "Validation failed", "", (
        FieldProblem("endpoint", "must be an http:// or https:// URL"),
        FieldProblem("endpoint", "second complaint"),
        FieldProblem("headers.x", "looks like a credential"),
    ))
    by_field, general = split_problem(problem, ("name", "endpoint"))
    assert by_field == {"endpoint": "must be an http:// or https:// URL"}
    assert general == "headers.x: looks like a credential"


def test_a_refusal_without_field_errors_shows_its_detail() -> None:
    assert split_problem(Problem(409, "Conflict", "instance moved to version 4"), ("name",)) == (
        {}, "instance moved to version 4",
    )


def test_keyless_providers_are_local_servers_or_name_no_key() -> None:
    assert is_keyless(ProviderDetail("ollama", "Ollama", "ollama", api_key="$OLLAMA_KEY"))
    assert is_keyless(ProviderDetail("lm-studio", "LM Studio", "openai-compat", api_key=None))
    assert not is_keyless(ProviderDetail("openai", "OpenAI", "openai", api_key="$OPENAI_API_KEY"))


def test_endpoint_placeholder_names_the_provider_default_by_its_url() -> None:
    def hint(api_endpoint: str, resolved: str = "") -> str:
        return endpoint_hint(ProviderDetail("p", "P", "openai", api_endpoint=api_endpoint, resolved_endpoint=resolved))

    assert hint("https://api.x.ai/v1") == "provider default: https://api.x.ai/v1"
    assert hint("$OPENAI_API_ENDPOINT", "https://api.openai.com/v1") == "provider default: https://api.openai.com/v1"
    assert hint("$OPENAI_API_ENDPOINT") == "provider default: from $OPENAI_API_ENDPOINT"
    assert hint("") == "provider default: none"


def test_timeout_must_be_a_whole_number() -> None:
    assert parse_timeout(" 5000 ") == 5000
    assert parse_timeout("5.5") is None
    assert parse_timeout("-1") is None


def test_a_card_shows_the_last_test_and_the_key_last_four() -> None:
    failed = LastTest(
        outcome="auth_failed", latency_ms=12.4, model_count=0, message="HTTP 401",
        tested_at="2026-11-24T02:50:01.5+00:00",
    )
    card = card_of(instance(failed), testing=False)
    assert (card.status, card.outcome, card.message, card.latency) == ("error", "auth_failed", "HTTP 401", "12 ms")
    assert (card.tested_at, card.key_last4, card.model_count) == ("2026-11-24 02:50:01 UTC", "abcd", "–")


def test_a_card_says_when_its_key_file_is_missing() -> None:
    missing = card_of(msgspec.structs.replace(instance(), key_missing=True), testing=False)
    assert missing.key == "•••• abcd — key missing: set it again"
    assert card_of(instance(), testing=False).key == "•••• abcd"


def test_a_card_links_to_the_instance_page() -> None:
    assert card_of(msgspec.structs.replace(instance(), id="a b"), testing=False).href == "/instances/view?id=a%20b"


def test_a_card_says_the_key_changed_since_the_last_test() -> None:
    changed = msgspec.structs.replace(instance(), key_changed_at="2026-11-24T02:50:01Z")
    assert card_of(changed, testing=False).tested_at == "Key changed 2026-11-24 02:50:01 UTC, not tested yet"
    verified = msgspec.structs.replace(changed, credential=CredentialSummary("abcd", verified=True))
    said = card_of(verified, testing=False).tested_at
    assert said == "Key changed 2026-11-24 02:50:01 UTC, verified with the provider"
    removed = msgspec.structs.replace(changed, credential=None)
    assert card_of(removed, testing=False).tested_at == "Key removed 2026-11-24 02:50:01 UTC, not tested yet"


def test_a_card_without_a_needed_key_says_so_and_names_the_default_endpoint() -> None:
    keyless = msgspec.structs.replace(
        instance(last4=None), key_required=True, default_endpoint="https://api.openai.com/v1"
    )
    card = card_of(keyless, testing=False)
    assert card.no_key is True and card.shown_endpoint == "provider default: https://api.openai.com/v1"
    assert card.key == "none"
    assert card_of(instance(), testing=False).no_key is False
    assert card_of(msgspec.structs.replace(keyless, key_required=False), testing=False).key == "none (not needed)"


def test_plurals() -> None:
    assert (plural(1, "model"), plural(2, "model"), plural(1534, "model")) == ("1 model", "2 models", "1,534 models")


def test_a_card_being_tested_says_so_and_an_untested_one_shows_never() -> None:
    card = card_of(instance(last4=None), testing=True)
    assert (card.status, card.tested_at, card.key_last4, card.outcome) == ("testing", "never", "", "")
    assert shown_time("2026-01-02T03:04:05Z") == "2026-01-02 03:04:05 UTC"


def test_provider_search_puts_name_matches_before_type_matches() -> None:
    hub = ProviderChoice("aihubmix", "AIHubMix", "openai-compat", "284 models")
    openai = ProviderChoice("openai", "OpenAI", "openai", "30 models")
    claude = ProviderChoice("anthropic", "Anthropic", "anthropic", "14 models")
    assert matching_providers([hub, openai, claude], "open") == [openai, hub]
    assert matching_providers([hub, openai, claude], "OPENAI compat") == [hub]
    assert matching_providers([hub, openai, claude], " ") == [hub, openai, claude]
