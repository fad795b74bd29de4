# Experiments: every deep model (one job per seed) and classical baseline (one job each),
# trained on the same features; a cheap summary job per experiment (mean ± std over seeds).


wildcard_constraints:
    shard=r"\d+",
    seed=r"\d+",


if DEEP:

    rule train_seed:
        input:
            **feature_inputs(),
        output:
            # written under a temporary name and renamed into place whole
            run=directory(f"{R}/runs/{{experiment}}/seed{{seed}}"),
        log:
            f"{R}/logs/train/{{experiment}}/seed{{seed}}.log",
        benchmark:
            f"{R}/benchmarks/train/{{experiment}}/seed{{seed}}.tsv"
        wildcard_constraints:
            experiment="|".join(DEEP),
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        resources:
            gpu=GPU,
        params:
            code=train_code,
            experiment=seed_spec,
        script:
            "../scripts/train_seed.py"

    rule summarize_experiment:
        input:
            seeds=seed_dirs,
        output:
            summary=f"{R}/runs/{{experiment}}/summary.json",
        log:
            f"{R}/logs/summary/{{experiment}}.log",
        benchmark:
            f"{R}/benchmarks/summary/{{experiment}}.tsv"
        wildcard_constraints:
            experiment="|".join(DEEP),
        localrule: True
        conda:
            "../envs/avgzsl.yaml"
        threads: 1
        params:
            code=code("summarize_experiment.py"),
            experiment=lambda wc: EXPERIMENTS[wc.experiment],
        script:
            "../scripts/summarize_experiment.py"


if BASELINES:

    rule run_baseline:
        input:
            **feature_inputs(),
        output:
            run=directory(f"{R}/runs/{{experiment}}/seed0"),
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
            code=baseline_code,
            experiment=lambda wc: EXPERIMENTS[wc.experiment],
        script:
            "../scripts/run_baseline.py"
