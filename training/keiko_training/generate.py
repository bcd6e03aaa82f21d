"""`generate.py`: sample two responses per prompt for the preference loop; write responses.jsonl.

Reads PROMPTS (JSONL with `prompt` or `messages`), BASE (or model_name_or_path) and optionally MODEL
(the adapter or full model to sample from). Output lines are `{"prompt": ..., "responses": [a, b]}`,
with the prompt exactly as the input gave it. Sampling is seeded per prompt (seed + line index), so a
rerun writes the same file.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Literal

from keiko.recipe import format_validation_error
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .contract import ContainerPaths, ContractError
from .data import read_records
from .models import find_model_folder, load_candidate, load_tokenizer, resolve_source
from .records import prompt_messages, render_prompt
from .runtime import print_metric

logger = logging.getLogger(__name__)


class GenerationParameters(BaseModel):
    # Other keys (a training job's hyperparameters passed along) are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)

    model_name_or_path: str | None = None
    num_prompts: Annotated[int, Field(ge=1, description="Prompts used, from the start of the file.")] = 16
    responses_per_prompt: Annotated[int, Field(ge=2, le=16)] = 2
    max_new_tokens: Annotated[int, Field(ge=1, le=8192)] = 128
    temperature: Annotated[float, Field(gt=0)] = 0.8
    top_p: Annotated[float, Field(gt=0, le=1)] = 0.95
    seed: int = 42
    profile: Literal["default", "local"] = "default"


def generate(paths: ContainerPaths, values: dict[str, str]) -> list[dict]:
    import torch

    try:
        params = GenerationParameters.model_validate(values)
    except ValidationError as exc:
        raise ContractError(f"invalid generation hyperparameters:\n{format_validation_error(exc)}") from exc
    records = read_records(paths.require_channel("prompts", "the prompts to answer"))[: params.num_prompts]
    base = resolve_source(paths.channel("base"), params.model_name_or_path, "base")
    candidate = paths.channel("model")
    tokenizer = load_tokenizer(base)
    model = load_candidate(base, find_model_folder(candidate) if candidate else None).eval()

    lines = []
    for index, record in enumerate(records):
        prompt = prompt_messages(record)
        if not prompt:
            raise ContractError(f"prompts record {index + 1}: needs a non-empty 'prompt' or 'messages'")
        torch.manual_seed(params.seed + index)
        lines.append({"prompt": prompt, "responses": sample(model, tokenizer, prompt, params)})

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    with (paths.model_dir / "responses.jsonl").open("w", encoding="utf-8") as output:
        for line in lines:
            output.write(json.dumps(line, ensure_ascii=False) + "\n")
    print_metric("responses_written", float(len(lines)))
    logger.info("wrote %d prompts with %d responses each", len(lines), params.responses_per_prompt)
    return lines


def sample(model, tokenizer, prompt, params: GenerationParameters) -> list[str]:
    import torch

    ids = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        output = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=params.responses_per_prompt,
            pad_token_id=tokenizer.pad_token_id,
        )
    return [tokenizer.decode(row[ids.shape[1] :], skip_special_tokens=True) for row in output]
