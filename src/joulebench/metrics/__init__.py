"""Per-cell tables and the overall summary / requests tables."""
