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

``final_answer(parser, text)`` is the early-stopping rule of generation: the answer when no
continuation of ``text`` can change what ``parser`` returns, else None (see its docstring).
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

# characters at the end of a partial decode that may still change once more tokens arrive: an
# incomplete UTF-8 sequence decodes to up to 3 U+FFFD, and clean_up_tokenization_spaces'
# patterns (" n't", " .", ...) span at most 4 characters
SETTLE_CHARS = 8
NON_WORD = re.compile(r"\W")


def final_strict(text: str) -> str | None:
    """The strict parser's answer if every continuation of ``text`` keeps it, else None.

    ``parse_strict`` takes the leftmost ``Answer: yes|no`` match. Once ``text`` holds such a match
    whose closing word boundary is a real non-word character inside ``text``, a continuation can
    neither undo it (its characters and the boundary stay) nor put an earlier match before it
    (a match starting earlier would have to contain this one's letters ``answer``, which none
    can), and the fallback (a leading yes/no) is only used when there is no match. The match
    and its boundary must lie ``SETTLE_CHARS`` before the end, where a decode of more tokens
    cannot differ (partial UTF-8, space clean-up), and the boundary must not be U+FFFD.
    """
    lowered = text.lower()
    match = ANSWER_RE.search(lowered)
    if match is None:
        return None
    end = match.end()
    if len(lowered) - end < SETTLE_CHARS:
        return None
    boundary = lowered[end]
    if boundary == "\ufffd" or not NON_WORD.match(boundary):
        return None
    return match.group(1)


def final_paper(text: str) -> str | None:
    """The paper parser's answer if every continuation keeps it: only ``yes`` when the reply
    starts with yes/sure (checked first, whatever follows); ``no`` and ``unsure`` depend on the
    text after the last ``\\nanswer:``, which a continuation can always add."""
    reply = text.lower()
    if len(reply) >= SETTLE_CHARS and reply.startswith(("yes", "sure")):
        return "yes"
    return None


FINAL: dict[str, Callable[[str], str | None]] = {"strict": final_strict, "paper": final_paper}


def final_answer(parser: str, text: str) -> str | None:
    """``parser``'s answer to ``text`` if no continuation of ``text`` can change it, else None:
    generation may stop there (``EngineSettings.stop_when_parsed``)."""
    return FINAL[parser](text)


def unparsed_scoring(parser: str) -> str:
    """How the matrix scores an answer that is neither yes nor no: ``zero`` or ``missing``."""
    return "zero" if parser in PARSERS_WHERE_UNPARSED_IS_ZERO else "missing"
