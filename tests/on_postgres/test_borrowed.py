"""The SQLite suite's tests of instances, tokens, sessions, the audit query, export and commands, and the cost
report, run with the log on PostgreSQL (this folder's `settings`): the same requests must get the same answers. The
audit commands run as processes on the same schema beside the server.

Left out: tests that read the SQLite file or the vault's key files themselves (query plans, a view's old table, a
deleted key's file; the vault's table has tests of its own), and one that reads the app's
store from the test's event loop while the test client runs the app on its own (an asyncpg pool serves the loop it
was opened on only)."""

# ruff: noqa: F401  (the imported tests are what this module runs)
from __future__ import annotations

import pytest

from tests.audit_query.test_export import (
    test_a_formula_a_client_sent_is_kept_as_text,
    test_csv_by_format_or_accept,
    test_format_wins_over_accept,
    test_ndjson_is_the_query_as_lines,
    test_search_and_window_filters_apply,
)
from tests.audit_query.test_query import (
    test_a_time_in_another_zone_means_the_same_moment,
    test_actor,
    test_bad_input_is_a_problem_naming_the_field,
    test_cursor_pages_both_ways_with_links,
    test_filters_combine,
    test_full_text_search,
    test_instance_takes_its_stream_and_events_naming_it,
    test_no_filter_pages_newest_first,
    test_oldest_first_pages_forward,
    test_search_sees_events_written_since_the_last_search,
    test_session,
    test_several_types,
    test_since_inclusive_until_exclusive,
    test_stream_exact_and_prefix,
)
from tests.auth.test_tokens import (
    test_a_revoked_token_stops_working_at_once,
    test_concurrent_creates_of_one_name_issue_one_token,
    test_names_are_unique_among_active_tokens,
    test_the_list_shows_no_token_and_no_full_hash,
)
from tests.cli.test_audit_commands import (
    test_bad_arguments_are_one_line_and_exit_2,
    test_csv_export_to_a_file_is_the_api_export,
    test_each_filter_queries_the_events_the_api_answers,
    test_export_shows_a_progress_bar_on_a_terminal_only,
    test_ndjson_export_to_stdout_is_the_api_export,
    test_next_cursor_walks_the_query_like_the_api_link,
    test_query_prints_a_table_by_default,
    test_time_window_queries_the_events_the_api_answers,
)
from tests.instances.test_instances_api import (
    test_create_then_list_and_detail_read_the_write,
    test_duplicate_name_is_refused,
    test_idempotency_key_makes_a_retried_create_create_nothing,
    test_rename_keeps_names_unique_and_the_list_in_name_order,
    test_several_instances_of_one_provider_listed_by_name,
    test_stale_if_match_is_a_409_and_writes_nothing,
    test_update_records_only_changed_fields_before_and_after,
)
from tests.instances.test_view import (
    test_list_cache_follows_every_change,
    test_list_holds_a_thousand_instances_in_name_order,
    test_rebuilt_view_equals_the_live_one,
)
from tests.reports.test_cost_report import (
    test_a_deleted_instance_keeps_its_spend_under_the_name_it_had,
    test_by_actor,
    test_by_day,
    test_by_instance,
    test_by_model,
    test_by_provider,
    test_by_session,
    test_each_session_s_group_is_what_its_own_cost_route_says,
    test_no_turns_is_an_empty_report,
    test_since_is_inclusive_and_until_exclusive,
    test_split_by_instance_gives_each_day_its_instances,
    test_split_by_model_gives_each_instance_its_models,
    test_without_split_by_the_groups_have_no_parts,
)
from tests.reports.test_cost_report import (
    test_bad_input_is_a_problem_naming_the_field as test_bad_report_input_is_a_problem_naming_the_field,
)
from tests.sessions.test_sessions_api import (
    test_agents_are_added_changed_and_removed,
    test_create_session_with_its_first_agent,
    test_session_changes_are_recorded_and_need_the_current_version,
)
from tests.sessions.test_view import test_rebuilt_views_equal_the_live_ones

pytestmark = pytest.mark.anyio
