"""Layer 3, datasets: the demo renderer, AudioSetZSL, custom manifests, released features and the AVCA-GZSL
benchmarks (class lists, import, stage roles), and loading a run's splits from its feature files.
"""
