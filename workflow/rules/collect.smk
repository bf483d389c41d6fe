rule prepare_model:
    input:
        simulated_graph,
    output:
        f"{R}/models/{{model}}/model.json",
    log:
        f"{R}/logs/{{model}}/prepare_model.log",
    conda:
        MODEL_ENV
    threads: 1
    resources:
        mem_mb=model_mem_mb("prepare_model"),
        runtime=model_runtime("prepare_model"),
    params:
        model=model_identity,
        checkpoint=lambda wildcards: f"{R}/models/{wildcards.model}/checkpoint",
    shell:
        "valuegraph prepare-model --model {params.model:q} --checkpoint {params.checkpoint}"
        " --out {output} > {log} 2>&1"


rule collect:
    input:
        unpack(collect_steering_inputs),
        model=f"{R}/models/{{model}}/model.json",
        item_table=f"{R}/items/{{split}}.parquet",
        roles=f"{R}/roles/{{split}}.json",
    output:
        f"{R}/{{model}}/responses/{{split}}/{{condition}}/group{{group}}.parquet",
    log:
        f"{R}/logs/{{model}}/collect/{{split}}_{{condition}}_{{group}}.log",
    benchmark:
        f"{R}/benchmarks/{{model}}/collect/{{split}}_{{condition}}_{{group}}.tsv"
    conda:
        MODEL_ENV
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPUS,
        mem_mb=model_mem_mb("collect"),
        runtime=model_runtime("collect"),
    params:
        model=model_identity,
        condition=condition_spec,
        args=collect_args,
        steering=collect_steering_args,
    shell:
        "valuegraph collect --model-record {input.model} --items {input.item_table} --roles {input.roles}"
        " --split {wildcards.split} --condition {params.condition:q} --group {wildcards.group}"
        " {params.args} {params.steering} --out {output} > {log} 2>&1"


rule merge_responses:
    input:
        shards,
    output:
        f"{R}/{{model}}/responses/{{split}}.parquet",
    log:
        f"{R}/logs/{{model}}/merge_responses_{{split}}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "valuegraph merge-responses {input} --out {output} > {log} 2>&1"
