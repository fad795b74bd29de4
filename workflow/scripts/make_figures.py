from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.figure_steps import figures_step

    figures_step(
        experiments=dict(snakemake.params.experiments),
        runs=snakemake.params.runs,
        features=dict(
            manifest=snakemake.input.manifest,
            classes=snakemake.input.classes,
            text=snakemake.input.text,
            audio=list(snakemake.input.audio),
            video=list(snakemake.input.video),
        ),
        curves_out=snakemake.output.curves,
        tsne_out=snakemake.output.tsne,
        cd_out=snakemake.output.cd,
    )
