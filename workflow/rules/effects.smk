rule effects:
    input:
        matrix=f"{R}/{{model}}/matrix/train.parquet",
        graph=f"{R}/{{model}}/graph/pc.json",
    output:
        role=report(
            f"{R}/{{model}}/effects/role.csv",
            caption="../report/effects_table.rst",
            category="Effects (DoWhy)",
            labels={"model": "{model}", "table": "role prompt"},
        ),
        steering=report(
            f"{R}/{{model}}/effects/steering.csv",
            caption="../report/effects_table.rst",
            category="Effects (DoWhy)",
            labels={"model": "{model}", "table": "steering"},
        ),
        graph=report(
            f"{R}/{{model}}/effects/graph.csv",
            caption="../report/effects_graph.rst",
            category="Effects (DoWhy)",
            labels={"model": "{model}", "table": "graph-implied (IDA)"},
        ),
    log:
        f"{R}/logs/{{model}}/effects.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        seed=config["seed"],
        refute_simulations=config["uncertainty"]["refute_simulations"],
    shell:
        "valuegraph effects --matrix {input.matrix} --graph {input.graph} --seed {params.seed}"
        " --refute-simulations {params.refute_simulations}"
        " --out-role {output.role} --out-steering {output.steering}"
        " --out-graph {output.graph} > {log} 2>&1"


rule plot_effects:
    input:
        role=f"{R}/{{model}}/effects/role.csv",
        steering=f"{R}/{{model}}/effects/steering.csv",
    output:
        report(
            f"{R}/{{model}}/effects/effects.png",
            caption="../report/effects.rst",
            category="Effects (DoWhy)",
            labels={"model": "{model}", "table": "figure"},
        ),
    log:
        f"{R}/logs/{{model}}/plot_effects.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    shell:
        "valuegraph plot-effects --role {input.role} --steering {input.steering}"
        " --title {wildcards.model:q} --out {output} > {log} 2>&1"
