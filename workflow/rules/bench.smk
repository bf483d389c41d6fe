# The collect benchmark (issue 4): every scoring mode on the same roles x items, on the first
# configured model. A target of its own (snakemake bench_collect), or part of `all` with
# bench.collect.run; its size comes from bench.collect.


rule bench_collect:
    input:
        model=f"{R}/models/{next(iter(MODELS))}/model.json",
        item_table=f"{R}/items/test.parquet",
        roles=f"{R}/roles/test.json",
    output:
        f"{R}/bench/collect.json",
    log:
        f"{R}/logs/bench_collect.log",
    conda:
        MODEL_ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=model_mem_mb("bench_collect"),
        runtime=model_runtime("bench_collect"),
    params:
        args=bench_collect_args(),
    shell:
        "valuegraph bench collect --model-record {input.model} --items {input.item_table}"
        " --roles {input.roles} {params.args} --out {output} > {log} 2>&1"
