"""Secret redaction: every line a person or a file may see passes through ``redact``.

Secrets are registered as they become known (cloud password, kubelet tokens, private
key material); patterns catch the rest (auth headers, PEM blocks, token= fields).
"""

from __future__ import annotations

import re
import threading

MASK = "****"

_PATTERNS = [
    re.compile(r"(?i)(x-(?:auth|subject)-token:?\s*)([^\s'\"]+)"),
    re.compile(r"(?i)(\"?(?:password|token|secret)\"?\s*[:=]\s*\"?)([^\s\"',}]+)"),
    re.compile(r"(?i)(authorization:?\s*bearer\s+)(\S+)"),
]
#: Every pattern above needs one of these words; lines without them skip the patterns.
_MAY_MATCH = re.compile(r"(?i)token|password|secret|authorization")
_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(-----END \1-----|$)", re.DOTALL
)
#: The same patterns for a batch joined with newlines: no match crosses a line break, so
#: each line of the batch is redacted exactly as it would be alone (see ``redact_many``).
_LINE_PATTERNS = [
    re.compile(r"(?i)(x-(?:auth|subject)-token:?[^\S\n]*)([^\s'\"]+)"),
    re.compile(r"(?i)(\"?(?:password|token|secret)\"?[^\S\n]*[:=][^\S\n]*\"?)([^\s\"',}]+)"),
    re.compile(r"(?i)(authorization:?[^\S\n]*bearer[^\S\n]+)(\S+)"),
]
_LINE_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(-----END \1-----|$)", re.MULTILINE)


def _may_match(text: str) -> bool:
    """``_MAY_MATCH.search`` at a tenth of its cost for ASCII text (the IGNORECASE
    alternation costs ~2 us per line; ``lower`` and four substring scans run at C speed)."""
    if text.isascii():
        low = text.lower()
        return "token" in low or "password" in low or "secret" in low or "authorization" in low
    return _MAY_MATCH.search(text) is not None


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._regex: re.Pattern[str] | None = None

    def add(self, *values: object) -> None:
        """Register secrets; short values (< 6 chars) are ignored to avoid masking noise.

        Non-strings count by their text: YAML reads ``password: 123456`` as an int."""
        with self._lock:
            for value in values:
                secret = value if isinstance(value, str) else "" if value is None else str(value)
                if len(secret) >= 6 and secret not in self._secrets:
                    self._secrets.add(secret)
                    self._regex = None

    def _secrets_regex(self) -> re.Pattern[str] | None:
        regex = self._regex
        if regex is None and self._secrets:
            with self._lock:
                ordered = sorted(self._secrets, key=len, reverse=True)
                regex = self._regex = re.compile("|".join(map(re.escape, ordered)))
        return regex

    def redact(self, text: str) -> str:
        if not text:
            return text
        regex = self._secrets_regex()
        if regex is not None:
            text = regex.sub(MASK, text)
        if "PRIVATE KEY" in text:
            text = _PEM.sub(_pem_mask, text)
        if _may_match(text):  # one cheap scan instead of three subs per line
            for pattern in _PATTERNS:
                text = pattern.sub(_value_mask, text)
        return text

    def redact_many(self, texts: list[str]) -> list[str]:
        """``[redact(t) for t in texts]`` in one pass of each regex over the joined batch
        (per-line calls cost more than the scanning at 50,000 lines/s). Returns ``texts``
        itself when nothing changed. Texts holding a line break are redacted one by one."""
        if len(texts) < 2:
            return self._one_by_one(texts)
        joined = "\n".join(texts)
        if joined.count("\n") != len(texts) - 1:
            return self._one_by_one(texts)
        text = joined
        regex = self._secrets_regex()
        if regex is not None:
            text = regex.sub(MASK, text)
        if "PRIVATE KEY" in text:
            text = _LINE_PEM.sub(_pem_mask, text)
        if _may_match(text):
            for pattern in _LINE_PATTERNS:
                text = pattern.sub(_value_mask, text)
        if text == joined:
            return texts
        lines = text.split("\n")
        # a registered secret holding a line break matched across lines: redact alone
        return lines if len(lines) == len(texts) else self._one_by_one(texts)

    def _one_by_one(self, texts: list[str]) -> list[str]:
        out = [self.redact(t) for t in texts]
        return texts if out == texts else out


def _pem_mask(match: re.Match[str]) -> str:
    return f"-----BEGIN {match.group(1)}----- {MASK}"


def _value_mask(match: re.Match[str]) -> str:
    return match.group(1) + MASK


def mask(secret: str) -> str:
    """Show a secret the way a person may see it: its first 4 characters, then stars."""
    if len(secret) <= 8:
        return MASK
    return secret[:4] + MASK


#: The process-wide redactor used by the bus, the CLI and the log file.
REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR.redact(text)


def redact_many(texts: list[str]) -> list[str]:
    return REDACTOR.redact_many(texts)
