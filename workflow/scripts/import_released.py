from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    import os
    from pathlib import Path

    from avgzsl.datasets.released import import_released

    # shards and text land in features/ (the rule's outputs); the manifest and class table one level up.
    # Unseen classes: AVCA-GZSL's class-split/unseen_class.txt, or AudioSetZSL's ten for the authors' layout.
    written = import_released(snakemake.params.root, Path(snakemake.output.text).parent)
    os.replace(written["manifest"], snakemake.output.manifest)
    os.replace(written["classes"], snakemake.output.classes)
