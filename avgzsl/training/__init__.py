"""Layer 6, training: the class-pair training loop, checkpoints, and one whole experiment run (train, select,
retrain, score).
"""
