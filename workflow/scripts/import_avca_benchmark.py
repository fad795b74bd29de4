from avgzsl.pipeline.rule_log import rule_log

with rule_log(snakemake.log[0]):
    import os
    from pathlib import Path

    from avgzsl.datasets.avca_import import PINNED, AvcaBenchmarkConfig, import_avca_benchmark

    settings = snakemake.params.settings
    cfg = AvcaBenchmarkConfig(
        benchmark=snakemake.params.dataset,
        variant=settings["variant"],
        text_lookup=settings["text_lookup"],
        split_dir=None if settings["split_lists"] == "pinned" else settings["split_lists"],
        digest=PINNED if settings["verify_split_lists"] else None,
    )
    # shards and text land in features/ (the rule's outputs); manifest, class tables and record one level up
    features = Path(snakemake.output.text).parent
    written = import_avca_benchmark(settings["root"], features, cfg)
    for name in ("manifest.csv", "classes.tsv", "classes_stage1.tsv", "avca_benchmark.json"):
        os.replace(features / name, Path(snakemake.output.manifest).parent / name)
    print(f"imported {written['benchmark']} ({written['variant']}, text {written['text_lookup']}): "
          f"clips {written['clips']}, AVCA lookup mismatches {written['avca_text_mismatch']}")
