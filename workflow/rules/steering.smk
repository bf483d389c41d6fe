# Steering evaluation (issue 6): the declared feature-selection rule on the TRAIN matrix only,
# then Table 1, side effects (bootstrap CIs, permutation p-values) and targeted steering (SAE
# feature vs explicit value prompt) on the test split.


rule steering_select:
    input:
        train=f"{R}/{{model}}/matrix/train.parquet",
        values=f"{R}/items/values.json",
        candidates=steering_candidates,
    output:
        f"{R}/{{model}}/steering/selection.json",
    log:
        f"{R}/logs/{{model}}/steering_select.log",
    priority: SAE_CHAIN_PRIORITY
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        conditions=condition_specs_arg,
        candidates=candidates_arg,
        args=selection_args(),
    shell:
        "valuegraph steering-select --train {input.train} --values {input.values} {params.candidates}"
        " --conditions {params.conditions} {params.args} --out {output} > {log} 2>&1"


rule steering_eval:
    input:
        train=f"{R}/{{model}}/matrix/train.parquet",
        test=f"{R}/{{model}}/matrix/test.parquet",
        values=f"{R}/items/values.json",
        selection=steering_selection,
        candidates=steering_candidates,
        roles=f"{R}/roles/test.json",
        graph=f"{R}/{{model}}/graph/pc.json",
        references=reference_paths(),
    output:
        table1=report(
            f"{R}/{{model}}/steering/table1.csv",
            caption="../report/table1.rst",
            category="Steering",
            subcategory="Table 1",
            labels={"model": "{model}", "table": "Table 1 (CSV)"},
        ),
        table1_png=report(
            f"{R}/{{model}}/steering/table1.png",
            caption="../report/table1.rst",
            category="Steering",
            subcategory="Table 1",
            labels={"model": "{model}", "figure": "Table 1 heatmap"},
        ),
        side_effects=report(
            f"{R}/{{model}}/steering/side_effects.csv",
            caption="../report/side_effects.rst",
            category="Steering",
            subcategory="Side effects",
            labels={"model": "{model}", "table": "side effects (CSV)"},
        ),
        side_effects_png=report(
            f"{R}/{{model}}/steering/side_effects.png",
            caption="../report/side_effects.rst",
            category="Steering",
            subcategory="Side effects",
            labels={"model": "{model}", "figure": "side effects"},
        ),
        targeted=report(
            f"{R}/{{model}}/steering/targeted.csv",
            caption="../report/targeted.rst",
            category="Steering",
            subcategory="Targeted steering",
            labels={"model": "{model}", "table": "targeted (CSV)"},
        ),
        targeted_png=report(
            f"{R}/{{model}}/steering/targeted.png",
            caption="../report/targeted.rst",
            category="Steering",
            subcategory="Targeted steering",
            labels={"model": "{model}", "figure": "targeted steering"},
        ),
    log:
        f"{R}/logs/{{model}}/steering_eval.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        conditions=condition_specs_arg,
        candidates=candidates_arg,
        selection=selection_arg,
        args=steering_eval_args,
    shell:
        "valuegraph steering-eval --train {input.train} --test {input.test} --values {input.values}"
        " {params.selection} {params.candidates} --conditions {params.conditions}"
        " --roles {input.roles}"
        " --graph {input.graph} --references {input.references} {params.args}"
        " --table1 {output.table1} --table1-png {output.table1_png}"
        " --side-effects {output.side_effects} --side-effects-png {output.side_effects_png}"
        " --targeted {output.targeted} --targeted-png {output.targeted_png} > {log} 2>&1"
