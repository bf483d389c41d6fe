rule compare_graphs:
    input:
        graphs=compare_inputs,
        references=reference_paths(),
    output:
        f"{R}/{{model}}/graph/compare.csv",
    log:
        f"{R}/logs/{{model}}/compare_graphs.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        names=compare_names,
        focus=focus_names,
        null=config["uncertainty"]["graph_null"],
        seed=config["seed"],
    shell:
        "valuegraph compare-graphs {input.graphs} --names {params.names} --references {input.references}"
        " --restrict --focus {params.focus} --null-graphs {params.null} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


rule method_table:
    input:
        graphs=method_graphs,
        compare=f"{R}/{{model}}/graph/compare.csv",
    output:
        report(
            f"{R}/{{model}}/report/methods.csv",
            caption="../report/methods.rst",
            category="Discovery methods",
            labels={"model": "{model}", "table": "methods"},
        ),
    log:
        f"{R}/logs/{{model}}/method_table.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    shell:
        "valuegraph method-table {input.graphs} --compare {input.compare} --out {output} > {log} 2>&1"


rule compare_heatmap:
    input:
        expand(f"{R}/{{model}}/graph/compare.csv", model=MODELS),
    output:
        report(
            f"{R}/compare/heatmap.png",
            caption="../report/heatmap.rst",
            category="Reference graphs",
            labels={"figure": "skeleton F1 heatmap"},
        ),
    log:
        f"{R}/logs/compare_heatmap.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    shell:
        "valuegraph compare-heatmap {input} --method pc --out {output} > {log} 2>&1"


rule edge_frequencies:
    input:
        f"{R}/{{model}}/graph/{{method}}.json",
    output:
        report(
            f"{R}/{{model}}/report/edge_frequency_{{method}}.png",
            caption="../report/edge_frequency.rst",
            category="Edge stability",
            labels={"model": "{model}", "method": "{method}"},
        ),
    log:
        f"{R}/logs/{{model}}/edge_frequency_{{method}}.log",
    wildcard_constraints:
        method="pc|fci|ges|boss|grasp",
    conda:
        "../../envs/report.yaml"
    threads: 1
    shell:
        "valuegraph plot-edge-frequencies {input} --title '{wildcards.model} {wildcards.method}'"
        " --out {output} > {log} 2>&1"


rule circumplex:
    input:
        matrix=f"{R}/{{model}}/matrix/train.parquet",
        responses=f"{R}/{{model}}/responses/train.parquet",
    output:
        table=report(
            f"{R}/{{model}}/report/circumplex.csv",
            caption="../report/circumplex_table.rst",
            category="Schwartz circumplex",
            labels={"model": "{model}", "kind": "table"},
        ),
        figure=report(
            f"{R}/{{model}}/report/circumplex.png",
            caption="../report/circumplex.rst",
            category="Schwartz circumplex",
            labels={"model": "{model}", "kind": "MDS figure"},
        ),
    log:
        f"{R}/logs/{{model}}/circumplex.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        args=circumplex_args(),
    shell:
        "valuegraph circumplex {input.matrix} --responses {input.responses} {params.args}"
        " --title {wildcards.model:q} --out-table {output.table}"
        " --out-figure {output.figure} > {log} 2>&1"
