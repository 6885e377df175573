"""The YAML that kubeconfigs and component config files use, stdlib only (nodes have no PyYAML).

Block mappings and sequences (``- `` items at or beyond their key's indent), plain, quoted
and ``|`` block scalars, ``[]``/``{}`` and simple one-line flow lists; JSON as is.
Anything else raises ``ValueError`` naming the line, as a real loader would refuse it.
"""

import json
import re


def load(text):
    if text.lstrip().startswith(("{", "[")):
        return json.loads(text)
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if stripped.strip() in ("", "---"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ValueError(f"line {number}: found character that cannot start any token (tab)")
        lines.append((len(stripped) - len(stripped.lstrip()), stripped.strip(), number, raw))
    if not lines:
        return None
    value, pos = _node(lines, 0, lines[0][0])
    if pos != len(lines):
        raise ValueError(f"line {lines[pos][2]}: did not find expected key")
    return value


def _node(lines, pos, indent):
    if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
        return _seq(lines, pos, indent)
    return _map(lines, pos, indent)


def _seq(lines, pos, indent):
    out = []
    while pos < len(lines) and lines[pos][0] == indent and (lines[pos][1].startswith("- ") or lines[pos][1] == "-"):
        rest = lines[pos][1][1:].strip()
        if not rest:
            value, pos = _node(lines, pos + 1, lines[pos + 1][0])
        elif re.match(r"^[^'\"\[{][^:]*:(\s|$)", rest):
            # "- key: value" opens a mapping indented at the item's content
            inner = indent + 2
            lines[pos] = (inner, rest, lines[pos][2], lines[pos][3])
            value, pos = _map(lines, pos, inner)
        else:
            value, pos = _scalar(rest), pos + 1
        out.append(value)
    return out, pos


def _map(lines, pos, indent):
    out = {}
    while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
        _, text, number, _ = lines[pos]
        m = re.match(r"^(\"[^\"]*\"|'[^']*'|[^:]+?):(?:\s+(.*))?$", text)
        if not m:
            raise ValueError(f"line {number}: could not find expected ':'")
        key, rest = _scalar(m.group(1)), (m.group(2) or "").strip()
        pos += 1
        if rest in ("|", "|-", ">"):
            block = []
            while pos < len(lines) and lines[pos][0] > indent:
                block.append(lines[pos][3][lines[pos][0]:] if False else lines[pos][3].strip())
                pos += 1
            out[key] = "\n".join(block) + ("" if rest == "|-" else "\n")
        elif rest:
            out[key] = _scalar(rest)
        elif pos < len(lines) and (lines[pos][0] > indent or (lines[pos][0] == indent and lines[pos][1].startswith("- "))):
            out[key], pos = _node(lines, pos, lines[pos][0])
        else:
            out[key] = None
    return out, pos


def _scalar(text):
    if text[:1] in "\"'":
        if text[0] == '"':
            return json.loads(text)
        return text[1:-1].replace("''", "'")
    if text in ("[]",):
        return []
    if text in ("{}",):
        return {}
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(p.strip()) for p in text[1:-1].split(",") if p.strip()]
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if text in ("null", "~"):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text
