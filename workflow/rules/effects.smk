rule effects:
    input:
        matrix=f"{R}/{{model}}/matrix/train.parquet",
        graph=f"{R}/{{model}}/graph/pc.json",
    output:
        role=f"{R}/{{model}}/effects/role.csv",
        steering=f"{R}/{{model}}/effects/steering.csv",
        graph=f"{R}/{{model}}/effects/graph.csv",
    params:
        seed=config["seed"],
    log:
        f"{R}/logs/{{model}}/effects.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "valuegraph effects --matrix {input.matrix} --graph {input.graph} --seed {params.seed}"
        " --out-role {output.role} --out-steering {output.steering}"
        " --out-graph {output.graph} > {log} 2>&1"
