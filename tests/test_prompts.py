"""Prompt construction: the paper's layouts and the prefix/suffix split."""

import pytest

from valuegraph.prompts import MARKER, build_prompt, persona_line

PERSONA = persona_line("Gender: female; Job: Civil engineer, MBTI: INTJ")


def test_plain_layout_is_the_papers_gemma_prompt():
    prompt = build_prompt("plain", "Should I rest?", PERSONA, "generate")
    assert prompt.text.startswith(
        "Instruction:\nAnswer the Question according to your values.\n\n(FYI, here is your trait. "
        "Gender: female; Job: Civil engineer, MBTI: INTJ)\n\nFirst write your Thought"
    )
    assert prompt.text.endswith("Now it is your turn.\nQuestion: Should I rest?\nThought:")
    assert MARKER in prompt.prefix and "Should I rest?" not in prompt.prefix


def test_llama_layout_and_logprob_cue():
    prompt = build_prompt("llama_paper", "Should I rest?", "", "logprob")
    assert prompt.prefix.startswith("<|start_header_id|>system<|end_header_id|>\n")
    assert "Thought should better be one single sentence. Refer to the format" in prompt.prefix
    assert prompt.suffix.endswith("<|start_header_id|>assistant<|end_header_id|>\nAnswer:")
    assert "(FYI" not in prompt.text


def test_chat_layout_splits_at_the_question():
    def render(messages):
        return (
            "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"
        )

    prompt = build_prompt("chat", "Should I rest?", PERSONA, "logprob", render)
    assert prompt.prefix.startswith("<system>Answer the Question") and prompt.prefix.endswith(
        "<user>"
    )
    assert prompt.suffix == "Question: Should I rest?</user><assistant>Answer:"
    other = build_prompt("chat", "Should I run?", PERSONA, "logprob", render)
    assert other.prefix == prompt.prefix and other.hash != prompt.hash


def test_unknown_template():
    with pytest.raises(ValueError, match="unknown template"):
        build_prompt("fancy", "q", "", "logprob")
