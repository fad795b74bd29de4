# Bundles: a deep experiment's first seed packed with what turns raw media into its scores (audio CNN,
# extraction settings, word-vector and I3D checksums), for `avgzsl predict` and `avgzsl search`.
# Not part of `all`: ask for results/<dataset>/bundles/<experiment>.


def bundle_run(wildcards):
    """The seed a bundle packs: the experiment's first."""
    seed = EXPERIMENTS[wildcards.experiment]["seeds"][0]
    return f"{R}/runs/{wildcards.experiment}/seed{seed}"


def bundle_word_vectors():
    """The user's word-vector file, whose checksum the bundle records; None for the packaged GloVe."""
    source = text_settings()["source"]
    return None if source == "glove-6b-50d" else source


if DEEP and KIND.extracts:

    rule bundle:
        input:
            **feature_inputs(),
            **video_weights_inputs(),
            run=bundle_run,
            audio_cnn=f"{R}/models/audio_cnn.pt",
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
            results=R,
            word_vectors=bundle_word_vectors(),
        script:
            "../scripts/write_bundle.py"
