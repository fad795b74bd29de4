from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.bundle_steps import bundle_step

    bundle_step(
        run=snakemake.input.run,
        results=snakemake.params.results,
        out=snakemake.output.bundle,
        word_vectors=snakemake.params.word_vectors,
        i3d_weights=snakemake.input.get("weights"),
    )
