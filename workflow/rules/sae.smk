# SAEs (issue 6): capture residual activations from the train prompts and train an SAE with
# sae-lens (models[].sae.source train), record the SAE a model steers with, and rank the
# candidate features at the marker tokens on TRAIN roles.


rule sae_activations:
    input:
        model=f"{R}/models/{{model}}/model.json",
        item_table=f"{R}/items/train.parquet",
        roles=f"{R}/roles/train.json",
    output:
        temp(f"{R}/{{model}}/sae/activations.safetensors"),
    log:
        f"{R}/logs/{{model}}/sae_activations.log",
    benchmark:
        f"{R}/benchmarks/{{model}}/sae_activations.tsv"
    priority: SAE_CHAIN_PRIORITY
    conda:
        MODEL_ENV
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPUS,
        mem_mb=model_mem_mb("sae_activations"),
        runtime=model_runtime("sae_activations"),
    params:
        hook=sae_hook,
        mode=config["collect"]["mode"],
        max_tokens=STEER["sae_training"]["max_tokens"],
        rate=config["items"]["train_sample_rate"],
        seed=config["seed"],
    shell:
        "valuegraph sae-activations --model-record {input.model} --items {input.item_table}"
        " --roles {input.roles} --hook {params.hook} --mode {params.mode}"
        " --max-tokens {params.max_tokens} --train-sample-rate {params.rate}"
        " --seed {params.seed} --out {output} > {log} 2>&1"


rule sae_train:
    input:
        f"{R}/{{model}}/sae/activations.safetensors",
    output:
        trained=directory(f"{R}/{{model}}/sae/trained"),
        metrics=f"{R}/{{model}}/sae/metrics.json",
    log:
        f"{R}/logs/{{model}}/sae_train.log",
    benchmark:
        f"{R}/benchmarks/{{model}}/sae_train.tsv"
    priority: SAE_CHAIN_PRIORITY
    conda:
        MODEL_ENV
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPUS,
        mem_mb=model_mem_mb("sae_train"),
        runtime=model_runtime("sae_train"),
    params:
        hook=sae_hook,
        args=sae_train_args(),
    shell:
        "valuegraph sae-train --activations {input} --hook {params.hook} --model-name {wildcards.model}"
        " {params.args} --out-dir {output.trained} --metrics {output.metrics} > {log} 2>&1"


rule sae_record:
    input:
        unpack(sae_record_inputs),
    output:
        record=f"{R}/{{model}}/sae/sae.json",
        table=report(
            f"{R}/{{model}}/sae/sae.csv",
            caption="../report/sae.rst",
            category="Steering",
            subcategory="SAE",
            labels={"model": "{model}", "table": "SAE"},
        ),
    log:
        f"{R}/logs/{{model}}/sae_record.log",
    priority: SAE_CHAIN_PRIORITY
    conda:
        MODEL_ENV
    threads: 1
    resources:
        mem_mb=model_mem_mb("sae_record"),
        runtime=model_runtime("sae_record"),
    params:
        args=sae_record_args,
    shell:
        "valuegraph sae-record --model-record {input.model} {params.args}"
        " --out {output.record} --table {output.table} > {log} 2>&1"


rule sae_candidates:
    input:
        model=f"{R}/models/{{model}}/model.json",
        sae=f"{R}/{{model}}/sae/sae.json",
        roles=f"{R}/roles/train.json",
    output:
        f"{R}/{{model}}/steering/candidates.json",
    log:
        f"{R}/logs/{{model}}/sae_candidates.log",
    priority: SAE_CHAIN_PRIORITY
    conda:
        MODEL_ENV
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPUS,
        mem_mb=model_mem_mb("sae_candidates"),
        runtime=model_runtime("sae_candidates"),
    params:
        k=STEER["n_candidates"],
        ranking=STEER["candidate_ranking"],
        n_roles=first_roles("train", STEER["candidate_roles"]),
        mode=config["collect"]["mode"],
    shell:
        "valuegraph sae-candidates --model-record {input.model} --sae-record {input.sae}"
        " --roles {input.roles} --n-roles {params.n_roles} --mode {params.mode} --k {params.k}"
        " --ranking {params.ranking}"
        " --out {output} > {log} 2>&1"
