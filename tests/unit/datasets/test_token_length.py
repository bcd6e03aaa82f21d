from dataset_helpers import only_error


class WordTokenizer:
    """A stand-in with the tokenizer interface: one token per whitespace-separated word."""

    def encode(self, text: str) -> list[int]:
        return list(range(len(text.split())))


def test_prompt_over_max_length_is_error(validate_lines):
    # Given a prompt of 400 ASCII characters (about 100 tokens at 0.25 per character) and max_length 64
    records = [{"prompt": "word " * 80, "completion": "ok."}]
    report = validate_lines(records, max_length=64)
    error = only_error(report)
    assert error.kind == "prompt_too_long"
    assert error.line == 1


def test_record_over_max_length_warns(validate_lines):
    records = [{"prompt": "short?", "completion": "word " * 80}, {"prompt": "b?", "completion": "c."}]
    report = validate_lines(records, max_length=64)
    assert report.valid
    assert report.warnings_by_kind["exceeds_max_length"] == 1


def test_estimate_is_stated(validate_lines):
    report = validate_lines([{"prompt": "a b c d?", "completion": "e f g h."}])
    assert report.warnings_by_kind["tokens_estimated"] == 1
    assert report.stats.token_estimate.startswith("estimate")
    assert report.stats.tokens_per_character == 0.25


def test_non_ascii_text_raises_ratio(validate_lines):
    report = validate_lines([{"prompt": "パスワードを忘れました。", "completion": "設定から再設定できます。"}])
    assert report.stats.tokens_per_character == 1.0


def test_tokenizer_calibrates_ratio(validate_lines):
    # Given a tokenizer that counts words: 8 words in 40 characters is 0.2 tokens per character
    records = [{"prompt": "aaaa bbbb cccc dddd", "completion": "eeee ffff gggg hhhh"}]
    report = validate_lines(records, tokenizer=WordTokenizer())
    assert report.stats.tokens_per_character == round(8 / 38, 4)
    assert report.stats.token_estimate.startswith("calibrated with WordTokenizer")
    assert "tokens_estimated" not in report.warnings_by_kind


def test_pretraining_text_is_not_length_checked(validate_lines):
    report = validate_lines([{"text": "word " * 500}, {"text": "short text"}], "pretrain", max_length=64)
    assert report.valid
    assert "exceeds_max_length" not in report.warnings_by_kind


def test_long_chat_prompt_names_messages(validate_lines):
    # Given a chat whose turns before the assistant turn are about 100 tokens, and max_length 64
    chat = {"messages": [{"role": "user", "content": "word " * 80}, {"role": "assistant", "content": "ok."}]}
    report = validate_lines([chat], max_length=64)
    error = only_error(report)
    # Then the error names the messages, where the prompt of a chat is
    assert error.kind == "prompt_too_long"
    assert error.field == "messages"
