"""Why aiperf failed, in words: its exit code says nothing, while aiperf.log and the server's log
excerpt hold the per-request cause. The first line matching a known cause is quoted verbatim."""
from __future__ import annotations

import re
from pathlib import Path

# (pattern, what it means for the user); checked in order, aiperf.log before server.log
CAUSES = [
    (r"exceeds? the available context size|context size has been exceeded",
     "a prompt plus its generation exceed the server's context (raise the backend's ctx_size, or "
     "lower sweep.prompt_tokens / gen_tokens)"),
    (r"TimeoutError|timed? ?out|ReadTimeout",
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


def aiperf_failure_cause(*logs: Path, width: int = 240) -> str | None:
    """'<meaning>: "<quoted line>" (<file>)' for the first known cause found, else None."""
    texts = []
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
