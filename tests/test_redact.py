"""The redactor takes secrets as YAML gives them: a numeric password is still masked."""

from __future__ import annotations

from workbench.redact import Redactor


def test_non_string_secrets_are_registered_by_their_text() -> None:
    redactor = Redactor()
    redactor.add(12345678, True, None, "", "s3cret-word")
    text = redactor.redact("login with 12345678 and s3cret-word")
    assert "12345678" not in text and "s3cret-word" not in text
