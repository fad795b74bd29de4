from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl.pipeline.video_steps import extract_video_step

    extract_video_step(
        media=snakemake.input.media,
        weights_file=snakemake.input.weights,
        weights_sha256_file=snakemake.input.get("sha256"),
        decode=dict(snakemake.params.decode),
        video=dict(snakemake.params.video),
        device=snakemake.params.device,
        autocast=snakemake.params.autocast,
        threads=snakemake.threads,
        out_features=snakemake.output.features,
        out_status=snakemake.output.status,
        out_sequences=snakemake.output.get("sequences"),  # extract.features: temporal
    )
