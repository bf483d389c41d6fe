"""The steering-evaluation contract commands (table1, side-effects, targeted) on hand-built
matrices: every expected number is worked out here, by hand (in comments) or by a brute-force loop
over the rows as written, independently of valuegraph.evaluation; plus the error cases and the
agreement with ``steering-eval`` (one implementation)."""

from __future__ import annotations

import json
import math
import random

import polars as pl
import pytest

from valuegraph.cli import main

NAN = float("nan")
ABC = ["A", "B", "C"]

# --------------------------------------------------------------------------- data

# TRAIN: roles none, p1, p2, p3; unsteered scores and the deltas of two SAE features
TRAIN_BASE = {"none": [1, 2, 3], "p1": [2, 2, 2], "p2": [3, 1, 0], "p3": [0, 0, 1]}
TRAIN_DELTA = {
    "sae:10": {
        "none": [1, 0, -0.5],
        "p1": [0.5, 0, NAN],  # C unanswered under the feature
        "p2": [1, -1, 0],
        "p3": [0, 0.25, -1],
    },
    "sae:20": {"none": [-1, 0, 0], "p1": [-1, 1, 0], "p2": [0, 1, 0.5], "p3": [-0.5, 0, 0]},
}
# TEST: roles none, q1, q2, q3 (q3's B is missing unsteered: every B delta of q3 is NaN)
TEST_BASE = {"none": [0, 0, 0], "q1": [1, 1, 1], "q2": [2, 2, 2], "q3": [1, NAN, 1]}
TEST_DELTA = {
    "sae:10": {"none": [1, 0, 0], "q1": [1, -1, -1], "q2": [0, 0, 0], "q3": [0.5, 0, -1]},
    "sae:20": {"none": [-1, 1, 0], "q1": [0, 1, 0], "q2": [-1, 0, 0], "q3": [0, 0, 0.5]},
    "value_prompt:A:+": {
        "none": [0.5, 0, 0],
        "q1": [1, 0, 0.25],
        "q2": [0, 0, 0],
        "q3": [-0.5, 0, 0],
    },
    "value_prompt:C:+": {"none": [0, 0, 1], "q1": [0, 0, 0], "q2": [0, 0, 1], "q3": [0, 0, 1]},
    "value_prompt:B:-": {"none": [0, -1, 0], "q1": [0, -1, 0], "q2": [0, 0, 0], "q3": [0, -1, 0]},
}


def rows_of(base, deltas, values=ABC):
    """{condition: {role: scores}} with the steered rows = base + delta."""
    out = {"none": {r: list(map(float, v)) for r, v in base.items()}}
    for cond, by_role in deltas.items():
        out[cond] = {r: [b + d for b, d in zip(base[r], by_role[r], strict=True)] for r in by_role}
    return out


def frame(rows, values=ABC, role="role", shuffle=None, rename=None):
    records = [
        {role: r, "condition": (rename or {}).get(c, c), **dict(zip(values, x, strict=True))}
        for c, by_role in rows.items()
        for r, x in by_role.items()
    ]
    if shuffle is not None:
        random.Random(shuffle).shuffle(records)
    f = pl.DataFrame(records)
    # NaN -> null (missing), as an unanswered value is in a CSV
    return f.with_columns([pl.col(v).fill_nan(None) for v in values])


def write(tmp_path, name, f):
    path = tmp_path / name
    if name.endswith(".csv"):
        f.write_csv(path)
    else:
        f.write_parquet(path)
    return str(path)


def cli(*args):
    return main([str(a) for a in args])


