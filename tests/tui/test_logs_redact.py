"""The log path's batch redaction: one pass over a joined batch equals line by line."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.events import Bus, LogLine, Notice
from workbench.redact import MASK, REDACTOR, Redactor

SECRETS = ("hunter2-secret", "tok-0123456789", "ssh-KEYMATERIAL")
# Fragments that make the patterns match, half-match, and match across line ends.
FRAGMENTS = st.sampled_from([
    "password", "PassWord", "token", "secret", "authorization", "Authorization: Bearer ", "x-auth-token",
    "X-Subject-Token:", '"', "'", ":", "=", " ", "\t", ",", "}", "value", "abc", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----", "PRIVATE KEY", "bearer", "\u017fecret", "\u0130", "é", "\r", "\x0b",
    *SECRETS, SECRETS[0][:6], SECRETS[1][3:],
])
LINE = st.lists(FRAGMENTS | st.text(max_size=5), max_size=12).map("".join)


def _redactor() -> Redactor:
    redactor = Redactor()
    redactor.add(*SECRETS)
    return redactor


@settings(max_examples=400, deadline=None)
@given(st.lists(LINE, max_size=12))
def test_a_batch_is_redacted_exactly_as_line_by_line(texts: list[str]) -> None:
    redactor = _redactor()
    assert redactor.redact_many(texts) == [redactor.redact(t) for t in texts]


def test_batches_with_line_breaks_or_multiline_secrets_fall_back_to_each_line() -> None:
    redactor = _redactor()
    redactor.add("first-half\nsecond-half")
    texts = ["a first-half", "second-half b", "password=x\ny", "c"]
    assert redactor.redact_many(texts) == [redactor.redact(t) for t in texts]
    assert redactor.redact_many(texts[:2]) == texts[:2]  # each line alone holds no secret
    unchanged = ["plain", "lines"]
    assert redactor.redact_many(unchanged) is unchanged


def test_every_line_a_subscriber_or_listener_gets_is_redacted() -> None:
    async def scenario() -> None:
        REDACTOR.add("canary-7f3a9c2e51")
        bus = Bus()
        plain = bus.subscribe()
        filtered = bus.subscribe(predicate=lambda e: not isinstance(e, LogLine) or "canary" not in e.text)
        heard: list[str] = []
        bus.add_listener(lambda e: heard.append(getattr(e, "text", "")))
        for i in range(300):
            bus.log("salt", "node-1", f"line {i} password=canary-7f3a9c2e51" if i % 7 == 0 else f"line {i}")
        bus.notice("token=canary-7f3a9c2e51")
        got = plain.get_nowait()
        assert len(got) == 301 and isinstance(got[-1], Notice)
        texts = [getattr(e, "text", "") for e in got]
        assert not any("canary" in t for t in texts + heard)
        assert texts[7] == f"line 7 password={MASK}" and texts[1] == "line 1"
        # the predicate saw redacted text, so the masked lines passed it
        assert len(filtered.get_nowait()) == 301

    asyncio.run(scenario())
