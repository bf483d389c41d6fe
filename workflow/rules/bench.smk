# The collect benchmark (issue 4): every scoring mode on the same train roles x items (by default a
# collect shard's shape), on the first
# configured model. A target of its own (snakemake bench_collect), or part of `all` with
# bench.collect.run; its size comes from bench.collect.


rule bench_collect:
    input:
        model=f"{R}/models/{next(iter(MODELS))}/model.json",
        item_table=f"{R}/items/train.parquet",
        roles=f"{R}/roles/train.json",
    output:
        f"{R}/bench/collect.json",
    log:
        f"{R}/logs/bench_collect.log",
    conda:
        MODEL_ENV
    threads: 2
    resources:
        gpu=MODEL_GPUS,
        mem_mb=model_mem_mb("bench_collect"),
        runtime=model_runtime("bench_collect"),
    params:
        args=bench_collect_args(),
    shell:
        "valuegraph bench collect --model-record {input.model} --items {input.item_table}"
        " --roles {input.roles} {params.args} --out {output} > {log} 2>&1"


# The collection design benchmark (issue: a sample sized by simulation): designs of equal answer
# budget scored by planted-graph recovery of the simulated respondent. A target of its own
# (snakemake bench_design), or part of `all` with bench.design.run; its grid comes from
# bench.design (benchmarks/design.csv is the committed full grid).


rule bench_design:
    input:
        item_csv=items_source(),
    output:
        table=f"{R}/bench/design.csv",
        metadata=f"{R}/bench/design.json",
        figure=f"{R}/bench/design.png",
    log:
        f"{R}/logs/bench_design.log",
    benchmark:
        f"{R}/benchmarks/bench_design.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    params:
        args=bench_design_args(),
    shell:
        "valuegraph bench-design --items {input.item_csv:q} {params.args} --jobs {threads}"
        " --out {output.table} --metadata {output.metadata} --figure {output.figure}"
        " > {log} 2>&1"
