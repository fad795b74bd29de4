from pathlib import Path

from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.bundle_steps import bundle_step

    vectors = list(snakemake.input.get("vectors", []))
    bundle_step(
        run=snakemake.input.run,
        # the dataset's results folder: its classes, audio CNN and feature shards
        results=str(Path(snakemake.input.classes).parent),
        out=snakemake.output.bundle,
        word_vectors=vectors[0] if vectors else None,
        i3d_weights=snakemake.input.get("weights"),
    )
