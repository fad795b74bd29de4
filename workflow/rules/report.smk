# Result tables laid out like the paper's Tables 1-4, coverage, and figures.


rule tables:
    input:
        summaries=expand(
            f"{R}/runs/{{experiment}}/summary.json", experiment=EXPERIMENTS
        ),
        audio_status=status_tables("audio"),
        video_status=status_tables("video"),
        manifest=feature_inputs()["manifest"],
    output:
        **{
            f"{t}_{ext}": report(
                f"{R}/tables/{t}.{ext}",
                caption=f"../report/{t}.rst",
                category="Tables",
            )
            for t in [
                "table1_classification",
                "table2_retrieval",
                "table3_cmd_ablation",
                "table4_ct_ablation",
                "coverage",
            ]
            for ext in ["csv", "md"]
        },
    log:
        f"{R}/logs/tables.log",
    benchmark:
        f"{R}/benchmarks/tables.tsv"
    localrule: True
    conda:
        "../envs/avgzsl.yaml"
    threads: 1
    params:
        code=code("make_tables.py"),
        experiments=EXPERIMENTS,
        dataset=DATASET,
        # an AVCA-GZSL benchmark's feature set: its published numbers stand in the tables
        variant=config["avca_gzsl"]["variant"] if KIND.two_stage else "",
    script:
        "../scripts/make_tables.py"


rule figures:
    input:
        **feature_inputs(),
        summaries=expand(
            f"{R}/runs/{{experiment}}/summary.json", experiment=EXPERIMENTS
        ),
    output:
        curves=report(
            f"{R}/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
        ),
        tsne=report(
            f"{R}/figures/tsne.png", caption="../report/tsne.rst", category="Figures"
        ),
        cd=report(
            f"{R}/figures/critical_difference.png",
            caption="../report/critical_difference.rst",
            category="Figures",
        ),
    log:
        f"{R}/logs/figures.log",
    benchmark:
        f"{R}/benchmarks/figures.tsv"
    conda:
        "../envs/avgzsl.yaml"
    threads: 1
    params:
        code=code("make_figures.py"),
        experiments=EXPERIMENTS,
        runs=lambda wc, input: str(Path(input.summaries[0]).parent.parent),
    script:
        "../scripts/make_figures.py"
