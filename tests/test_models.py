"""The request/response models, the contract assumptions and phone masking, against INTEGRA_API.md.

The models are the last line before HTTP: whatever they accept is sent to Integra, so these tests
pin both what must pass (the documented shapes) and what must not (anything the real API or the
sandbox rejects, anything that would leak a phone number into a log).
"""

from __future__ import annotations

import json
import re
import string
import traceback
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from integra import contract
from integra.contract import Outcome, classify_status, error_details, panel_campaign_url, parse_retry_after
from integra.exceptions import IntegraConfigError
from integra.masking import mask_phone, mask_phones
from integra.models import (
    CampaignConfig,
    CampaignCreated,
    CampaignRequest,
    Recipient,
    build_request,
    field_path,
)
from tests.fixtures.sandbox import (
    DOCUMENTED_CREATED_BODY,
    EXAMPLE_AGENT_ID,
    EXAMPLE_PHONE_NUMBER_ID,
    EXAMPLE_PROJECT_ID,
    make_campaign_payload,
)

#: What the sandbox (and the documentation) call E.164: ASCII digits only.
ASCII_E164 = re.compile(r"\+[1-9][0-9]{7,14}", re.ASCII)
REQUEST_FIELDS = {"name", "project_id", "agent_id", "phone_number_id", "scheduled_at", "recipients", "config"}
RECIPIENT_FIELDS = {"phone_number", "recipient_name", "dynamic_variables"}
CONFIG_FIELDS = {"call_timeout", "voicemail_mode", "outbound_auto_greet", "max_concurrent"}
C0_AND_DEL = [chr(code) for code in range(0x20)] + ["\x7f"]
OFFSET_SUFFIX = re.compile(r"(Z|[+-]\d{2}:\d{2})$")

e164_numbers = st.builds(
    lambda first, rest: f"+{first}{rest}",
    st.sampled_from("123456789"),
    st.text(alphabet=string.digits, min_size=7, max_size=14),
)
# Printable ASCII plus the whitespace a spreadsheet export might leave behind.
ascii_text = st.text(alphabet=string.printable, max_size=24)
readable_names = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs")),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "")


def recipient(phone: str = "+5511987654321", name: str = "João Silva", **variables: Any) -> dict[str, Any]:
    return {"phone_number": phone, "recipient_name": name, "dynamic_variables": variables}


def payload_with_recipients(count: int) -> dict[str, Any]:
    """A valid body with ``count`` recipients (the same dict repeated: cheap for the size tests)."""
    payload = make_campaign_payload(1)
    payload["recipients"] = [recipient(leadName="Joao", companyName="Acme Corp")] * count
    return payload


# -- CampaignRequest: field names and types --------------------------------------------------------


def test_documented_example_round_trips_to_the_same_payload() -> None:
    payload = make_campaign_payload(3)

    request = build_request(payload)
    body = request.to_payload()

    assert set(body) == REQUEST_FIELDS
    assert all(set(item) == RECIPIENT_FIELDS for item in body["recipients"])
    assert set(body["config"]) == CONFIG_FIELDS
    expected = {**payload, "scheduled_at": body["scheduled_at"]}
    assert body == expected
    assert body["scheduled_at"] in ("2026-03-25T14:00:00Z", "2026-03-25T14:00:00+00:00")
    # The body is what goes on the wire: it must be plain JSON.
    assert json.loads(json.dumps(body)) == body


def test_ids_are_uuids_in_the_model_and_canonical_strings_in_the_payload() -> None:
    request = build_request(make_campaign_payload(1, project_id=EXAMPLE_PROJECT_ID.upper().replace("-", "")))

    assert isinstance(request.project_id, UUID)
    assert isinstance(request.agent_id, UUID)
    assert isinstance(request.phone_number_id, UUID)
    body = request.to_payload()
    assert body["project_id"] == EXAMPLE_PROJECT_ID
    assert body["agent_id"] == EXAMPLE_AGENT_ID
    assert body["phone_number_id"] == EXAMPLE_PHONE_NUMBER_ID


@pytest.mark.parametrize("field", ["project_id", "agent_id", "phone_number_id"])
@pytest.mark.parametrize("value", ["not-a-uuid", "", "3c90c3cc-0d44-4b50-8888", 12345])
def test_malformed_ids_are_rejected_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(IntegraConfigError, match=rf"\b{field}:"):
        build_request(make_campaign_payload(1, **{field: value}))


