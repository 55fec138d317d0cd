"""Shared glue for scripts/: log to the rule's log file and fail with one clear line."""
from __future__ import annotations

import contextlib
import sys
import traceback

from .errors import JoulebenchError


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, data):
        for s in self.streams:
            s.write(data)
            s.flush()
        return len(data)

    def flush(self):
        for s in self.streams:
            s.flush()

    @property
    def buffer(self):
        return _TeeBytes([getattr(s, "buffer", s) for s in self.streams])


class _TeeBytes:
    def __init__(self, streams):
        self.streams = streams

    def write(self, data):
        for s in self.streams:
            if hasattr(s, "mode") and "b" not in getattr(s, "mode", "b"):
                s.write(data.decode(errors="replace"))
            else:
                s.write(data)
            s.flush()
        return len(data)

    def flush(self):
        for s in self.streams:
            s.flush()


def run_logged(sm, fn) -> None:
    log_path = sm.log[0] if len(sm.log) else None
    ctx = open(log_path, "a") if log_path else contextlib.nullcontext(None)
    with ctx as log:
        orig = sys.stderr
        if log is not None:
            sys.stderr = _Tee(orig, log)
        try:
            fn(sm)
        except JoulebenchError as exc:
            print(f"joulebench error: {exc}", file=sys.stderr)
            sys.stderr = orig
            sys.exit(1)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            sys.stderr = orig
            sys.exit(1)
        finally:
            sys.stderr = orig


def in_log(log_path: str, fn, *args, **kwargs):
    """For `run:` rules: call fn, write a one-line error (file and line named) to the rule's log."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        with open(log_path, "a") as log:
            if isinstance(exc, JoulebenchError):
                log.write(f"joulebench error: {exc}\n")
            else:
                traceback.print_exc(file=log)
        raise
