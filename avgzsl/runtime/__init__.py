"""Layer 0, the process: device resolution, seeding, the CPU allocator's thresholds, error lines.
"""