@pytest.mark.parametrize("name", ["", 123, None])
def test_campaign_name_is_a_non_empty_string(name: Any) -> None:
    with pytest.raises(IntegraConfigError, match=r"Invalid campaign request: name:"):
        build_request(make_campaign_payload(1, name=name))


@pytest.mark.parametrize("missing", sorted(REQUEST_FIELDS - {"config"}))
def test_every_documented_field_but_config_is_required(missing: str) -> None:
    payload = make_campaign_payload(1)
    del payload[missing]

    with pytest.raises(IntegraConfigError, match=rf"{missing}: Field required"):
        build_request(payload)


def test_config_is_optional_and_left_out_of_the_payload_when_absent() -> None:
    payload = make_campaign_payload(1)
    del payload["config"]

    request = build_request(payload)

    assert request.config is None
    assert "config" not in request.to_payload()


def test_unknown_fields_are_rejected_at_every_level() -> None:
    with pytest.raises(IntegraConfigError, match=r"campaign_type: Extra inputs are not permitted"):
        build_request(make_campaign_payload(1, campaign_type="outbound"))
    payload = make_campaign_payload(2)
    payload["recipients"][1]["email"] = "a@b.c"
    with pytest.raises(IntegraConfigError, match=r"recipients\[1\]\.email: Extra inputs are not permitted"):
        build_request(payload)


def test_models_are_frozen() -> None:
    request = build_request(make_campaign_payload(1))

    with pytest.raises(ValidationError):
        request.name = "outra"  # type: ignore[misc]


# -- scheduled_at ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-03-25T11:00:00-03:00", "2026-03-25T11:00:00-03:00"),
        ("2026-03-25T14:00:00+00:00", "2026-03-25T14:00:00+00:00"),
        ("2026-03-25T14:00:00.987654+05:30", "2026-03-25T14:00:00+05:30"),
        (datetime(2026, 3, 25, 14, tzinfo=UTC), "2026-03-25T14:00:00+00:00"),
        (datetime(2026, 3, 25, 11, tzinfo=timezone(timedelta(hours=-3))), "2026-03-25T11:00:00-03:00"),
    ],
)
def test_scheduled_at_serialises_as_iso_8601_with_its_offset(sent: Any, expected: str) -> None:
    body = build_request(make_campaign_payload(1, scheduled_at=sent)).to_payload()

    assert body["scheduled_at"] == expected


def test_scheduled_at_z_serialises_as_utc() -> None:
    body = build_request(make_campaign_payload(1, scheduled_at="2026-03-25T14:00:00Z")).to_payload()

    assert body["scheduled_at"] in ("2026-03-25T14:00:00Z", "2026-03-25T14:00:00+00:00")


@pytest.mark.parametrize(
    "naive",
    ["2026-03-25T14:00:00", "2026-03-25 14:00", datetime(2026, 3, 25, 14)],
)
def test_scheduled_at_without_timezone_is_rejected(naive: Any) -> None:
    with pytest.raises(IntegraConfigError, match=r"scheduled_at:"):
        build_request(make_campaign_payload(1, scheduled_at=naive))


@pytest.mark.parametrize("garbage", ["amanhã", "", "25/03/2026 14:00", "2026-13-45T99:00:00Z", None])
def test_scheduled_at_garbage_is_rejected(garbage: Any) -> None:
    with pytest.raises(IntegraConfigError, match=r"scheduled_at:"):
        build_request(make_campaign_payload(1, scheduled_at=garbage))


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.timezones(),
    )
)
def test_any_aware_datetime_serialises_with_an_offset_and_the_same_instant(moment: datetime) -> None:
    body = build_request(make_campaign_payload(1, scheduled_at=moment)).to_payload()

    text = body["scheduled_at"]
    assert OFFSET_SUFFIX.search(text), text
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    # Compared in UTC: an ambiguous wall time (DST fold) never equals one in another zone.
    assert parsed.astimezone(UTC) == moment.replace(microsecond=0).astimezone(UTC)
    assert parsed.utcoffset() == moment.utcoffset()


# -- recipients: count -------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, contract.MAX_RECIPIENTS])
def test_one_to_ten_thousand_recipients_are_accepted(count: int) -> None:
    request = build_request(payload_with_recipients(count))

    assert len(request.recipients) == count
    assert len(request.to_payload()["recipients"]) == count


