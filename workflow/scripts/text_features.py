from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.text_steps import text_features_step

    text_features_step(classes=snakemake.input.classes, settings=dict(snakemake.params.text), out=snakemake.output[0])
