from avgzsl.workflow_utils import rule_log

with rule_log(snakemake.log[0]):
    from extractors.steps import extract_video_step

    extract_video_step(
        media=snakemake.input.media,
        decode=dict(snakemake.params.decode),
        video=dict(snakemake.params.video),
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_features=snakemake.output.features,
        out_status=snakemake.output.status,
    )
