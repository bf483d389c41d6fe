# roles.source generated: seeded Faker personas; file: the authors' persona files (roles.files),
# fetched like the items (local copies first, sha256-checked).


rule fetch_roles:
    output:
        f"{R}/roles/source/{{split}}.json",
    log:
        f"{R}/logs/fetch_roles_{{split}}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        url=lambda wildcards: config["roles"]["files"][wildcards.split]["url"],
        sha256=lambda wildcards: config["roles"]["files"][wildcards.split]["sha256"],
        local=roles_local_copy_args(),
    shell:
        "valuegraph fetch-roles --url {params.url:q} --sha256 {params.sha256} --split {wildcards.split}"
        " {params.local} --out {output} > {log} 2>&1"


rule roles:
    input:
        unpack(roles_inputs),
    output:
        train=f"{R}/roles/train.json",
        test=f"{R}/roles/test.json",
    log:
        f"{R}/logs/roles.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        n_train=config["roles"]["n_train"],
        n_test=config["roles"]["n_test"],
        seed=config["seed"],
        locale=config["roles"]["locale"],
        baseline="" if config["roles"]["baseline"] else "--no-baseline",
        files=roles_file_args,
    shell:
        "valuegraph roles --n-train {params.n_train} --n-test {params.n_test} --seed {params.seed}"
        " --locale {params.locale} {params.baseline} {params.files} --out-train {output.train}"
        " --out-test {output.test} > {log} 2>&1"
