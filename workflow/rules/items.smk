rule fetch_items:
    output:
        f"{R}/items/value_orientation.csv",
    log:
        f"{R}/logs/fetch_items.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        url=config["items"]["url"],
        sha256=config["items"]["sha256"],
        local=local_copy_args(),
    shell:
        "valuegraph fetch-items --url {params.url:q} --sha256 {params.sha256} {params.local} --out {output} > {log} 2>&1"


rule items:
    input:
        items_source(),
    output:
        train=f"{R}/items/train.parquet",
        test=f"{R}/items/test.parquet",
        values=f"{R}/items/values.json",
    log:
        f"{R}/logs/items.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=items_args(),
    shell:
        "valuegraph items --path {input:q} {params.args} --out-train {output.train}"
        " --out-test {output.test} --out-values {output.values} > {log} 2>&1"
