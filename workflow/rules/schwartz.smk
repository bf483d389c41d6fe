# The Schwartz track beside the main value set (items.schwartz_track): every train role answers
# all 40 PVQ40 items unsteered; the 10 values' correlations are compared with the circumplex.


rule schwartz_items:
    input:
        items_source(),
    output:
        train=f"{R}/schwartz/items/train.parquet",
        test=f"{R}/schwartz/items/test.parquet",
        values=f"{R}/schwartz/items/values.json",
    log:
        f"{R}/logs/schwartz_items.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=schwartz_items_args(),
    shell:
        "valuegraph items --path {input:q} {params.args} --out-train {output.train}"
        " --out-test {output.test} --out-values {output.values} > {log} 2>&1"


rule schwartz_collect:
    input:
        model=f"{R}/models/{{model}}/model.json",
        item_table=f"{R}/schwartz/items/{{part}}.parquet",
        roles=f"{R}/roles/train.json",
    output:
        f"{R}/{{model}}/schwartz/responses_{{part}}.parquet",
    log:
        f"{R}/logs/{{model}}/schwartz_collect_{{part}}.log",
    wildcard_constraints:
        part="train|test",
    conda:
        MODEL_ENV
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPUS,
        mem_mb=model_mem_mb("schwartz_collect"),
        runtime=model_runtime("schwartz_collect"),
    params:
        model=model_identity,
        args=schwartz_collect_args,
    shell:
        "valuegraph collect --model-record {input.model} --items {input.item_table}"
        " --roles {input.roles} --split train --condition none --group 0 {params.args}"
        " --out {output} > {log} 2>&1"


rule schwartz_matrix:
    input:
        train=f"{R}/{{model}}/schwartz/responses_train.parquet",
        test=f"{R}/{{model}}/schwartz/responses_test.parquet",
        values=f"{R}/schwartz/items/values.json",
    output:
        responses=f"{R}/{{model}}/schwartz/responses.parquet",
        matrix=f"{R}/{{model}}/schwartz/matrix.parquet",
    log:
        f"{R}/logs/{{model}}/schwartz_matrix.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        score=config["matrix"]["score"],
    shell:
        "(valuegraph merge-responses {input.train} {input.test} --out {output.responses}"
        " && valuegraph matrix {output.responses} --values {input.values}"
        " --score {params.score} --out {output.matrix}) > {log} 2>&1"


rule schwartz_circumplex:
    input:
        matrix=f"{R}/{{model}}/schwartz/matrix.parquet",
        responses=f"{R}/{{model}}/schwartz/responses.parquet",
    output:
        table=report(
            f"{R}/{{model}}/schwartz/circumplex.csv",
            caption="../report/circumplex_table.rst",
            category="Schwartz circumplex",
            labels={"model": "{model}", "kind": "table"},
        ),
        figure=report(
            f"{R}/{{model}}/schwartz/circumplex.png",
            caption="../report/circumplex.rst",
            category="Schwartz circumplex",
            labels={"model": "{model}", "kind": "MDS figure"},
        ),
    log:
        f"{R}/logs/{{model}}/schwartz_circumplex.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        args=circumplex_args(),
    shell:
        "valuegraph circumplex {input.matrix} --responses {input.responses} {params.args}"
        " --title {wildcards.model:q} --out-table {output.table}"
        " --out-figure {output.figure} > {log} 2>&1"
