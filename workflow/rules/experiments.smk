# Experiments: every deep model and classical baseline trained on the same features.


wildcard_constraints:
    shard=r"\d+",


if DEEP:

    rule train_experiment:
        input:
            **feature_inputs(),
        output:
            summary=f"{R}/runs/{{experiment}}/summary.json",
        params:
            experiment=lambda wc: EXPERIMENTS[wc.experiment],
        log:
            f"{R}/logs/train/{{experiment}}.log",
        benchmark:
            f"{R}/benchmarks/train/{{experiment}}.tsv"
        wildcard_constraints:
            experiment="|".join(DEEP),
        threads: 1
        resources:
            gpu=GPU,
        conda:
            "../envs/avgzsl.yaml"
        script:
            "../scripts/train_experiment.py"


if BASELINES:

    rule run_baseline:
        input:
            **feature_inputs(),
        output:
            summary=f"{R}/runs/{{experiment}}/summary.json",
        params:
            experiment=lambda wc: EXPERIMENTS[wc.experiment],
        log:
            f"{R}/logs/baseline/{{experiment}}.log",
        benchmark:
            f"{R}/benchmarks/baseline/{{experiment}}.tsv"
        wildcard_constraints:
            experiment="|".join(BASELINES),
        threads: 1
        conda:
            "../envs/avgzsl.yaml"
        script:
            "../scripts/run_baseline.py"
