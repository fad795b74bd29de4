# avgzsl: from clips to the AVGZSLNet paper's result tables.
# Usage: snakemake --cores 2 [--configfile my.yaml]   (see README.md; default: config/config.yaml)

from snakemake.utils import min_version

min_version("9.11")


# A --configfile given on the command line replaces this default instead of being merged into it,
# on the submit node and in every cluster job alike (they receive the same --configfiles).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bundles.smk"


rule all:
    default_target: True
    input:
        final_targets(),
