"""Runnable code of Backend Engineering from First Principles.

One subpackage per layer of a backend, mirroring `docs/`: `communication`,
`application`, `data`, `reliability`, `performance`, `observability`. Each topic
module runs on its own (`python -m snippets.<layer>.<topic>`) and uses the
standard library only, so every section shown on a page can be pasted into a
REPL.
"""
