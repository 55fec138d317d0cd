"""Cool-down before a cell: by temperature (back near idle), fixed sleep, or none."""
from __future__ import annotations

import time


def cool_down(ccfg: dict, platform, say=print) -> dict:
    method = ccfg["method"]
    if method == "none":
        return {"method": "none", "waited_s": 0.0}
    if method == "fixed":
        s = float(ccfg["fixed_s"])
        time.sleep(s)
        return {"method": "fixed", "waited_s": s}
    t0 = time.monotonic()
    temp = platform.temperature_c()
    if temp is None:
        return {"method": "thermal", "waited_s": 0.0, "note": "no temperature sensor; no wait"}
    idle = platform.idle_temperature_c
    target = (idle if idle is not None else temp) + float(ccfg["margin_c"])
    max_wait = float(ccfg["max_wait_s"])
    while temp is not None and temp > target and time.monotonic() - t0 < max_wait:
        time.sleep(2)
        temp = platform.temperature_c()
    waited = time.monotonic() - t0
    if waited > 1:
        say(f"cool-down: {waited:.0f}s, {temp} C (target {target:.1f} C)")
    return {"method": "thermal", "waited_s": round(waited, 2), "end_temp_c": temp, "target_c": target,
            "timed_out": bool(temp is not None and temp > target)}
