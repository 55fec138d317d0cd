"""Capturing one cell on the device: mode check, server, telemetry, aiperf, validation, write-once."""
