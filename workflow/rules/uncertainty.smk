# Every claim with its uncertainty and a null: stable edges vs the structure null, the graph on
# acquiescence-centred scores, persona effect sizes with CIs, and the report's opening summary.


rule graph_stability:
    input:
        unpack(discovery_inputs),
        graph=f"{R}/{{model}}/graph/pc.json",
    output:
        report(
            f"{R}/{{model}}/graph/stability.csv",
            caption="../report/stability.rst",
            category="Edge stability",
            labels={"model": "{model}", "table": "stable edges vs structure null"},
        ),
    log:
        f"{R}/logs/{{model}}/graph_stability.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    params:
        args=discover_args,
        permutations=UNCERTAINTY["structure_null"],
    shell:
        "valuegraph stability {input.matrix} --graph {input.graph} --method pc {params.args}"
        " --permutations {params.permutations} --jobs {threads} --out {output} > {log} 2>&1"


rule centring_graph:
    input:
        unpack(discovery_inputs),
        responses=f"{R}/{{model}}/responses/train.parquet",
        graph=f"{R}/{{model}}/graph/pc.json",
    output:
        report(
            f"{R}/{{model}}/graph/centring.csv",
            caption="../report/centring.rst",
            category="Acquiescence",
            labels={"model": "{model}", "table": "centred vs raw graph"},
        ),
    log:
        f"{R}/logs/{{model}}/centring_graph.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=discover_args,
        score=config["matrix"]["score"],
    # the comparison reads the graphs learned on all rows: no bootstrap (the last option wins)
    shell:
        "valuegraph centring-graph {input.matrix} --responses {input.responses}"
        " --score {params.score} --graph {input.graph} --method pc {params.args}"
        " --bootstrap 0 --jobs 1 --out {output} > {log} 2>&1"


rule persona_effects:
    input:
        matrix=f"{R}/{{model}}/matrix/train.parquet",
        responses=f"{R}/{{model}}/responses/train.parquet",
    output:
        report(
            f"{R}/{{model}}/report/persona.csv",
            caption="../report/persona.rst",
            category="Summary",
            labels={"model": "{model}", "table": "persona effect sizes"},
        ),
    log:
        f"{R}/logs/{{model}}/persona_effects.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        score=config["matrix"]["score"],
        bootstrap=UNCERTAINTY["persona_bootstrap"],
        seed=config["seed"],
    shell:
        "valuegraph persona-effects {input.matrix} --responses {input.responses}"
        " --score {params.score} --bootstrap {params.bootstrap} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


rule report_summary:
    input:
        unpack(report_summary_inputs),
    output:
        report(
            f"{R}/report/summary.rst",
            caption="../report/report_summary.rst",
            category="Summary",
            labels={"text": "what this run can and cannot tell"},
        ),
    log:
        f"{R}/logs/report_summary.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        models=" ".join(json.dumps(m) for m in MODELS),
        args=report_summary_args,
    shell:
        "valuegraph summary-text --models {params.models} {params.args} --out {output} > {log} 2>&1"
