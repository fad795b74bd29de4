from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.media_steps import render_demo_shard

    render_demo_shard(
        snakemake.params.rows,
        settings=dict(snakemake.params.settings),
        media_root=snakemake.params.media_root,
        out=snakemake.output.media,
    )
