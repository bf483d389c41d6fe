rule discover:
    input:
        f"{R}/{{model}}/matrix/train.parquet",
    output:
        f"{R}/{{model}}/graph/pc.json",
    params:
        args=discovery_args(),
    log:
        f"{R}/logs/{{model}}/discover_pc.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "{VG} discover {input} --out {output} --method pc {params.args}"
        " --exclude n_answered n_unparsed > {log} 2>&1"
