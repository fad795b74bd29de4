from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.benchmark_steps import import_benchmark_step

    import_benchmark_step(
        dataset=snakemake.params.dataset,
        settings=dict(snakemake.params.settings),
        out_text=snakemake.output.text,
        out_manifest=snakemake.output.manifest,
    )
