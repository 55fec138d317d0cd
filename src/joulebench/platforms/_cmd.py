"""Running device tools: argument lists only, privileged steps only as `sudo -n <tool> ...`.

Why `sudo -n`: a capture job runs unattended under Snakemake; a password prompt would hang it.
`-n` makes sudo fail at once, and we turn that into one actionable line naming the sudoers entry
(docs/platforms.md). Tools are resolved to absolute paths first, because sudoers rules match the
absolute path of the command.
"""
from __future__ import annotations

import shutil
import subprocess

from ..errors import CaptureError

SUDOERS_HINT = "see docs/platforms.md for the sudoers line that allows it without a password"


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise CaptureError(f"{name} not found on PATH; it is needed to set and read the power mode")
    return path


def run(argv: list[str], timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run without a shell; stdin is /dev/null so an interactive prompt (nvpmodel's reboot
    question) reads EOF instead of waiting forever."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise CaptureError(f"`{' '.join(argv)}` did not finish within {timeout:.0f}s") from exc
    except OSError as exc:
        raise CaptureError(f"cannot run `{' '.join(argv)}`: {exc}") from exc
    if check and proc.returncode != 0:
        raise CaptureError(
            f"`{' '.join(argv)}` failed with code {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}"
        )
    return proc


def sudo(argv: list[str], timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
    """`sudo -n <absolute tool path> args...`; a refused sudo becomes a CaptureError with the fix."""
    full = [tool("sudo"), "-n", tool(argv[0]) if "/" not in argv[0] else argv[0], *argv[1:]]
    proc = run(full, timeout=timeout, check=False)
    text = f"{proc.stdout}\n{proc.stderr}"
    if proc.returncode != 0 and ("password is required" in text or "a terminal is required" in text
                                 or "not allowed to execute" in text or "may not run sudo" in text):
        raise CaptureError(
            f"sudo refused `{' '.join(full[2:])}` ({proc.stderr.strip() or proc.stdout.strip()}); "
            f"{SUDOERS_HINT}"
        )
    if check and proc.returncode != 0:
        raise CaptureError(
            f"`{' '.join(full)}` failed with code {proc.returncode}: {text.strip()[-800:]}"
        )
    return proc


def boot_id(path: str = "/proc/sys/kernel/random/boot_id") -> str | None:
    """Changes at every boot: lets a 'reboot required' marker expire by itself after the reboot."""
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None
