from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.released_steps import import_released_step

    import_released_step(
        root=snakemake.params.root,
        out_text=snakemake.output.text,
        out_manifest=snakemake.output.manifest,
        out_classes=snakemake.output.classes,
    )
