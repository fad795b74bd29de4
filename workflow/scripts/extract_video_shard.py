from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    from avgzsl_extractors.i3d_weights import read_sha256_file

    from avgzsl.pipeline.video_steps import extract_video_step

    extract_video_step(
        media=snakemake.input.media,
        weights_file=snakemake.input.weights,
        weights_sha256=read_sha256_file(snakemake.input.sha256) if "sha256" in snakemake.input.keys() else None,
        decode=dict(snakemake.params.decode),
        video=dict(snakemake.params.video),
        device=snakemake.params.device,
        autocast=snakemake.params.autocast,
        threads=snakemake.threads,
        out_features=snakemake.output.features,
        out_status=snakemake.output.status,
    )
