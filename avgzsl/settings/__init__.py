"""Layer 2, the experiment settings: model, loss and training dataclasses and their presets.
"""
