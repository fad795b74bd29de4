"""Layer 5, scoring and metrics: distances per test modality, GZSL S / U / HM, ZSL, calibration, retrieval mAP,
epoch selection rules, saved score files, the Friedman / Nemenyi test.
"""
