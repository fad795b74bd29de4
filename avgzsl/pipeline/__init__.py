"""Layer 8, the workflow's steps: one function per rule script (media, extraction, training seeds, baselines,
summaries), the workflow config check and its schema, rule logging and code provenance.
"""
