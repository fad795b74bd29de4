from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    import logging

    from avgzsl_extractors.i3d_weights import write_kinetics400_weights

    digest = write_kinetics400_weights(snakemake.output.weights, snakemake.output.sha256)
    logging.getLogger("avgzsl").info("Kinetics-400 I3D weights (%s): sha256 %s", snakemake.params.source, digest)
