# Cross-model summary: one aggregate rule over every model in the config.


rule compare_models:
    input:
        graphs=pc_graphs(),
        side_effects=side_effect_tables,
        stability=stability_tables,
        persona=persona_tables,
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
        stability=lambda wildcards, input: named_tables("stability", input.stability),
        persona=lambda wildcards, input: named_tables("persona", input.persona),
        null=config["uncertainty"]["graph_null"],
        seed=config["seed"],
    shell:
        "valuegraph compare-models --names {params.names} --graphs {input.graphs}"
        " --side-effects {params.side_effects} {params.stability} {params.persona}"
        " --null-graphs {params.null} --seed {params.seed} --out {output} > {log} 2>&1"
