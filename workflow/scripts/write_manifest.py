from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.media_steps import write_manifest

    write_manifest(
        snakemake.params.dataset,
        dict(snakemake.params.settings),
        resources=snakemake.params.resources,
        manifest_out=snakemake.output.manifest,
        classes_out=snakemake.output.classes,
    )
