# valuegraph: the causal structure of a language model's values.
# items + roles -> responses (model side) -> matrix -> graph -> effects -> report.
# Run: snakemake --cores 2   (see README.md; config keys in config/README.md)

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/items.smk"
include: "workflow/rules/roles.smk"
include: "workflow/rules/definitions.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/matrix.smk"
include: "workflow/rules/discover.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/schwartz.smk"
include: "workflow/rules/effects.smk"
include: "workflow/rules/sae.smk"
include: "workflow/rules/steering.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/uncertainty.smk"
include: "workflow/rules/bench.smk"


# Run on the submitting host, not as cluster jobs: the download (compute nodes are often
# offline) and the target rule.
localrules:
    all,
    fetch_items,
    fetch_roles,
    fetch_definitions,


rule all:
    default_target: True
    input:
        final_outputs(),
