"""Feature extractors: clips in, feature shards out (audio CNN, Kinetics I3D, word vectors)."""
