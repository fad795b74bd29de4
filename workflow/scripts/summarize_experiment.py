from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.run_folders import summarize_experiment

    summarize_experiment(dict(snakemake.params.experiment), list(snakemake.input.seeds), out=snakemake.output.summary)
