rule roles:
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
    shell:
        "valuegraph roles --n-train {params.n_train} --n-test {params.n_test} --seed {params.seed}"
        " --locale {params.locale} {params.baseline} --out-train {output.train}"
        " --out-test {output.test} > {log} 2>&1"
