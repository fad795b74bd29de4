"""Layer 7, reporting: Tables 1-4 and coverage beside the paper's numbers, the AVCA-GZSL benchmark table,
figures, and tables recomputed from saved scores.
"""
