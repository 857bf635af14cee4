"""The HTTP conformance checker: one test per rule, each refused message explained."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import _conformance as c
from aaf._conformance import ASGIProtocolError, HTTPResponseChecker, Rule

Message = dict[str, Any]


def start(status: int = 200, headers: Any = ()) -> Message:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def refused(rule: Rule, *messages: Message, method: str = "GET") -> ASGIProtocolError:
    """Feed ``messages``; all but the last must pass, the last must break ``rule``."""
    checker = HTTPResponseChecker(method)
    for message in messages[:-1]:
        checker.check_send(message)
    with pytest.raises(ASGIProtocolError) as caught:
        checker.check_send(messages[-1])
    assert caught.value.rule is rule, str(caught.value)
    return caught.value


def accepted(*messages: Message, method: str = "GET") -> HTTPResponseChecker:
    checker = HTTPResponseChecker(method)
    for message in messages:
        checker.check_send(message)
    checker.check_app_returned()
    return checker


def test_a_plain_response_passes_and_the_state_follows_it() -> None:
    checker = HTTPResponseChecker("GET")
    assert (checker.started, checker.finished) == (False, False)
    checker.check_send(start(200, [(b"content-length", b"5")]))
    assert (checker.started, checker.finished) == (True, False)
    checker.check_send(body(b"he", more=True))
    checker.check_send(body(b"llo"))
    assert checker.finished
    assert checker.headers == [(b"content-length", b"5")]


def test_the_error_names_the_rule_the_message_the_place_and_the_fix() -> None:
    error = refused(c.START_ONCE, start(), start(201))
    text = str(error)
    assert "[start-once]" in text
    assert "second message" in text
    assert "'status': 201" in text
    assert "fix: " in text
    assert isinstance(error, RuntimeError)


def test_long_bodies_are_shown_briefly() -> None:
    error = refused(c.BODY_BYTES, start(), {"type": "http.response.body", "body": "x" * 10_000})
    assert len(str(error).splitlines()[1]) < 240
    assert c.preview({"body": b"y" * 5000}) == "{'body': b'yyyyyyyyyyyyyyyy'...(5000 bytes)}"


def test_every_rule_has_a_name_requirement_and_fix() -> None:
    names = [rule.name for rule in c.RULES]
    assert len(names) == len(set(names))
    assert all(rule.requirement and rule.fix for rule in c.RULES)


@pytest.mark.parametrize("kind", ["http.response.trailers", "websocket.send", "nonsense", None])
def test_message_type_must_be_an_http_response_message(kind: Any) -> None:
    refused(c.MESSAGE_TYPE, {"type": kind})
    refused(c.MESSAGE_TYPE, start(), {"type": kind})


@pytest.mark.parametrize("first", [body(b"x"), {"type": "http.response.pathsend", "path": "/f"}])
def test_start_comes_first(first: Message) -> None:
    refused(c.START_FIRST, first)


def test_start_is_sent_once() -> None:
    refused(c.START_ONCE, start(), start())
    refused(c.START_ONCE, start(), body(b"x", more=True), start(500))
    refused(c.START_ONCE, start(), body(), start(500))  # even after the response ended


@pytest.mark.parametrize("status", [99, 600, 0, -1, "200", 200.0, True, None])
def test_status_is_an_int_from_100_to_599(status: Any) -> None:
    refused(c.STATUS, {"type": "http.response.start", "status": status})


@pytest.mark.parametrize("status", [100, 200, 599])
def test_status_bounds_are_accepted(status: int) -> None:
    accepted(start(status), body())


@pytest.mark.parametrize(
    "headers", [b"content-type: x", "x", {b"a": b"b"}, [(b"a",)], [(b"a", b"b", b"c")], [b"ab"], 5]
)
def test_headers_are_an_iterable_of_pairs(headers: Any) -> None:
    refused(c.HEADERS_SHAPE, {"type": "http.response.start", "status": 200, "headers": headers})


def test_headers_may_be_any_iterable_and_are_read_once() -> None:
    pairs = iter([(b"x-a", b"1"), [b"x-b", b"2"]])
    message = {"type": "http.response.start", "status": 200, "headers": pairs}
    checker = accepted(message, body())
    assert checker.headers == [(b"x-a", b"1"), (b"x-b", b"2")]


@pytest.mark.parametrize(
    "pair", [("x-a", b"1"), (b"x-a", "1"), (b"x-a", 1), (bytearray(b"x"), b"1")]
)
def test_header_names_and_values_are_bytes(pair: Any) -> None:
    refused(c.HEADER_BYTES, start(headers=[pair]))


@pytest.mark.parametrize("name", [b"", b"x a", b"x:a", b"x\r\na", b"caf\xc3\xa9", b"(x)"])
def test_header_names_are_tokens(name: bytes) -> None:
    refused(c.HEADER_NAME_TOKEN, start(headers=[(name, b"1")]))


@pytest.mark.parametrize("name", [b"Content-Type", b"X-A", b"x-A"])
def test_header_names_are_lower_case(name: bytes) -> None:
    refused(c.HEADER_NAME_LOWERCASE, start(headers=[(name, b"1")]))


@pytest.mark.parametrize(
    "value", [b"a\r\nb", b"a\nb", b"a\x00b", b"\x01", b"a\x7f", b" a", b"a ", b"a\t", b"\x0b"]
)
def test_header_values_have_no_controls_or_outer_whitespace(value: bytes) -> None:
    refused(c.HEADER_VALUE_CHARS, start(headers=[(b"x-a", value)]))


@pytest.mark.parametrize("value", [b"", b"a", b"a b\tc", b"caf\xe9", b'W/"1"'])
def test_ordinary_header_values_pass(value: bytes) -> None:
    accepted(start(headers=[(b"x-a", value)]), body())


def test_content_length_is_sent_once() -> None:
    twice = [(b"content-length", b"1"), (b"content-length", b"1")]
    refused(c.CONTENT_LENGTH_SINGLE, start(headers=twice))


def test_content_type_is_sent_once() -> None:
    twice = [(b"content-type", b"text/plain"), (b"content-type", b"text/html")]
    refused(c.CONTENT_TYPE_SINGLE, start(headers=twice))


def test_other_headers_may_repeat() -> None:
    cookies = [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    assert accepted(start(headers=cookies), body()).headers == cookies


@pytest.mark.parametrize(
    "value", [b"-1", b"+1", b"1.0", b"0x10", b"1, 1", b"", b"1_0", b"\xd9\xa1"]
)
def test_content_length_is_a_non_negative_decimal(value: bytes) -> None:
    refused(c.CONTENT_LENGTH_VALUE, start(headers=[(b"content-length", value)]))


@pytest.mark.parametrize("status", [100, 103, 204])
def test_no_content_length_on_1xx_and_204(status: int) -> None:
    refused(c.NO_CONTENT_LENGTH, start(status, [(b"content-length", b"0")]))


def test_content_length_is_fine_on_head_and_304() -> None:
    accepted(start(200, [(b"content-length", b"10")]), body(), method="HEAD")
    accepted(start(304, [(b"content-length", b"10")]), body())


@pytest.mark.parametrize(
    ("status", "method"), [(101, "GET"), (204, "GET"), (304, "GET"), (200, "HEAD")]
)
def test_no_body_bytes_on_1xx_204_304_or_head(status: int, method: str) -> None:
    error = refused(c.NO_BODY, start(status), body(b"x"), method=method)
    reason = error.detail  # says why this response has no body
    assert reason.endswith("HEAD request" if method == "HEAD" else f"a {status} response")
    refused(c.NO_BODY, start(status), body(b"", more=True), body(b"late"), method=method)
    pathsend = {"type": "http.response.pathsend", "path": "/srv/file"}
    refused(c.NO_BODY, start(status), pathsend, method=method)
    accepted(start(status), body(b"", more=True), body(), method=method)


def test_head_is_recognised_in_any_case() -> None:
    refused(c.NO_BODY, start(), body(b"x"), method="head")


@pytest.mark.parametrize("data", ["text", bytearray(b"x"), memoryview(b"x"), None, 1])
def test_body_is_bytes(data: Any) -> None:
    refused(c.BODY_BYTES, start(), {"type": "http.response.body", "body": data})


def test_body_may_not_exceed_content_length() -> None:
    length = [(b"content-length", b"3")]
    refused(c.BODY_TOO_LONG, start(headers=length), body(b"abcd"))
    refused(c.BODY_TOO_LONG, start(headers=length), body(b"ab", more=True), body(b"cd", more=True))


def test_the_final_body_must_reach_content_length() -> None:
    length = [(b"content-length", b"3")]
    error = refused(c.BODY_TOO_SHORT, start(headers=length), body(b"ab", more=True), body())
    assert "2 bytes" in str(error)
    accepted(start(headers=length), body(b"ab", more=True), body(b"c"))


def test_pathsend_carries_an_absolute_str_path() -> None:
    for path in ["relative/file", b"/bytes", None]:
        refused(c.PATHSEND_PATH, start(), {"type": "http.response.pathsend", "path": path})
    accepted(start(), {"type": "http.response.pathsend", "path": "/srv/file"})


def test_pathsend_is_the_whole_body() -> None:
    pathsend = {"type": "http.response.pathsend", "path": "/srv/file"}
    refused(c.PATHSEND_WHOLE_BODY, start(), body(b"", more=True), pathsend)


@pytest.mark.parametrize("last", [body(), {"type": "http.response.pathsend", "path": "/srv/file"}])
def test_nothing_after_the_final_body_or_a_pathsend(last: Message) -> None:
    refused(c.AFTER_FINISH, start(), last, body())
    refused(c.AFTER_FINISH, start(), last, {"type": "http.response.pathsend", "path": "/f"})


def test_more_body_defaults_to_false() -> None:
    refused(c.AFTER_FINISH, start(), {"type": "http.response.body", "body": b"x"}, body())


def test_returning_with_the_response_unfinished_is_refused() -> None:
    checker = HTTPResponseChecker("GET")
    checker.check_send(start())
    checker.check_send(body(b"x", more=True))
    with pytest.raises(ASGIProtocolError, match="without finishing the response") as caught:
        checker.check_app_returned()
    assert caught.value.rule is c.UNFINISHED


def test_returning_without_a_response_is_refused() -> None:
    with pytest.raises(ASGIProtocolError, match="without starting a response") as caught:
        HTTPResponseChecker("GET").check_app_returned()
    assert caught.value.rule is c.NO_RESPONSE
    assert "having sent nothing" in str(caught.value)


def test_a_refused_message_does_not_change_the_state() -> None:
    checker = HTTPResponseChecker("GET")
    with pytest.raises(ASGIProtocolError):
        checker.check_send(start(600))
    assert not checker.started
    checker.check_send(start(500, [(b"content-length", b"2")]))
    with pytest.raises(ASGIProtocolError):
        checker.check_send(body(b"toolong"))
    checker.check_send(body(b"ok"))
    assert checker.finished
