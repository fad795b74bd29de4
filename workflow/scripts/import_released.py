from avgzsl.workflow_utils import rule_log

with rule_log(snakemake.log[0]):
    from pathlib import Path

    from avgzsl.cli import AUDIOSETZSL_UNSEEN
    from avgzsl.released import import_released

    import_released(snakemake.input.root, Path(snakemake.output.manifest).parent, unseen=AUDIOSETZSL_UNSEEN)
