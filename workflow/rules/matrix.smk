rule matrix:
    input:
        responses=f"{R}/{{model}}/responses/{{split}}.parquet",
        values=f"{R}/items/values.json",
    output:
        f"{R}/{{model}}/matrix/{{split}}.parquet",
    log:
        f"{R}/logs/{{model}}/matrix_{{split}}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        score=config["matrix"]["score"],
    shell:
        "valuegraph matrix {input.responses} --values {input.values} --score {params.score}"
        " --out {output} > {log} 2>&1"
