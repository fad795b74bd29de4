# Experiments: every deep model and classical baseline trained on the same features.


wildcard_constraints:
    shard=r"\d+",


if DEEP:

    rule train_experiment:
        input:
            **feature_inputs(),
        output:
            summary=f"{R}/runs/{{experiment}}/summary.json",
        log:
            f"{R}/logs/train/{{experiment}}.log",
        benchmark:
            f"{R}/benchmarks/train/{{experiment}}.tsv"
        wildcard_constraints:
            experiment="|".join(DEEP),
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        resources:
            gpu=GPU,
        params:
            experiment=lambda wc: EXPERIMENTS[wc.experiment],
        script:
            "../scripts/train_experiment.py"


if BASELINES:

    rule run_baseline:
        input:
            **feature_inputs(),
        output:
            summary=f"{R}/runs/{{experiment}}/summary.json",
        log:
            f"{R}/logs/baseline/{{experiment}}.log",
        benchmark:
            f"{R}/benchmarks/baseline/{{experiment}}.tsv"
        wildcard_constraints:
            experiment="|".join(BASELINES),
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            experiment=lambda wc: EXPERIMENTS[wc.experiment],
        script:
            "../scripts/run_baseline.py"
