from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.extraction_steps import train_audio_cnn_step

    train_audio_cnn_step(
        media_tables=list(snakemake.input.media),
        manifest=snakemake.input.manifest,
        classes=snakemake.input.classes,
        decode=dict(snakemake.params.decode),
        logmel=dict(snakemake.params.logmel),
        model=dict(snakemake.params.model),
        train=dict(snakemake.params.train),
        device=snakemake.params.device,
        threads=snakemake.threads,
        out=snakemake.output[0],
    )
