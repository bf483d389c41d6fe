"""The collection design benchmark: equal costs, bounded scores, and it ranks what it should."""

from __future__ import annotations

import json

import polars as pl

from valuegraph.bench import design
from valuegraph.causal.simulated import SimulatedRespondent, Simulation, shift_condition
from valuegraph.cli import main
from valuegraph.config import Condition

SOV = ["Aesthetic", "Economic", "Religious", "Social", "Theoretical"]
# a persona-sensitive respondent with no yes-bias: PC should recover most of a 5-node graph
STRONG = {**design.SCENARIOS["strong"], "discrimination": 1.0, "acquiescence_sd": 0.0}


def test_designs_cost_the_budget():
    costs = design.Costs({0.1: 34, 0.2: 55, 1.0: 253}, 113, 6, 5.0, train_role_extra=50)
    designs = design.enumerate_designs(6000, costs, [0.1, 0.2, 1.0], [0, 1, 3], [1, 2, 4])
    assert designs
    for d in designs:
        one_role = costs.train(d) / (d.n_train + 1)  # one more train role
        assert 6000 - one_role < costs.total(d) <= 6000, d
        assert d.discovery_rows() == (d.n_train + 1) * (d.k_train + 1)
    # the test split of 4 personas + baseline x 6 conditions x (113 + 5): 3540 answers
    assert costs.test(design.Design("per_role", 0.1, 0, 4, 0)) == 5 * 6 * 118
    # 2 train personas + baseline, none + 1 steered, 34 items + prefix each, + 50 (Schwartz)
    assert costs.train(design.Design("per_role", 0.1, 1, 4, 2)) == 3 * (2 * 39 + 50)
    assert design.parse_design("shared:0.2:3:6:12") == design.Design("shared", 0.2, 3, 6, 12)


def test_bench_table_content(tmp_path, items_csv, capsys):
    out, meta = tmp_path / "design.csv", tmp_path / "design.json"
    rc = main(
        [
            "bench-design",
            "--items",
            str(items_csv),
            "--values",
            *SOV,
            "--budget",
            "1500",
            "--test-conditions",
            "3",
            "--rates",
            "0.1",
            "1.0",
            "--k-train",
            "0",
            "1",
            "--n-test",
            "1",
            "--scenarios",
            "strong",
            "calibrated",
            "--replicates",
            "2",
            "--n-edges",
            "3",
            "--min-rows",
            "20",
            "--calibration-replicates",
            "2",
            "--reference",
            "per_role:0.1:1:2:10",
            "--out",
            str(out),
            "--metadata",
            str(meta),
        ]
    )
    assert rc == 0
    table = pl.read_csv(out)
    assert set(table["scenario"]) == {"strong", "calibrated"}
    # scenarios x (samplings x rates x k_train + the reference design at its own cost)
    assert table.height == 2 * (2 * 2 * 2 + 1)
    reference = table.filter(pl.col("reference"))
    assert reference["design"].unique().to_list() == ["per_role-r0.1-k1-test2-train10"]
    assert reference["rank"].null_count() == 2
    table = table.filter(~pl.col("reference"))
    per_role_cost = table["answers_train"] / (table["n_train"] + 1)
    assert ((1500 - table["answers_total"]) < per_role_cost).all()
    assert (table["answers_total"] <= 1500).all()
    for m in ("skeleton_f1", "skeleton_precision", "skeleton_recall", "orientation_accuracy"):
        col = table[f"{m}_mean"].drop_nulls()
        assert ((col >= 0) & (col <= 1)).all(), m
        assert (table[f"{m}_lo"].drop_nulls() >= 0).all()
        assert (table[f"{m}_hi"].drop_nulls() <= 1).all()
    # rate 1.0 buys few roles: fewer than min_rows rows, so unranked; the others ranked 1..n
    assert table.filter(pl.col("train_sample_rate") == 1.0)["rank"].null_count() == 8
    ranks = table.filter(pl.col("scenario") == "strong")["rank"].drop_nulls().sort().to_list()
    assert ranks == list(range(1, len(ranks) + 1))
    result = json.loads(meta.read_text())
    assert result["settings"]["budget"] == 1500
    assert set(result["settings"]["calibration_simulated"]) == {"strong", "calibrated"}
    assert "rank" in capsys.readouterr().out


