"""Layer 4, the deep models of Table 1 (AVGZSLNet, CJME, single-modality, concat, AVCA), their layers and losses.
"""
