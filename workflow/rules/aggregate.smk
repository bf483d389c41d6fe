# Cross-model summary: one aggregate rule over every model in the config.


rule compare_models:
    input:
        graphs=pc_graphs(),
        side_effects=side_effect_tables,
    output:
        report(
            f"{R}/compare/models.csv",
            caption="../report/compare_models.rst",
            category="Across models",
            labels={"table": "model pairs"},
        ),
    log:
        f"{R}/logs/compare_models.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        names=" ".join(json.dumps(m) for m in MODELS),
        side_effects=side_effect_args,
    shell:
        "valuegraph compare-models --names {params.names} --graphs {input.graphs}"
        " --side-effects {params.side_effects} --out {output} > {log} 2>&1"