def cli_error(capsys, *args):
    code = cli(*args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --------------------------------------------------------------------------- brute force


def isnan(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


def brute_counts(rows, cond, j, threshold):
    """(up, down, same) of value j under cond vs unsteered, over the roles, NaN skipped."""
    up = down = same = 0
    for role, base in rows["none"].items():
        steered = rows[cond][role]
        if isnan(base[j]) or isnan(steered[j]):
            continue
        d = steered[j] - base[j]
        if d > threshold:
            up += 1
        elif d < -threshold:
            down += 1
        else:
            same += 1
    return up, down, same


def brute_cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else NAN


def brute_side_effects(deltas, desc, values, threshold):
    """Spec section 11 literally, per value; a NaN delta neither changes nor observes."""

    def moved(d):
        return not isnan(d) and abs(d) > threshold

    exp, unexp = {}, {}
    for x in values:
        s = [k for k in deltas if moved(k[x])]
        f = {}
        for y in values:
            if y == x:
                continue
            seen = [k for k in s if not isnan(k[y])]
            f[y] = sum(moved(k[y]) for k in seen) / len(seen) if seen else NAN
        d = [f[y] for y in desc[x] if not isnan(f[y])]
        u = [f[y] for y in values if y != x and y not in desc[x] and not isnan(f[y])]
        exp[x] = sum(d) / len(d) if s and d else NAN
        unexp[x] = sum(u) / len(u) if s and u else NAN
    return exp, unexp


def mean(xs):
    xs = [x for x in xs if not isnan(x)]
    return sum(xs) / len(xs) if xs else NAN


def sd(xs):
    xs = [x for x in xs if not isnan(x)]
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def approx_list(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if isnan(w):
            assert g is None
        else:
            assert g == pytest.approx(w)


# --------------------------------------------------------------------------- table1


def train_test(tmp_path, suffix=".csv", **kw):
    train = write(tmp_path, f"train{suffix}", frame(rows_of(TRAIN_BASE, TRAIN_DELTA), **kw))
    test = write(tmp_path, f"test{suffix}", frame(rows_of(TEST_BASE, TEST_DELTA), **kw))
    return train, test


def test_table1_counts_similarity_and_summary(tmp_path):
    train, test = train_test(tmp_path, shuffle=1)  # rows in any order
    out, summary, png = tmp_path / "t.csv", tmp_path / "s.json", tmp_path / "t.png"
    assert cli("table1", train, test, "--out", out, "--summary", summary, "--png", png) == 0
    table = pl.read_csv(out)
    assert table.columns == [
        "feature",
        "value",
        "train_up",
        "train_down",
        "train_same",
        "test_up",
        "test_down",
        "test_same",
        "similarity",
    ]
    assert table.select("feature", "value").rows() == [(f, v) for f in (10, 20) for v in ABC]
    by = {(r["feature"], r["value"]): r for r in table.iter_rows(named=True)}
    # by hand, feature 10: A train (3 up, 0 down, 1 same) = test -> 1; B train (1, 1, 2), test
    # (0, 1, 2) with q3 NaN -> 5 / sqrt(30); C train (0, 2, 1) with p1 NaN, test (0, 2, 2)
    # -> 6 / sqrt(40)
    assert [by[(10, "A")][k] for k in ("train_up", "train_down", "train_same")] == [3, 0, 1]
    assert by[(10, "A")]["similarity"] == pytest.approx(1.0)
    assert [by[(10, "B")][k] for k in ("test_up", "test_down", "test_same")] == [0, 1, 2]
    assert by[(10, "B")]["similarity"] == pytest.approx(5 / math.sqrt(30))
    assert by[(10, "C")]["similarity"] == pytest.approx(6 / math.sqrt(40))
    # every cell by brute force
    trows, srows = rows_of(TRAIN_BASE, TRAIN_DELTA), rows_of(TEST_BASE, TEST_DELTA)
    for f in (10, 20):
        for j, v in enumerate(ABC):
            a = brute_counts(trows, f"sae:{f}", j, 0)
            b = brute_counts(srows, f"sae:{f}", j, 0)
            r = by[(f, v)]
            assert (r["train_up"], r["train_down"], r["train_same"]) == a
            assert (r["test_up"], r["test_down"], r["test_same"]) == b
            assert r["similarity"] == pytest.approx(brute_cosine(a, b))
    s = json.loads(summary.read_text())
    sims = {f: mean([by[(f, v)]["similarity"] for v in ABC]) for f in (10, 20)}
    assert s["feature_similarity"] == pytest.approx({"10": sims[10], "20": sims[20]})
    assert s["mean_similarity"] == pytest.approx((sims[10] + sims[20]) / 2)
    noise = {}
    for j, v in enumerate(ABC):
        smallest = []
        for f in (10, 20):
            c = brute_counts(trows, f"sae:{f}", j, 0)
            smallest.append(min(c) / sum(c))
        noise[v] = mean(smallest)
    # by hand: A: feature 10 (3, 0, 1) -> 0, feature 20 (0, 3, 1) -> 0; C: feature 10
    # (0, 2, 1) -> 0 of 3
    assert noise["A"] == 0 and noise["B"] == pytest.approx((1 / 4 + 0) / 2)
    assert s["noise_ratio"] == pytest.approx(noise)
    assert (s["n_train"], s["n_test"]) == (4, 4)
    assert s["features"] == ["10", "20"] and s["values"] == ABC and s["threshold"] == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_table1_threshold_ties_features_and_shown_values(tmp_path):
    train, test = train_test(tmp_path)
    out, summary = tmp_path / "t.csv", tmp_path / "s.json"
    args = ["--features", "sae:10", "--values", "A", "C", "--threshold", "0.5"]
    assert cli("table1", train, test, "--out", out, "--summary", summary, *args) == 0
    table = pl.read_csv(out)
    assert table.select("feature", "value").rows() == [(10, "A"), (10, "C")]
    a, c = table.row(0, named=True), table.row(1, named=True)
    # |delta| = 0.5 is "same" at threshold 0.5: train A +1, +0.5, +1, 0 -> (2 up, 0, 2 same);
    # C -0.5, NaN, 0, -1 -> (0, 1 down, 2 same); test A +1, +1, 0, +0.5 -> (2, 0, 2)
    assert (a["train_up"], a["train_down"], a["train_same"]) == (2, 0, 2)
    assert (c["train_up"], c["train_down"], c["train_same"]) == (0, 1, 2)
    assert (a["test_up"], a["test_down"], a["test_same"]) == (2, 0, 2)
    srows = rows_of(TEST_BASE, TEST_DELTA)
    assert (c["test_up"], c["test_down"], c["test_same"]) == brute_counts(srows, "sae:10", 2, 0.5)
    s = json.loads(summary.read_text())
    assert set(s["noise_ratio"]) == {"A", "C"} and s["features"] == ["10"]
    assert s["mean_similarity"] == pytest.approx(mean([a["similarity"], c["similarity"]]))
    assert s["noise_ratio"]["C"] == pytest.approx(0.0)  # min(0, 1, 2) / 3


def test_table1_reads_the_workflows_matrices(tmp_path):
    """role_id, condition ids and the bookkeeping columns: the same table as the contract CSV."""
    ids = {"sae:10": "sae_10", "sae:20": "sae_20", "value_prompt:A:+": "value_prompt_a_pos"}
    ids |= {"value_prompt:C:+": "value_prompt_c_pos", "value_prompt:B:-": "value_prompt_b_neg"}

    def workflow_file(name, base, delta):
        f = frame(rows_of(base, delta), role="role_id", rename=ids)
        f = f.with_columns(n_answered=pl.lit(10), n_unparsed=pl.lit(0))
        return write(tmp_path, name, f)

    wtrain = workflow_file("w_train.parquet", TRAIN_BASE, TRAIN_DELTA)
    wtest = workflow_file("w_test.parquet", TEST_BASE, TEST_DELTA)
    train, test = train_test(tmp_path)
    assert cli("table1", wtrain, wtest, "--out", tmp_path / "w.csv") == 0
    assert cli("table1", train, test, "--out", tmp_path / "c.csv") == 0
    assert pl.read_csv(tmp_path / "w.csv").equals(pl.read_csv(tmp_path / "c.csv"))


# --------------------------------------------------------------------------- side effects

ABCD = ["A", "B", "C", "D"]
SE_ROWS = {
    "none": {
        "r1": [0.0, 0, 0, 0],  # the first persona: the prompt arm's baseline, the sae arm's role
        "none": [5.0, 5, 5, 5],  # the no-persona role: never an intervention of the prompt arm
        "r2": [1.0, 1, 0, 0],
        "r3": [1.0, 0, 1, 1],
        "r4": [0.0, 0, 1, NAN],
        "r5": [2.0, 1, 0, 1],
    },
    "sae:10": {"r1": [1.0, 1, 0, 0], "r2": [2.0, 2, 0, 0]},
    "sae:20": {"r1": [0.0, 0, 1, 1], "r2": [2.0, 1, 0, 0]},
    "sae:30": {"r1": [1.0, 0, 0, 0]},  # r2 has no sae:30 row
}
LEARNED = {
    "nodes": ABCD,
    "edges": [
        {"source": "A", "target": "B", "type": "directed"},
        {"source": "C", "target": "D", "type": "undirected"},
    ],
}
LEARNED_DESC = {"A": {"B"}, "B": set(), "C": {"D"}, "D": {"C"}}
REFERENCE_TSV = "# a reference graph\nsource\ttarget\nB\tA\nA\tC\n"
REFERENCE_DESC = {"A": {"C"}, "B": {"A", "C"}, "C": set(), "D": set()}


def se_files(tmp_path):
    matrix = write(tmp_path, "se.csv", frame(SE_ROWS, ABCD))
    (tmp_path / "learned.json").write_text(json.dumps(LEARNED))
    (tmp_path / "human.tsv").write_text(REFERENCE_TSV)
    return matrix, str(tmp_path / "learned.json"), str(tmp_path / "human.tsv")


def test_side_effects_prompt_arm(tmp_path):
    matrix, learned, human = se_files(tmp_path)
    out = tmp_path / "se.json"
    argv = ["side-effects", matrix, "--graph", learned, "--references", human]
    assert cli(*argv, "--arm", "prompt", "--out", out) == 0
    got = json.loads(out.read_text())
    # interventions r2-r1 (A, B), r3-r1 (A, C, D), r4-r1 (C; D unknown), r5-r1 (A, B, D).
    # Learned graph by hand: A: f(B) = 2/3 | f(C) = 1/3, f(D) = 2/3; B: - | 1, 0, 1/2;
    # C: f(D) = 1/1 (r4 does not observe D) | f(A) = 1/2, f(B) = 0; D: f(C) = 1/2 | 1, 1/2
    assert got["interventions"] == ["r2", "r3", "r4", "r5"] and got["n_interventions"] == 4
    assert got["settings"]["baseline_role"] == "r1" and got["settings"]["arm"] == "prompt"
    assert got["values"] == ABCD
    assert got["expected"] == pytest.approx(mean([2 / 3, 1, 1 / 2]))  # 13/18
    assert got["unexpected"] == pytest.approx(mean([1 / 2, 1 / 2, 1 / 4, 3 / 4]))  # 1/2
    assert got["expected_sd"] == pytest.approx(math.sqrt(14) / 18)
    assert got["unexpected_sd"] == pytest.approx(math.sqrt(0.03125))
    approx_list(got["per_value"]["expected"], [2 / 3, NAN, 1, 1 / 2])
    assert got["per_value"]["n_changed"] == [3, 2, 2, 2]
    assert "p_value" not in got and "expected_ci_low" not in got  # B = P = 0
    base = SE_ROWS["none"]
    deltas = [
        {v: base[r][i] - base["r1"][i] for i, v in enumerate(ABCD)}
        for r in ("r2", "r3", "r4", "r5")
    ]
    graphs = {g["graph"]: g for g in got["graphs"]}
    assert list(graphs) == ["learned", "human"] and graphs["human"]["path"] == human
    for name, desc in (("learned", LEARNED_DESC), ("human", REFERENCE_DESC)):
        exp, unexp = brute_side_effects(deltas, desc, ABCD, 0)
        g = graphs[name]
        assert g["expected"] == pytest.approx(mean(exp.values()))
        assert g["unexpected"] == pytest.approx(mean(unexp.values()))
        assert g["expected_sd"] == pytest.approx(sd(exp.values()))
        approx_list(g["per_value"]["unexpected"], [unexp[v] for v in ABCD])
    # the reference by hand: expected mean(1/3, 1/2) = 5/12, unexpected 7/12
    assert graphs["human"]["expected"] == pytest.approx(5 / 12)
    assert graphs["human"]["unexpected"] == pytest.approx(7 / 12)
    assert graphs["learned"]["n_arcs"] == 3 and graphs["human"]["n_arcs"] == 2
    # another baseline: r3 (r1 becomes an intervention)
    assert cli(*argv, "--arm", "prompt", "--baseline-role", "r3", "--out", out) == 0
    assert json.loads(out.read_text())["interventions"] == ["r1", "r2", "r4", "r5"]


def test_side_effects_sae_arm(tmp_path):
    matrix, learned, _ = se_files(tmp_path)
    out = tmp_path / "se.json"
    assert cli("side-effects", matrix, "--graph", learned, "--arm", "sae", "--out", out) == 0
    got = json.loads(out.read_text())
    # r1 under sae:10 (A, B), sae:20 (C, D), sae:30 (A). By hand: A: f(B) = 1/2 | 0, 0;
    # B: - | 1, 0, 0; C: f(D) = 1 | 0, 0; D: f(C) = 1 | 0, 0
    assert got["settings"]["role"] == "r1"
    assert got["interventions"] == ["sae:10", "sae:20", "sae:30"]
    assert got["expected"] == pytest.approx(5 / 6)
    assert got["unexpected"] == pytest.approx(1 / 12)
    # --features and --role (r2 has rows for 10 and 20): 10 moves A and B, 20 moves A
    argv = ["--arm", "sae", "--role", "r2", "--features", "10", "20", "--out", out]
    assert cli("side-effects", matrix, "--graph", f"mine={learned}", *argv) == 0
    got = json.loads(out.read_text())
    assert got["graph"] == "mine" and got["n_interventions"] == 2
    # A: f(B) = 1/2 | f(C) = f(D) = 0; B: - | f(A) = 1, f(C) = f(D) = 0; C, D: never moved
    assert got["expected"] == pytest.approx(1 / 2)
    assert got["unexpected"] == pytest.approx(mean([0, 1 / 3]))


def test_side_effects_statistics_are_the_workflows(tmp_path):
    """B, P > 0: the CIs and p-value of steering-eval's own function, with the same seeds."""
    from valuegraph.evaluation.side_effects import side_effects

    matrix, learned, human = se_files(tmp_path)
    out = tmp_path / "se.json"
    stats = ["--n-bootstrap", "50", "--n-permutations", "40", "--seed", "7"]
    argv = ["side-effects", matrix, "--graph", learned, "--graph", human, *stats]
    assert cli(*argv, "--arm", "prompt", "--out", out) == 0
    got = {g["graph"]: g for g in json.loads(out.read_text())["graphs"]}
    assert cli(*argv, "--arm", "sae", "--features", "10", "20", "--out", tmp_path / "s.json") == 0
    sae = {g["graph"]: g for g in json.loads((tmp_path / "s.json").read_text())["graphs"]}
    table = side_effects(
        pl.read_csv(matrix),
        ABCD,
        {"learned": LEARNED, "human": json.loads(json.dumps(_tsv_graph()))},
        ["sae:10", "sae:20"],
        [],
        0.0,
        50,
        40,
        7,
    )
    for setting, mine in (("role_prompt", got), ("sae", sae)):
        for row in table.filter(pl.col("setting") == setting).iter_rows(named=True):
            g = mine[row["graph"]]
            for key in ("expected", "unexpected", "expected_ci_low", "difference_ci_high"):
                assert g[key] == pytest.approx(row[key]), (setting, key)
            assert g["p_value"] == pytest.approx(row["p_value"])
            assert 0 < g["p_value"] <= 1 and g["n_null"] == 40
            assert g["expected_ci_low"] <= g["expected_ci_high"]


def _tsv_graph():
    return {
        "nodes": ["B", "A", "C"],
        "edges": [
            {"source": "B", "target": "A", "type": "directed"},
            {"source": "A", "target": "C", "type": "directed"},
        ],
    }


# --------------------------------------------------------------------------- targeted


PICKS = (
    "# value\tdirection\tcondition\n"
    "value\tdirection\tcondition\n"
    "A\t+\tsae:10\n"
    "C\t+\t20\n"
    "B\t-\tsae:20\n"
    "A\t-\tsae:20\n"
)


def test_targeted_pies(tmp_path):
    _, test = train_test(tmp_path, shuffle=3)
    picks = tmp_path / "picks.tsv"
    picks.write_text(PICKS)
    out = tmp_path / "pies.csv"
    assert cli("targeted", test, "--picks", picks, "--out", out) == 0
    table = pl.read_csv(out)
    assert table.columns[:11] == [
        "value",
        "direction",
        "arm",
        "condition",
        "up",
        "same",
        "down",
        "n",
        "up_pct",
        "same_pct",
        "down_pct",
    ]
    got = [
        (
            r["value"],
            r["direction"],
            r["arm"],
            r["condition"],
            r["up"],
            r["same"],
            r["down"],
            r["n"],
        )
        for r in table.iter_rows(named=True)
    ]
    # by hand: A+ by sae:10 +1, +1, 0, +.5; by its prompt +.5, +1, 0, -.5; C+ by sae:20 0, 0,
    # 0, +.5, prompt +1, 0, +1, +1; B- by sae:20 +1, +1, 0, NaN, prompt -1, -1, 0, NaN;
    # A- by sae:20 -1, 0, -1, 0 (no prompt: not pooled)
    assert got == [
        ("A", "+", "sae", "sae:10", 3, 1, 0, 4),
        ("A", "+", "value_prompt", "value_prompt:A:+", 2, 1, 1, 4),
        ("C", "+", "sae", "sae:20", 1, 3, 0, 4),
        ("C", "+", "value_prompt", "value_prompt:C:+", 3, 1, 0, 4),
        ("B", "-", "sae", "sae:20", 2, 1, 0, 3),
        ("B", "-", "value_prompt", "value_prompt:B:-", 0, 1, 2, 3),
        ("A", "-", "sae", "sae:20", 0, 2, 2, 4),
        ("(pooled)", "+", "sae", None, 4, 4, 0, 8),
        ("(pooled)", "+", "value_prompt", None, 5, 2, 1, 8),
        ("(pooled)", "-", "sae", None, 2, 1, 0, 3),
        ("(pooled)", "-", "value_prompt", None, 0, 1, 2, 3),
    ]
    rows = rows_of(TEST_BASE, TEST_DELTA)
    for r in table.iter_rows(named=True):
        if r["value"] != "(pooled)":
            up, down, same = brute_counts(rows, r["condition"], ABC.index(r["value"]), 0)
            assert (r["up"], r["same"], r["down"]) == (up, same, down)
        for k in ("up", "same", "down"):
            assert r[f"{k}_pct"] == pytest.approx(100 * r[k] / r["n"])
    pooled = table.filter(pl.col("value") == "(pooled)")
    assert pooled["n_values"].to_list() == [2, 2, 1, 1]
    # threshold 0.5: A+ by sae:10 now +1, +1 up, 0 and +.5 same
    assert cli("targeted", test, "--picks", picks, "--threshold", "0.5", "--out", out) == 0
    first = pl.read_csv(out).row(0, named=True)
    assert (first["up"], first["same"], first["down"], first["up_pct"]) == (2, 2, 0, 50.0)


# --------------------------------------------------------------------------- errors


def test_a_role_missing_from_one_condition_is_named(tmp_path, capsys):
    rows = rows_of(TRAIN_BASE, TRAIN_DELTA)
    del rows["sae:20"]["p3"]
    train = write(tmp_path, "gap.csv", frame(rows))
    _, test = train_test(tmp_path)
    line = cli_error(capsys, "table1", train, test, "--out", tmp_path / "t.csv")
    assert f"{train}: role 'p3' has no row under condition 'sae:20'" in line
    # a steered row without an unsteered one
    rows = rows_of(TEST_BASE, TEST_DELTA)
    del rows["none"]["q2"]
    test = write(tmp_path, "gap_test.csv", frame(rows))
    picks = tmp_path / "picks.tsv"
    picks.write_text(PICKS)
    line = cli_error(capsys, "targeted", test, "--picks", picks, "--out", tmp_path / "o.csv")
    assert f"{test}: role 'q2' has a row under condition 'sae:10' but no unsteered" in line
    # the sae arm's role
    matrix, learned, _ = se_files(tmp_path)
    argv = ["side-effects", matrix, "--graph", learned, "--arm", "sae", "--role", "r2"]
    line = cli_error(capsys, *argv, "--out", tmp_path / "se.json")
    assert f"{matrix}: role 'r2' has no row under condition 'sae:30'" in line
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "se.json").exists()


def test_a_value_column_missing_from_one_file_is_named(tmp_path, capsys):
    train, _ = train_test(tmp_path)
    test = write(tmp_path, "test_ab.csv", frame(rows_of(TEST_BASE, TEST_DELTA)).drop("C"))
    line = cli_error(capsys, "table1", train, test, "--out", tmp_path / "t.csv")
    assert f"{test}: value column 'C' is missing" in line
    # and the other way round: TEST has a column TRAIN lacks
    line = cli_error(capsys, "table1", test, train, "--out", tmp_path / "t.csv")
    assert f"{train}: value column 'C' is not in {test}" in line
    # --values chooses the shared columns
    assert cli("table1", test, train, "--values", "A", "B", "--out", tmp_path / "t.csv") == 0
    line = cli_error(capsys, "table1", train, test, "--values", "Z", "--out", tmp_path / "x.csv")
    assert f"{train}: value column 'Z' is missing" in line


def test_other_input_errors_are_one_line(tmp_path, capsys):
    train, test = train_test(tmp_path)
    out = tmp_path / "o.csv"
    twice = frame(rows_of(TRAIN_BASE, TRAIN_DELTA))
    dup = write(tmp_path, "dup.csv", pl.concat([twice, twice.head(1)]))
    assert "two rows for role 'none' under condition 'none'" in cli_error(
        capsys, "table1", dup, test, "--out", out
    )
    assert f"{train}: no rows of condition 'sae:99'" in cli_error(
        capsys, "table1", train, test, "--features", "99", "--out", out
    )
    rows = rows_of(TEST_BASE, TEST_DELTA)
    del rows["sae:20"]
    only10 = write(tmp_path, "only10.csv", frame(rows))
    assert f"{only10}: no rows of condition 'sae:20'" in cli_error(
        capsys, "table1", train, only10, "--out", out
    )
    assert "--threshold must be a number >= 0" in cli_error(
        capsys, "table1", train, test, "--threshold", "-1", "--out", out
    )
    no_role = write(tmp_path, "norole.csv", frame(rows_of(TEST_BASE, TEST_DELTA), role="who"))
    assert "no 'role' column (nor its alias 'role_id')" in cli_error(
        capsys, "table1", train, no_role, "--out", out
    )
    picks = tmp_path / "p.tsv"
    for body, message in (
        ("value\tdirection\tcondition\nZ\t+\tsae:10\n", "line 2: value 'Z' is not a value column"),
        ("value\tdirection\tcondition\nA\tup\tsae:10\n", "line 2: direction 'up' must be"),
        ("value\tdirection\tcondition\nA\t+\tsae:77\n", "has no rows of condition 'sae:77'"),
        ("value\tdirection\tcondition\nA\t+\tfoo\n", "condition 'foo' is not an SAE condition"),
        ("value\tdirection\tcondition\nA\t+\t10\nA\t+\t20\n", "a second pick for (A, +)"),
        ("value\tcondition\nA\t10\n", "'direction' is missing"),
    ):
        picks.write_text(body)
        line = cli_error(capsys, "targeted", test, "--picks", picks, "--out", out)
        assert f"{picks}: " in line and message in line, line
    matrix, learned, human = se_files(tmp_path)
    se = ["side-effects", matrix, "--out", tmp_path / "se.json"]
    assert "baseline_role 'r9' has no unsteered" in cli_error(
        capsys, *se, "--graph", learned, "--arm", "prompt", "--baseline-role", "r9"
    )
    assert "give at least one graph" in cli_error(capsys, *se, "--arm", "prompt")
    assert "two graphs named 'learned'" in cli_error(
        capsys, *se, "--graph", learned, "--graph", learned, "--arm", "prompt"
    )
    other = tmp_path / "other.tsv"
    other.write_text("source\ttarget\nX\tY\n")
    assert "names none of the value columns" in cli_error(
        capsys, *se, "--graph", str(other), "--arm", "prompt"
    )
    assert not out.exists() and not (tmp_path / "se.json").exists()


@pytest.mark.parametrize("command", ["table1", "side-effects", "targeted"])
def test_a_header_only_matrix_is_named(tmp_path, capsys, command):
    empty = tmp_path / "empty.csv"
    empty.write_text("role,condition,A,B\n")
    argv = {
        "table1": ["table1", empty, empty],
        "side-effects": ["side-effects", empty, "--graph", "g.json", "--arm", "prompt"],
        "targeted": ["targeted", empty, "--picks", "p.tsv"],
    }[command]
    line = cli_error(capsys, *argv, "--out", tmp_path / "out")
    assert f"{empty}: the matrix has a header but no rows" in line
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- one implementation


def test_steering_eval_writes_what_the_contract_commands_compute(tmp_path):
    """steering-eval on the workflow's file format: its Table 1, side-effect rows and targeted
    rows are the contract commands' numbers on the same files."""
    ids = {"sae:10": "sae_10", "sae:20": "sae_20", "value_prompt:A:+": "value_prompt_a_pos"}
    ids |= {"value_prompt:C:+": "value_prompt_c_pos", "value_prompt:B:-": "value_prompt_b_neg"}

    def workflow_file(name, base, delta):
        f = frame(rows_of(base, delta), role="role_id", rename=ids)
        return write(tmp_path, name, f.with_columns(n_answered=pl.lit(9), n_unparsed=pl.lit(1)))

    train = workflow_file("train.parquet", TRAIN_BASE, TRAIN_DELTA)
    test = workflow_file("test.parquet", TEST_BASE, TEST_DELTA)
    (tmp_path / "values.json").write_text(json.dumps(ABC))
    (tmp_path / "selection.json").write_text(json.dumps({"kept": ["sae_10", "sae_20"]}))
    graph = {"nodes": ABC, "edges": [{"source": "A", "target": "B", "type": "directed"}]}
    (tmp_path / "learned.json").write_text(json.dumps(graph))
    o = {n: tmp_path / n for n in ("t1.csv", "se.csv", "tg.csv", "t1.png", "se.png", "tg.png")}
    stats = ["--threshold", "0", "--n-bootstrap", "30", "--n-permutations", "30", "--seed", "5"]
    conditions = ["none", "sae:10", "sae:20", "value_prompt:A:+", "value_prompt:C:+"]
    argv = ["steering-eval", "--train", train, "--test", test, "--values", tmp_path / "values.json"]
    argv += ["--selection", tmp_path / "selection.json", "--conditions", *conditions]
    argv += ["value_prompt:B:-", "--graph", tmp_path / "learned.json", *stats]
    argv += ["--table1", o["t1.csv"], "--side-effects", o["se.csv"], "--targeted", o["tg.csv"]]
    argv += ["--table1-png", o["t1.png"], "--side-effects-png", o["se.png"]]
    assert cli(*argv, "--targeted-png", o["tg.png"]) == 0

    workflow = pl.read_csv(o["t1.csv"])
    assert cli("table1", train, test, "--out", tmp_path / "c1.csv") == 0
    contract = pl.read_csv(tmp_path / "c1.csv")
    cols = ["feature", "value", "train_up", "train_down", "train_same", "test_up", "test_down"]
    assert workflow.select(cols).equals(contract.select(cols))
    assert workflow["cosine"].to_list() == pytest.approx(contract["similarity"].to_list())

    effects = pl.read_csv(o["se.csv"])
    for arm, setting, extra in (
        ("prompt", "role_prompt", []),
        ("sae", "sae", ["--features", "10", "20"]),
    ):
        out = tmp_path / f"{arm}.json"
        se = ["side-effects", test, "--graph", tmp_path / "learned.json", "--arm", arm, *extra]
        assert cli(*se, *stats, "--out", out) == 0
        mine = json.loads(out.read_text())
        row = effects.filter(pl.col("setting") == setting).row(0, named=True)
        assert mine["n_interventions"] == row["n_interventions"]
        for key in ("expected", "unexpected", "expected_ci_low", "unexpected_ci_high", "p_value"):
            assert mine[key] == pytest.approx(row[key], nan_ok=True), (arm, key)

    target = pl.read_csv(o["tg.csv"])
    picks = target.filter((pl.col("method") == "sae_feature") & (pl.col("value") != "(pooled)"))
    lines = ["value\tdirection\tcondition"] + [
        f"{r['value']}\t{r['direction']}\t{r['feature']}" for r in picks.iter_rows(named=True)
    ]
    (tmp_path / "picks.tsv").write_text("\n".join(lines) + "\n")
    assert (
        cli("targeted", test, "--picks", tmp_path / "picks.tsv", "--out", tmp_path / "c.csv") == 0
    )
    contract = pl.read_csv(tmp_path / "c.csv")
    assert contract.height == target.height
    for w, c in zip(target.iter_rows(named=True), contract.iter_rows(named=True), strict=True):
        assert (w["value"], w["direction"]) == (c["value"], c["direction"])
        assert w["method"] == ("sae_feature" if c["arm"] == "sae" else c["arm"])
        assert (w["up_count"], w["same_count"], w["down_count"], w["n"]) == (
            c["up"],
            c["same"],
            c["down"],
            c["n"],
        )
        assert w["up"] == pytest.approx(c["up"] / c["n"])


def test_a_condition_may_cover_a_subset_of_the_unsteered_roles_when_allowed(tmp_path):
    """The workflow steers only roles.n_train_steered train roles: steering-eval reads the train
    matrix with every_role=False; a steered role without an unsteered row stays an error."""
    from valuegraph.errors import DataError
    from valuegraph.evaluation.deltas import ScoreMatrix

    rows = rows_of(TRAIN_BASE, TRAIN_DELTA)
    del rows["sae:20"]["p3"]
    frame_ = frame(rows)
    values = [c for c in frame_.columns if c not in ("role", "condition")]
    matrix = ScoreMatrix(frame_, values, "gap.csv")
    with pytest.raises(DataError, match="role 'p3' has no row under condition 'sae:20'"):
        matrix.require(["sae:20"])
    matrix.require(["sae:20"], every_role=False)
    ids, delta = matrix.deltas("sae:20")
    assert "p3" not in ids and delta.shape == (len(ids), len(values))
