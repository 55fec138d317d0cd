"""Why aiperf failed, in words: its exit code says nothing, while its per-request records, its log
and the server's log excerpt hold the cause. The first line matching a known cause is quoted."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

# (pattern, what it means for the user); checked in order, aiperf.log before server.log
CAUSES = [
    (r"exceeds? the available context size|context size has been exceeded",
     "a prompt plus its generation exceed the server's context (raise the backend's ctx_size, or "
     "lower sweep.prompt_tokens / gen_tokens)"),
    (r"No space left on device|Errno 28",
     "the disk is full (aiperf could not write its results)"),
    (r"TimeoutError|timed out|ReadTimeout",
     "requests timed out (sweep.request_timeout_s; is the server far slower than expected?)"),
    (r"\b501\b|Not Implemented",
     "the server answered HTTP 501: it does not implement the endpoint aiperf calls"),
    (r"Connection refused|Cannot connect|ClientConnectorError",
     "aiperf could not connect to the server"),
    (r"\b(4\d\d|5\d\d)\b.*(error|Error)|(error|Error).*\b(4\d\d|5\d\d)\b",
     "the server answered requests with an HTTP error"),
    (r"Traceback|(?<![a-z_])[A-Z]\w*Error\b|\berror\b",
     "aiperf reported an error"),
]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TAGS = re.compile(r"<[^>]+>")


def request_errors(export: Path) -> list[str]:
    """One line per distinct per-request error in aiperf's profile_export.jsonl, most common first:
    'N of M requests failed: HTTP <code> <type>: <message>'."""
    errors, total = Counter(), 0
    try:
        lines = Path(export).read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            err = json.loads(line).get("error")
        except (ValueError, AttributeError):
            continue
        total += 1
        if err:
            message = " ".join(_TAGS.sub(" ", str(err.get("message", ""))).split())[:200]
            errors[(err.get("code"), err.get("type"), message)] += 1
    return [f"{n} of {total} requests failed: HTTP {code} {kind}: {message}"
            for (code, kind, message), n in errors.most_common()]


def aiperf_failure_cause(export: Path, *logs: Path, width: int = 240) -> str | None:
    """'<meaning>: "<quoted line>" (<file>)' for the first known cause found in the per-request
    errors of `export`, then in the logs; None when nothing matches."""
    texts = [(Path(export).name, request_errors(export))]
    for path in logs:
        try:
            raw = Path(path).read_bytes().decode(errors="replace")
        except OSError:
            continue
        lines = [_ANSI.sub("", ln).strip() for ln in re.split(r"[\r\n]+", raw)]
        texts.append((Path(path).name, [ln for ln in lines if ln]))
    for pattern, meaning in CAUSES:
        rx = re.compile(pattern)
        for name, lines in texts:
            for line in lines:
                if rx.search(line):
                    quoted = line if len(line) <= width else line[: width - 3] + "..."
                    return f'{meaning}: "{quoted}" ({name})'
    return None
