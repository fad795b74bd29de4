from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.baseline_experiment import run_baseline_experiment

    run_baseline_experiment(
        dict(snakemake.params.experiment),
        manifest=snakemake.input.manifest,
        classes=snakemake.input.classes,
        text=snakemake.input.text,
        audio=list(snakemake.input.audio),
        video=list(snakemake.input.video),
        seed_out=snakemake.output.run,
        summary_out=snakemake.output.summary,
        # AVCA-GZSL benchmarks: stage-1 class roles, then a refit on trn + val (avgzsl.datasets.avca_stages)
        stage1_classes=snakemake.input.get("classes_stage1"),
    )
