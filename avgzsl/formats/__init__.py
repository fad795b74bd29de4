"""Layer 1, files and their checks: feature shards, manifests and class tables, media tables, ids, atomic
writes, the numpy-only unpickler, strict JSON results, and the in-memory split built from shards.
"""