@pytest.mark.parametrize("count", [0, contract.MAX_RECIPIENTS + 1])
def test_zero_or_more_than_ten_thousand_recipients_are_rejected(count: int) -> None:
    with pytest.raises(IntegraConfigError, match=r"Invalid campaign request: recipients:"):
        build_request(payload_with_recipients(count))


def test_max_recipients_is_the_documented_limit() -> None:
    assert contract.MAX_RECIPIENTS == 10_000


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.integers(min_value=1, max_value=40),
        st.integers(min_value=contract.MAX_RECIPIENTS - 5, max_value=contract.MAX_RECIPIENTS),
    )
)
def test_recipient_counts_within_the_limit_are_accepted(count: int) -> None:
    assert len(build_request(payload_with_recipients(count)).recipients) == count


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=contract.MAX_RECIPIENTS + 1, max_value=contract.MAX_RECIPIENTS + 50))
def test_recipient_counts_over_the_limit_are_rejected(count: int) -> None:
    with pytest.raises(IntegraConfigError, match=r"recipients:"):
        build_request(payload_with_recipients(count))


# -- recipients: phone_number ------------------------------------------------------------------------


@given(e164_numbers)
@example("+5511999999999")
@example("+12025550123")
@example("+10000000")  # 8 digits: the shortest E.164 the pattern allows
@example("+999999999999999")  # 15 digits: the longest
def test_valid_e164_numbers_are_accepted(number: str) -> None:
    assert Recipient(**recipient(number)).phone_number == number


@given(ascii_text.filter(lambda text: ASCII_E164.fullmatch(text) is None))
@example("5511999999999")  # no plus
@example("+0511999999999")  # leading zero
@example("+1234567")  # 7 digits
@example("+1234567890123456")  # 16 digits
@example("+55 11 99999-9999")
@example("+5511999999999\n")
@example(" +5511999999999")
@example("")
def test_strings_that_are_not_e164_are_rejected(text: str) -> None:
    with pytest.raises(ValidationError):
        Recipient(**recipient(text))


@pytest.mark.parametrize("value", [5511999999999, None, ["+5511999999999"]])
def test_phone_number_must_be_a_string(value: Any) -> None:
    with pytest.raises(ValidationError):
        Recipient(**recipient(value))


@pytest.mark.parametrize(
    "number",
    ["+5511\u0669\u0668\u0667\u0666\u0665\u0664\u0663\u0662\u0661", "+55119876543\uff12", "+5511\u096798765432"],
)
def test_non_ascii_digits_are_not_e164(number: str) -> None:
    assert ASCII_E164.fullmatch(number) is None
    with pytest.raises(ValidationError):
        Recipient(**recipient(number))


# -- recipients: recipient_name ----------------------------------------------------------------------


@given(readable_names)
@example("João Silva")
@example("Zé")
@example("  Maria  ")
def test_readable_names_are_accepted(name: str) -> None:
    assert Recipient(**recipient(name=name)).recipient_name == name


@given(readable_names, st.sampled_from(C0_AND_DEL), st.data())
def test_names_with_control_characters_are_rejected(name: str, control: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(name)))
    dirty = name[:position] + control + name[position:]

    with pytest.raises(ValidationError, match="must not contain control characters"):
        Recipient(**recipient(name=dirty))


@given(st.text(alphabet=" \t\n\r\x0b\x0c\xa0\u2003\u3000", max_size=10))
def test_empty_or_blank_names_are_rejected(blank: str) -> None:
    with pytest.raises(ValidationError):
        Recipient(**recipient(name=blank))


@pytest.mark.parametrize("control", ["\x85", "\x9b", "\x80"])
def test_c1_control_characters_in_names_are_rejected(control: str) -> None:
    with pytest.raises(ValidationError):
        Recipient(**recipient(name=f"Jo{control}ão"))


@pytest.mark.parametrize("value", [None, 42])
def test_recipient_name_must_be_a_string(value: Any) -> None:
    with pytest.raises(ValidationError):
        Recipient(**recipient(name=value))


# -- recipients: dynamic_variables -------------------------------------------------------------------


def test_dynamic_variables_are_string_to_string_and_default_to_empty() -> None:
    with_vars = Recipient(**recipient(leadName="Joao", companyName="Acme Corp"))
    without = Recipient(phone_number="+5511987654321", recipient_name="João")

    assert with_vars.dynamic_variables == {"leadName": "Joao", "companyName": "Acme Corp"}
    assert without.dynamic_variables == {}


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.lists(st.text(max_size=3), max_size=2),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    )
)
def test_non_string_variable_values_are_rejected(value: Any) -> None:
    with pytest.raises(ValidationError):
        Recipient(**recipient(leadName=value))


