"""Answer parsers for generated text (``collect.parser``), torch-free.

- ``strict`` (default): the first ``Answer: yes|no``, else a leading yes/no; anything else is
  ``unparsed``, a missing value in the matrix (never a neutral score).
- ``paper``: the authors' prefix rules (spec paper-method.md section 5): lower-case the reply,
  take the stripped text after the last ``\\nanswer:``; yes when the reply or that answer part
  starts with ``yes`` or ``sure``, else no when either starts with ``no`` (which also matches
  "not", "none"), else ``unsure`` when the reply starts with ``unsure``, ``i cannot`` or
  ``i am unable`` or the answer part with ``unsure``. What is left went to a GPT-3.5 judge in
  the paper; here it is ``unparsed``. Under this parser the matrix scores ``unsure`` and
  ``unparsed`` as 0, as the paper did (both are counted in ``n_unparsed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

PARSERS_WHERE_UNPARSED_IS_ZERO = ("paper",)
ANSWER_RE = re.compile(r"answer\s*:\s*[*_\"'`]*\s*(yes|no)\b")
LEADING_RE = re.compile(r"^\W*(yes|no)\b")


def parse_strict(text: str) -> str:
    """The first ``Answer: yes|no``, else a leading yes/no, else ``unparsed``."""
    lowered = text.lower()
    match = ANSWER_RE.search(lowered) or LEADING_RE.match(lowered.strip())
    return match.group(1) if match else "unparsed"


def parse_paper(text: str) -> str:
    """The authors' prefix rules: yes / no / unsure, else ``unparsed`` (their GPT judge's case)."""
    reply = text.lower()
    part = reply.split("\nanswer:")[-1].strip()
    if reply.startswith(("yes", "sure")) or part.startswith(("yes", "sure")):
        return "yes"
    if reply.startswith("no") or part.startswith("no"):
        return "no"
    if reply.startswith(("unsure", "i cannot", "i am unable")) or part.startswith("unsure"):
        return "unsure"
    return "unparsed"


PARSERS: dict[str, Callable[[str], str]] = {"strict": parse_strict, "paper": parse_paper}


def unparsed_scoring(parser: str) -> str:
    """How the matrix scores an answer that is neither yes nor no: ``zero`` or ``missing``."""
    return "zero" if parser in PARSERS_WHERE_UNPARSED_IS_ZERO else "missing"
