from avgzsl.workflow_utils import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.extractors.text import TextConfig, write_text_features
    from avgzsl.feature_splits import ClassTable

    classes = ClassTable.read(snakemake.input.classes)
    write_text_features(classes.names, snakemake.output[0], TextConfig(**snakemake.params.text))