def test_non_string_variable_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Recipient(phone_number="+5511987654321", recipient_name="João", dynamic_variables={1: "x"})


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=6))
def test_any_string_to_string_variables_are_kept_as_given(variables: dict[str, str]) -> None:
    body = Recipient(phone_number="+5511987654321", recipient_name="João", dynamic_variables=variables)

    assert body.model_dump(mode="json")["dynamic_variables"] == variables


# -- config --------------------------------------------------------------------------------------------


def test_documented_config_values_are_accepted() -> None:
    config = CampaignConfig(call_timeout=45, voicemail_mode="hangup", outbound_auto_greet=True, max_concurrent=2)

    assert config.model_dump() == {
        "call_timeout": 45,
        "voicemail_mode": "hangup",
        "outbound_auto_greet": True,
        "max_concurrent": 2,
    }


def test_voicemail_mode_is_a_free_string_and_ranges_are_not_guessed() -> None:
    config = CampaignConfig(voicemail_mode="leave_message", call_timeout=0, max_concurrent=500)

    assert config.voicemail_mode == "leave_message"


def test_partial_config_sends_only_what_was_set() -> None:
    body = build_request(make_campaign_payload(1, config={"max_concurrent": 3})).to_payload()

    assert body["config"] == {"max_concurrent": 3}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("call_timeout", "45"),
        ("call_timeout", 45.0),
        ("call_timeout", True),
        ("max_concurrent", "2"),
        ("max_concurrent", False),
        ("outbound_auto_greet", "true"),
        ("outbound_auto_greet", 1),
        ("voicemail_mode", 1),
        ("voicemail_mode", True),
    ],
)
def test_config_types_are_strict(field: str, value: Any) -> None:
    with pytest.raises(IntegraConfigError, match=rf"config\.{field}:"):
        build_request(make_campaign_payload(1, config={field: value}))


def test_unknown_config_fields_are_rejected() -> None:
    with pytest.raises(IntegraConfigError, match=r"config\.retries: Extra inputs are not permitted"):
        build_request(make_campaign_payload(1, config={"retries": 3}))


# -- CampaignCreated ---------------------------------------------------------------------------------


def test_documented_response_parses() -> None:
    created = CampaignCreated.model_validate_json(json.dumps(DOCUMENTED_CREATED_BODY))

    assert created.id == DOCUMENTED_CREATED_BODY["id"]
    assert created.name == "Campanha Março 2026"
    assert created.status == "PENDING"
    assert created.total_recipients == 2
    assert created.scheduled_at == datetime(2026, 3, 25, 14, tzinfo=UTC)
    assert created.created_at == datetime(2026, 3, 20, 9, 12, 44, tzinfo=UTC)


def test_response_extra_fields_are_kept() -> None:
    created = CampaignCreated.model_validate({**DOCUMENTED_CREATED_BODY, "project_id": EXAMPLE_PROJECT_ID})

    assert created.model_dump()["project_id"] == EXAMPLE_PROJECT_ID


@pytest.mark.parametrize("missing", sorted(DOCUMENTED_CREATED_BODY))
def test_response_without_a_documented_field_is_rejected(missing: str) -> None:
    body = {key: value for key, value in DOCUMENTED_CREATED_BODY.items() if key != missing}

    with pytest.raises(ValidationError):
        CampaignCreated.model_validate(body)


def test_response_with_naive_timestamps_is_rejected() -> None:
    with pytest.raises(ValidationError):
        CampaignCreated.model_validate({**DOCUMENTED_CREATED_BODY, "created_at": "2026-03-20T09:12:44"})


# -- build_request errors ------------------------------------------------------------------------------

bad_phones = st.text(alphabet=string.digits + "+-() x", min_size=6, max_size=20).filter(
    lambda text: ASCII_E164.fullmatch(text) is None and any(ch.isdigit() for ch in text)
)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.data(), bad_phones)
def test_bad_phone_error_names_the_path_but_never_the_number(count: int, data: st.DataObject, bad: str) -> None:
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    payload = make_campaign_payload(count)
    payload["recipients"][index]["phone_number"] = bad

    with pytest.raises(IntegraConfigError) as caught:
        build_request(payload)

    message = str(caught.value)
    assert f"recipients[{index}].phone_number" in message
    assert bad not in message
    assert bad.strip() not in message


