# Value definitions of the explicit value prompt (value_prompt conditions): definitions.source
# valuebench converts ValueBench's value_data.xlsx (sheet value2def) to a TSV here, in the
# analysis env, so the model env needs no xlsx reader; file uses steering.definitions as is.


rule fetch_definitions:
    output:
        f"{R}/definitions/value_data.xlsx",
    log:
        f"{R}/logs/fetch_definitions.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        url=config["definitions"]["url"],
        sha256=config["definitions"]["sha256"],
        local=" ".join(
            f"--local-copy {json.dumps(p)}" for p in config["definitions"]["local_copies"]
        ),
    shell:
        "valuegraph fetch-definitions --url {params.url:q} --sha256 {params.sha256} {params.local}"
        " --out {output} > {log} 2>&1"


rule definitions:
    input:
        xlsx=f"{R}/definitions/value_data.xlsx",
        fallback=fallback_definitions(),
    output:
        f"{R}/definitions/value_definitions.tsv",
    log:
        f"{R}/logs/definitions.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        sha256=config["definitions"]["sha256"],
        require=required_definitions(),
    shell:
        "valuegraph definitions --xlsx {input.xlsx} --sha256 {params.sha256}"
        " --fallback {input.fallback:q} --require {params.require} --out {output} > {log} 2>&1"
