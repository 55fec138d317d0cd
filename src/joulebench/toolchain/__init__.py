"""Toolchains joulebench builds and finds: llama.cpp (llamacpp.py; `joulebench build-llama`).

Used by the llama.cpp backend, the model builders, the capture and the CLI, so it sits below all of them."""
