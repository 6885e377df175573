"""klog's text format: ``I1204 19:30:01.123456   12345 file.go:42] "message" key="value"``."""

import json
import os
import sys
import time

_V = 0


def set_verbosity(level):
    global _V
    try:
        _V = int(level)
    except (TypeError, ValueError):
        _V = 0


def _line(severity, where, msg, kv):
    now = time.time()
    stamp = time.strftime("%m%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"
    parts = [json.dumps(msg)] + [f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in kv.items()]
    sys.stderr.write(f"{severity}{stamp} {os.getpid():>7} {where}] {' '.join(parts)}\n")
    sys.stderr.flush()


def info(where, msg, **kv):
    _line("I", where, msg, kv)


def v(level, where, msg, **kv):
    if level <= _V:
        _line("I", where, msg, kv)


def warning(where, msg, **kv):
    _line("W", where, msg, kv)


def error(where, msg, **kv):
    _line("E", where, msg, kv)
