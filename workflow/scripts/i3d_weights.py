from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.weights_steps import i3d_weights_step

    i3d_weights_step(
        source=snakemake.params.source, out_weights=snakemake.output.weights, out_sha256=snakemake.output.sha256
    )
