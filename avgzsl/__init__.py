"""AVGZSLNet: audio-visual generalized zero-shot learning — model, training and evaluation."""
__version__ = "0.1.0"
