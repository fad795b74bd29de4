from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.table_steps import tables_step

    tables_step(
        summaries=list(snakemake.input.summaries),
        manifest=snakemake.input.manifest,
        status={"audio": list(snakemake.input.audio_status), "video": list(snakemake.input.video_status)},
        out_dir=snakemake.output[0].rsplit("/", 1)[0],
        dataset=snakemake.params.dataset,
        variant=snakemake.params.variant or None,
    )