def _f1(designs, simulation, replicates=3, **kwargs):
    from valuegraph import items as items_mod

    table_ = items_mod.read_items(kwargs.pop("items_csv"))
    train = items_mod.split(table_, SOV, 0.7, 0).filter(pl.col("split") == "train")
    settings = {
        "seed": 0,
        "alpha": 0.05,
        "indep_test": "fisherz",
        "postprocess": "paper",
        "score": "soft",
        "n_edges": 4,
    }
    records = [
        r
        for rep in range(replicates)
        for r in design._task(train, SOV, "s", simulation, rep, "per_role", 1.0, designs, settings)
    ]
    frame = pl.DataFrame(records)
    return dict(frame.group_by("design").agg(pl.col("skeleton_f1").mean()).iter_rows())


def test_more_roles_recover_more(items_csv):
    few = design.Design("per_role", 1.0, 0, 1, 24)
    many = design.Design("per_role", 1.0, 0, 1, 200)
    f1 = _f1([few, many], STRONG, items_csv=items_csv)
    assert f1[many.id] >= 0.8
    assert f1[many.id] >= f1[few.id] - 0.05


def test_shared_items_beat_per_role_sampling_under_item_noise(items_csv):
    """Item offsets that differ between items make per-role samples noisy; one shared sample
    cancels them (the calibrated SmolLM2 finding, here with a strong persona signal)."""
    from valuegraph import items as items_mod

    table_ = items_mod.read_items(items_csv)
    train = items_mod.split(table_, SOV, 0.7, 0).filter(pl.col("split") == "train")
    sem = design.random_sem(SOV, 4, 1)
    sim = Simulation(graph="random", seed=3, **{**STRONG, "discrimination": 0.3, "item_sd": 1.0})
    respondent = SimulatedRespondent(sem, sim, SOV)
    roles = [f"r{i:03d}" for i in range(120)]
    none = [Condition("none", "none")]
    stats = {}
    for sampling in ("per_role", "shared"):
        _, matrix = design.simulate_split(respondent, train, SOV, roles, none, 0.2, sampling, 0)
        x = matrix.select(SOV).to_numpy()
        stats[sampling] = abs(pl.DataFrame(x).corr().to_numpy()).sum()
    implied = abs(sem.correlation()).sum()
    # shared sampling keeps more of the planted correlation than per-role sampling
    assert abs(stats["shared"] - implied) < abs(stats["per_role"] - implied)


def test_paired_noise_moves_only_descendants(items_csv):
    from valuegraph import items as items_mod

    table_ = items_mod.read_items(items_csv)
    train = items_mod.split(table_, SOV, 0.7, 0).filter(pl.col("split") == "train")
    sem = design.random_sem(SOV, 4, 2)
    sim = Simulation(graph="random", seed=1, **design.SCENARIOS["calibrated"])
    respondent = SimulatedRespondent(sem, sim, SOV)
    target = sem.nodes[0]  # first in topological order
    p_none, _ = respondent.p_and_answers("r1", train, Condition("none", "none"))
    p_shift, _ = respondent.p_and_answers("r1", train, shift_condition(target, 1))
    import networkx as nx

    g = nx.DiGraph([(s, t) for s, t, _ in sem.edges])
    g.add_nodes_from(SOV)
    moved = {target, *nx.descendants(g, target)}
    unmoved = train["value"].is_in(list(set(SOV) - moved)).to_numpy()
    assert (p_none[unmoved] == p_shift[unmoved]).all()
    assert (p_none[~unmoved] != p_shift[~unmoved]).any()


def test_calibrated_train_matrix_is_mostly_item_sampling(items_csv):
    stats = design.calibration_check(items_csv, design.SCENARIOS["calibrated"], replicates=3)
    # as in the real SmolLM2 run: own items per role make the between-role SD ~3x that of the
    # same items for all roles, and p_yes ~0.11
    assert stats["train"]["between_role_sd"] > 2 * stats["test"]["between_role_sd"]
    assert 0.08 < stats["test"]["mean_p_yes"] < 0.16
