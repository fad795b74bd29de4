# Feature extraction: word vectors per class, the audio CNN (trained here on seen-class
# train clips), the I3D weights, then one job per shard and modality (with extract.features:
# temporal, the same job also writes its clips' window sequences: sequence_output in common.smk).


if KIND.extracts and config["extract"]["video"]["weights"] == "kinetics400":

    # DeepMind's Kinetics-400 I3D converted to torch, copied into this run's resources with its
    # checksum, so the video jobs depend on a tracked file; the user cache only saves re-conversion.
    rule i3d_weights:
        output:
            weights=I3D_WEIGHTS,
            sha256=f"{I3D_WEIGHTS}.sha256",
        log:
            f"{config['resources']}/logs/i3d_weights.log",
        benchmark:
            f"{config['resources']}/benchmarks/i3d_weights.tsv"
        localrule: True
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("i3d_weights.py"),
            source=weights_source(),
        script:
            "../scripts/i3d_weights.py"


if KIND.extracts:

    rule text_features:
        input:
            classes=f"{R}/classes.tsv",
            vectors=word_vector_file(),
        output:
            f"{R}/features/text.h5",
        log:
            f"{R}/logs/text_features.log",
        benchmark:
            f"{R}/benchmarks/text_features.tsv"
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("text_features.py"),
            text=text_settings(),
        script:
            "../scripts/text_features.py"

    rule train_audio_cnn:
        input:
            manifest=f"{R}/manifest.csv",
            classes=f"{R}/classes.tsv",
            media=expand(f"{R}/media/shard_{{shard}}.tsv", shard=SHARDS),
        output:
            f"{R}/models/audio_cnn.pt",
        log:
            f"{R}/logs/train_audio_cnn.log",
        benchmark:
            f"{R}/benchmarks/train_audio_cnn.tsv"
        conda:
            "../envs/avgzsl.yaml"
        threads: 2
        resources:
            gpu=GPU,
        params:
            code=code("train_audio_cnn.py"),
            decode=canonical(config["extract"]["decode"]),
            logmel=canonical(config["extract"]["logmel"]),
            model=canonical(config["extract"]["audio_cnn"]),
            train=canonical(config["extract"]["audio_train"]),
            device=config["device"],
        script:
            "../scripts/train_audio_cnn.py"

    rule extract_audio_shard:
        input:
            media=f"{R}/media/shard_{{shard}}.tsv",
            model=f"{R}/models/audio_cnn.pt",
        output:
            **sequence_output("audio"),
            features=f"{R}/features/audio/shard_{{shard}}.h5",
            status=f"{R}/features/audio/shard_{{shard}}.status.tsv",
        log:
            f"{R}/logs/extract_audio/shard_{{shard}}.log",
        benchmark:
            f"{R}/benchmarks/extract_audio/shard_{{shard}}.tsv"
        conda:
            "../envs/avgzsl.yaml"
        threads: 8 if GPU else 2
        resources:
            gpu=GPU,
        params:
            code=code("extract_audio_shard.py"),
            decode=canonical(config["extract"]["decode"]),
            logmel=canonical(config["extract"]["logmel"]),
            temporal=temporal_settings(),
            device=config["device"],
            autocast=config["extract"]["autocast"],
        script:
            "../scripts/extract_audio_shard.py"

    rule extract_video_shard:
        input:
            **video_weights_inputs(),
            media=f"{R}/media/shard_{{shard}}.tsv",
        output:
            **sequence_output("video"),
            features=f"{R}/features/video/shard_{{shard}}.h5",
            status=f"{R}/features/video/shard_{{shard}}.status.tsv",
        log:
            f"{R}/logs/extract_video/shard_{{shard}}.log",
        benchmark:
            f"{R}/benchmarks/extract_video/shard_{{shard}}.tsv"
        conda:
            "../envs/avgzsl.yaml"
        threads: 8 if GPU else 2
        resources:
            gpu=GPU,
        params:
            code=code("extract_video_shard.py"),
            decode=canonical(config["extract"]["decode"]),
            video=canonical(config["extract"]["video"]),
            device=config["device"],
            autocast=config["extract"]["autocast"],
        script:
            "../scripts/extract_video_shard.py"
