from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.experiments import keep_training_memory, train_seed

    keep_training_memory()  # this process only trains: freed blocks are kept for reuse

    train_seed(
        dict(snakemake.params.experiment),
        int(snakemake.wildcards.seed),
        manifest=snakemake.input.manifest,
        classes=snakemake.input.classes,
        text=snakemake.input.text,
        audio=list(snakemake.input.audio),
        video=list(snakemake.input.video),
        threads=snakemake.threads,
        out=snakemake.output.run,
        # AVCA-GZSL benchmarks: the stage-1 class roles for trn and val (avgzsl.datasets.avca_stages)
        stage1_classes=snakemake.input.get("classes_stage1"),
        # TCaF's temporal release: per-clip window sequences (avgzsl.datasets.tcaf_import)
        audio_seq=list(snakemake.input.get("audio_seq", [])),
        video_seq=list(snakemake.input.get("video_seq", [])),
    )
