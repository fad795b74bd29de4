# avgzsl: from clips to the AVGZSLNet paper's result tables.
# Usage: snakemake --cores 2 [--configfile config/config.yaml]   (see README.md)

from snakemake.utils import min_version

min_version("9.11")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
