"""GPU check: in fp32, batched + early-stopped generation answers as unbatched full-length
generation (random gemma-2b weights; raw texts compared as prefixes). Prints one JSON line.

    python tests/gpu/generate_equal.py CHECKPOINT_WITH_TOKENIZER [N_ITEMS]
"""

from __future__ import annotations

import json
import sys

import torch

from valuegraph.bench.collect import load_tokenizer, random_arch_model
from valuegraph.io import read_table
from valuegraph.model.engine import Engine, EngineSettings
from valuegraph.prompts import persona_line

tokenizer = load_tokenizer(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
questions = read_table("results/items/train.parquet", what="items")["question"].to_list()[:n]
persona = persona_line("Gender: female; Job: Exhibition designer, MBTI: ISTP")
model = random_arch_model("gemma-2b", torch.float32, torch.device("cuda"))
out = {}
for parser in ("strict", "paper"):
    settings = {"mode": "generate", "max_new_tokens": 100, "parser": parser}
    full = Engine(
        model, tokenizer, EngineSettings(batch_size=1, stop_when_parsed=False, **settings)
    ).answer(persona, questions)
    early = Engine(model, tokenizer, EngineSettings(batch_size=8, **settings)).answer(
        persona, questions
    )
    out[parser] = {
        "answers_equal": [r["answer"] for r in full] == [r["answer"] for r in early],
        "texts_prefix": all(
            f["raw_text"].startswith(e["raw_text"]) for f, e in zip(full, early, strict=True)
        ),
        "new_tokens_full": sum(r["n_new_tokens"] for r in full),
        "new_tokens_early": sum(r["n_new_tokens"] for r in early),
        "answers": sorted({r["answer"] for r in full}),
    }
print(json.dumps(out))
