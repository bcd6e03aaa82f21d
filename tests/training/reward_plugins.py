"""A custom reward function, loaded by GRPO and RLOO jobs as "reward_plugins:vowel_share"."""


def vowel_share(completions, **_):
    """Share of characters that are vowels: varies smoothly, so a tiny policy can learn it in a few steps."""
    texts = [c if isinstance(c, str) else "".join(m["content"] for m in c) for c in completions]
    return [sum(ch in "aeiou" for ch in text) / max(len(text), 1) for text in texts]


def response_length_judge(items):
    """A stand-in external judge: scores each response by its length in characters, capped at 1."""
    return [min(len(item["response"]) / 100, 1.0) for item in items]
