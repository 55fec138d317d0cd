"""Model files: where a GGUF comes from, its tokenizer for aiperf, its chat template."""
