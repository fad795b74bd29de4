from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.media_steps import custom_media_shard

    custom_media_shard(
        snakemake.params.rows,
        download=dict(snakemake.params.download),
        media_root=snakemake.params.media_root,
        out=snakemake.output.media,
    )
