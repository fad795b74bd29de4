from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.extraction_steps import extract_audio_step

    extract_audio_step(
        media=snakemake.input.media,
        model=snakemake.input.model,
        decode=dict(snakemake.params.decode),
        logmel=dict(snakemake.params.logmel),
        device=snakemake.params.device,
        autocast=snakemake.params.autocast,
        threads=snakemake.threads,
        out_features=snakemake.output.features,
        out_status=snakemake.output.status,
        temporal=dict(snakemake.params.temporal),
        out_sequences=snakemake.output.get("sequences"),  # extract.features: temporal
    )
