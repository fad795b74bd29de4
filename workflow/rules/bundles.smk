# Bundles: a deep experiment's first seed packed with what turns raw media into its scores (audio CNN,
# extraction settings, word-vector and I3D checksums), for `avgzsl predict` and `avgzsl search`.
# Not part of `all`: ask for results/<dataset>/bundles/<experiment>.


if DEEP and KIND.extracts:

    rule bundle:
        input:
            **feature_inputs(),
            **video_weights_inputs(),
            # the seed a bundle packs: the experiment's first
            run=lambda wc: f"{R}/runs/{wc.experiment}/seed{EXPERIMENTS[wc.experiment]['seeds'][0]}",
            audio_cnn=f"{R}/models/audio_cnn.pt",
            # the user's word-vector file, whose checksum the bundle records (none: the packaged GloVe)
            vectors=word_vector_file(),
        output:
            bundle=directory(f"{R}/bundles/{{experiment}}"),
        log:
            f"{R}/logs/bundle/{{experiment}}.log",
        benchmark:
            f"{R}/benchmarks/bundle/{{experiment}}.tsv"
        wildcard_constraints:
            experiment="|".join(DEEP),
        localrule: True
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("write_bundle.py"),
        script:
            "../scripts/write_bundle.py"
