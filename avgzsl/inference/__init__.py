"""Layer 8, beside the workflow's steps: a trained run used on new clips. A bundle packs a run with what
turns raw media into its scores (bundle); new clips go through the workflow's own extraction steps
(clip_features); class names given at run time are ranked per clip, or clips per class name (ranking).
"""
