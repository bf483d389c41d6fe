rule plot_graph:
    input:
        f"{R}/{{model}}/graph/pc.json",
    output:
        report(
            f"{R}/{{model}}/report/graph.png",
            caption="../report/graph.rst",
            category="Value graphs",
            labels={"model": "{model}", "method": "pc"},
        ),
    log:
        f"{R}/logs/{{model}}/plot_graph.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    shell:
        "valuegraph plot-graph {input} --title {wildcards.model:q} --out {output} > {log} 2>&1"


rule summary:
    input:
        train=f"{R}/{{model}}/matrix/train.parquet",
        test=f"{R}/{{model}}/matrix/test.parquet",
        graph=f"{R}/{{model}}/graph/pc.json",
        effects=f"{R}/{{model}}/effects/role.csv",
    output:
        report(
            f"{R}/{{model}}/report/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
            labels={"model": "{model}", "table": "summary"},
        ),
    log:
        f"{R}/logs/{{model}}/summary.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    shell:
        "valuegraph summary --train {input.train} --test {input.test} --graph {input.graph}"
        " --effects {input.effects} --out {output} > {log} 2>&1"
