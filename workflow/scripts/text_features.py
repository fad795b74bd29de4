from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl_extractors.text import TextConfig, write_text_features

    from avgzsl.formats.manifest import ClassTable

    classes = ClassTable.read(snakemake.input.classes)
    write_text_features(classes.names, snakemake.output[0], TextConfig(**snakemake.params.text))