def test_error_for_recipient_three_names_recipients_3_phone_number() -> None:
    payload = make_campaign_payload(5)
    payload["recipients"][3]["phone_number"] = "+55 11 90000-0003"

    with pytest.raises(IntegraConfigError) as caught:
        build_request(payload)

    assert str(caught.value).startswith("Invalid campaign request: recipients[3].phone_number: ")
    assert "90000-0003" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ValidationError)


def test_errors_name_nested_paths() -> None:
    payload = make_campaign_payload(3)
    payload["recipients"][1]["recipient_name"] = "   "
    payload["recipients"][2]["dynamic_variables"]["leadName"] = 7

    with pytest.raises(IntegraConfigError) as caught:
        build_request(payload)

    message = str(caught.value)
    assert "recipients[1].recipient_name: Value error, must not be blank" in message
    assert "recipients[2].dynamic_variables.leadName:" in message


def test_many_errors_are_summarised() -> None:
    payload = make_campaign_payload(9)
    for item in payload["recipients"]:
        item["phone_number"] = "invalid"

    with pytest.raises(IntegraConfigError) as caught:
        build_request(payload)

    message = str(caught.value)
    assert message.count("phone_number:") == 5
    assert message.endswith("... and 4 more")


def test_bad_phone_is_absent_from_the_whole_traceback() -> None:
    payload = make_campaign_payload(5)
    payload["recipients"][3]["phone_number"] = "+5511900000003x"

    with pytest.raises(IntegraConfigError) as caught:
        build_request(payload)

    rendered = "".join(traceback.format_exception(caught.value))
    assert "recipients[3].phone_number" in rendered
    assert "+5511900000003x" not in rendered


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("recipients", 3, "phone_number"), "recipients[3].phone_number"),
        (("recipients", 0, "dynamic_variables", "leadName"), "recipients[0].dynamic_variables.leadName"),
        (("config", "call_timeout"), "config.call_timeout"),
        (("name",), "name"),
        ((), "<body>"),
        ((2, "x"), "[2].x"),
        (("recipients", 1, 2), "recipients[1][2]"),
    ],
)
def test_field_path(loc: tuple[int | str, ...], expected: str) -> None:
    assert field_path(loc) == expected


def test_a_validated_request_is_a_campaign_request() -> None:
    assert isinstance(build_request(make_campaign_payload(1)), CampaignRequest)


# -- contract: status codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.CREATED),
        (201, Outcome.CREATED),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (403, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (429, Outcome.RATE_LIMITED),
        (500, Outcome.UNKNOWN),
        (502, Outcome.UNKNOWN),
        (503, Outcome.UNKNOWN),
        (504, Outcome.UNKNOWN),
        (302, Outcome.UNKNOWN),
        (202, Outcome.UNKNOWN),
        (204, Outcome.UNKNOWN),
    ],
)
def test_classify_status(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


@given(st.integers(min_value=100, max_value=599))
def test_only_200_and_201_count_as_created_and_only_4xx_as_safe_rejections(status: int) -> None:
    outcome = classify_status(status)

    assert (outcome is Outcome.CREATED) == (status in (200, 201))
    assert (outcome is Outcome.RATE_LIMITED) == (status == 429)
    assert (outcome is Outcome.REJECTED) == (400 <= status < 500 and status != 429)
    if status >= 500 or status < 200 or 300 <= status < 400:
        assert outcome is Outcome.UNKNOWN


# -- contract: Retry-After -----------------------------------------------------------------------------

NOW = datetime(2026, 3, 20, 9, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("0", 0.0), (" 17 ", 17.0), ("120", 120.0), ("3600", 3600.0), ("1.5", 1.5)],
)
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@given(st.integers(min_value=0, max_value=10**7))
def test_retry_after_any_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == float(seconds)


def test_retry_after_http_date_in_the_future_is_the_seconds_until_then() -> None:
    assert parse_retry_after("Fri, 20 Mar 2026 09:00:30 GMT", now=NOW) == 30.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_retry_after_http_dates(offset: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=offset), usegmt=True)

    assert parse_retry_after(header, now=NOW) == max(0.0, float(offset))


def test_retry_after_http_date_defaults_to_the_real_clock() -> None:
    header = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)

    assert 58.0 <= parse_retry_after(header) <= 60.0  # type: ignore[operator]


@pytest.mark.parametrize(
    "garbage", [None, "", "   ", "soon", "Mon, 99 Foo", "tomorrow at noon", "2026-03-20", "1 minute", "1,5"]
)
def test_retry_after_garbage_is_none(garbage: str | None) -> None:
    assert parse_retry_after(garbage, now=NOW) is None


