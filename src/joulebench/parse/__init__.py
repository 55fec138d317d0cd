"""Parsers for what the capture step wrote (aiperf exports, server log excerpts)."""
