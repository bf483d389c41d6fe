rule discover:
    input:
        unpack(discovery_inputs),
    output:
        f"{R}/{{model}}/graph/{{method}}.json",
    log:
        f"{R}/logs/{{model}}/discover_{{method}}.log",
    wildcard_constraints:
        method="pc|fci|ges|boss|grasp",
    conda:
        "../../envs/analysis.yaml"
    threads: 2 if BOOTSTRAP else 1
    params:
        args=discover_args,
    shell:
        "valuegraph discover {input.matrix} --out {output} --method {wildcards.method} {params.args}"
        " --jobs {threads} > {log} 2>&1"


rule bench_discovery:
    input:
        item_csv=items_source(),
        graph=repo_path(config["bench"]["graph"]),
    output:
        f"{R}/bench/discovery.json",
    log:
        f"{R}/logs/bench_discovery.log",
    benchmark:
        f"{R}/benchmarks/bench_discovery.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    params:
        args=bench_args(),
    shell:
        "valuegraph bench-discovery --items {input.item_csv:q} --graph {input.graph:q} {params.args}"
        " --jobs {threads} --out {output} > {log} 2>&1"


rule bench_discovery_table:
    input:
        f"{R}/bench/discovery.json",
    output:
        report(
            f"{R}/bench/discovery.csv",
            caption="../report/bench_discovery.rst",
            category="Discovery benchmark",
            labels={"table": "planted-structure benchmark"},
        ),
    log:
        f"{R}/logs/bench_discovery_table.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    shell:
        "valuegraph bench-table {input} --out {output} > {log} 2>&1"