# -- contract: error bodies ----------------------------------------------------------------------------


def test_error_details_from_the_sandbox_shape() -> None:
    body = json.dumps(
        {
            "error": "validation_error",
            "message": "recipients[3].phone_number must be an E.164 phone number",
            "details": [{"field": "recipients[3].phone_number", "message": "must be E.164"}],
        }
    )

    assert error_details(body) == (
        "recipients[3].phone_number must be an E.164 phone number",
        "recipients[3].phone_number",
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"detail": "Not authenticated"}', ("Not authenticated", None)),
        ('{"error": "rate_limited"}', ("rate_limited", None)),
        ('{"message": "bad", "errors": [{"loc": ["body", "recipients", 0, "phone_number"]}]}',
         ("bad", "body.recipients.0.phone_number")),
        ('{"message": "bad", "details": []}', ("bad", None)),
        ('{"message": "bad", "details": ["just text"]}', ("bad", None)),
        ("{}", ("no message", None)),
        ('["a", "b"]', ("['a', 'b']", None)),
        ('"plain string"', ("plain string", None)),
        ("<html><body>502 Bad Gateway</body></html>", ("<html><body>502 Bad Gateway</body></html>", None)),
        ("  upstream timeout \n", ("upstream timeout", None)),
        ("", ("no message", None)),
    ],
)  # fmt: skip
def test_error_details(body: str, expected: tuple[str, str | None]) -> None:
    assert error_details(body) == expected


def test_error_details_truncates_long_bodies() -> None:
    message, field = error_details("x" * 5000)

    assert message == "x" * 300
    assert field is None
    assert len(error_details(json.dumps({"message": "y" * 5000}))[0]) == 500


def test_panel_campaign_url() -> None:
    assert panel_campaign_url(None, "abc") == f"{contract.DEFAULT_PANEL_URL}/campaigns/abc"
    assert panel_campaign_url("https://panel.example/", "abc") == "https://panel.example/campaigns/abc"


# -- masking -------------------------------------------------------------------------------------------


def test_mask_phone_documented_example() -> None:
    assert mask_phone("+5511987654321") == "+55*******4321"


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_phone_nothing(empty: str | None) -> None:
    assert mask_phone(empty) == "<none>"


@given(e164_numbers)
def test_mask_phone_hides_e164_numbers_but_keeps_the_last_four_digits(number: str) -> None:
    masked = mask_phone(number)

    assert masked != number
    assert number not in masked
    assert masked.endswith(number[-4:])
    assert len(masked) == len(number)
    hidden = number[3:-4]
    assert hidden, "every E.164 number has digits between country code and the last four"
    assert masked[3:-4] == "*" * len(hidden)


@given(st.text(alphabet=string.digits, min_size=5, max_size=20))
def test_mask_phone_hides_bare_digit_strings(digits: str) -> None:
    masked = mask_phone(digits)

    assert masked != digits
    assert masked.endswith(digits[-4:])
    assert "*" in masked


@given(
    st.lists(
        st.one_of(
            e164_numbers,
            st.text(alphabet="+" + string.digits, max_size=20),
            st.text(max_size=20),
            st.from_regex(r"\A\+[0-9\u0660-\u0669]{8,17}\Z"),
        ),
        max_size=30,
    )
)
def test_mask_phones_masks_each_number_as_mask_phone_does(numbers: list[str]) -> None:
    """The short path for E.164 text (every claim masks a whole batch) gives mask_phone's own text."""
    assert mask_phones(numbers) == [mask_phone(number) for number in numbers]


@given(st.text(alphabet=string.digits, min_size=0, max_size=4))
def test_mask_phone_hides_very_short_values_entirely(digits: str) -> None:
    masked = mask_phone("+" + digits)

    assert set(masked) == {"*"}


@given(st.text(alphabet=string.digits, min_size=7, max_size=16))
def test_mask_phone_never_returns_plus_numbers_of_seven_digits_or_more(digits: str) -> None:
    number = "+" + digits

    assert mask_phone(number) != number


@pytest.mark.parametrize("number", ["+123456", "+12345"])
def test_mask_phone_short_plus_numbers_show_at_most_the_last_four_digits(number: str) -> None:
    masked = mask_phone(number)

    assert masked != number
    assert sum(ch.isdigit() for ch in masked) <= 4
