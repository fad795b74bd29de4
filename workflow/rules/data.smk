# Datasets: the manifest, then each shard's clips (rendered, downloaded or the user's own), or an
# import of existing features; which rules exist is the dataset kind's answer (KIND, common.smk).
# A shard job gets its own manifest rows as a param (not the manifest file), so editing the
# manifest re-runs only the shards whose rows changed.


if KIND.extracts:

    rule manifest:
        input:
            user=dataset_user_inputs(),
        output:
            manifest=f"{R}/manifest.csv",
            classes=f"{R}/classes.tsv",
        log:
            f"{R}/logs/manifest.log",
        benchmark:
            f"{R}/benchmarks/manifest.tsv"
        localrule: True
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("write_manifest.py", KIND.module),
            dataset=DATASET,
            settings=canonical(KIND.settings(config)),
            shard_size=config["shard_size"],
            resources=config["resources"],
        script:
            "../scripts/write_manifest.py"


if KIND.media == "rendered":

    rule render_demo_shard:
        output:
            media=f"{R}/media/shard_{{shard}}.tsv",
        log:
            f"{R}/logs/render/shard_{{shard}}.log",
        benchmark:
            f"{R}/benchmarks/render/shard_{{shard}}.tsv"
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("render_demo_shard.py"),
            rows=shard_rows_param,
            settings=demo_settings(),
            media_root=MEDIA_ROOT,
        script:
            "../scripts/render_demo_shard.py"


if KIND.media == "downloaded":

    rule download_shard:
        output:
            media=f"{R}/media/shard_{{shard}}.tsv",
        log:
            f"{R}/logs/download/shard_{{shard}}.log",
        benchmark:
            f"{R}/benchmarks/download/shard_{{shard}}.tsv"
        retries: 1
        # downloads need the network, which cluster compute nodes often lack
        localrule: True
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("download_shard.py"),
            rows=shard_rows_param,
            settings=canonical(config["audiosetzsl"]),
            media_root=MEDIA_ROOT,
        script:
            "../scripts/download_shard.py"


if KIND.media == "files":

    rule custom_media_shard:
        input:
            # only this shard's files: an edited clip re-runs its own shard
            clips=shard_media_files,
        output:
            media=f"{R}/media/shard_{{shard}}.tsv",
        log:
            f"{R}/logs/media/shard_{{shard}}.log",
        benchmark:
            f"{R}/benchmarks/media/shard_{{shard}}.tsv"
        localrule: True
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("custom_media_shard.py"),
            rows=shard_rows_param,
            media_root=MEDIA_ROOT,
            download=canonical(config["audiosetzsl"]),
        script:
            "../scripts/custom_media_shard.py"


if FEATURES_IMPORT == "released":

    rule import_released:
        input:
            released=released_files(),
        output:
            manifest=f"{R}/manifest.csv",
            classes=f"{R}/classes.tsv",
            text=f"{R}/features/text.h5",
            shards=expand(
                f"{R}/features/{{modality}}/{{split}}.h5",
                modality=["audio", "video"],
                split=["trn", "val", "tst"],
            ),
        log:
            f"{R}/logs/import_released.log",
        benchmark:
            f"{R}/benchmarks/import_released.tsv"
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("import_released.py"),
            root=config["features"]["released_root"],
        script:
            "../scripts/import_released.py"


if FEATURES_IMPORT == "avca_benchmark":

    # AVCA-GZSL's released benchmark folder -> our shards; the stage lists map onto trn / val / tst
    # (avgzsl/datasets/avca_import.py), and classes_stage1.tsv keeps the stage-1 class roles.
    rule import_avca_benchmark:
        input:
            released=avca_released_files(),
            lists=avca_split_list_files(),
        output:
            manifest=f"{R}/manifest.csv",
            classes=f"{R}/classes.tsv",
            classes_stage1=f"{R}/classes_stage1.tsv",
            record=f"{R}/avca_benchmark.json",
            text=f"{R}/features/text.h5",
            shards=expand(
                f"{R}/features/{{modality}}/{{split}}.h5",
                modality=["audio", "video"],
                split=["trn", "val", "tst"],
            ),
            # avca_gzsl.features: temporal (TCaF's release): per-clip window sequences as well
            sequences=avca_sequence_shards(),
        log:
            f"{R}/logs/import_avca_benchmark.log",
        benchmark:
            f"{R}/benchmarks/import_avca_benchmark.tsv"
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("import_avca_benchmark.py"),
            dataset=DATASET,
            settings=canonical(config["avca_gzsl"]),
        script:
            "../scripts/import_avca_benchmark.py"
