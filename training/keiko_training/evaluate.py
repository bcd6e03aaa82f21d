"""`evaluate.py`: score a candidate model against its base on held-out records; write metrics.json.

Reads BASE (or model_name_or_path), MODEL (the candidate, a keiko job's output) and VALIDATION
(held-out JSONL). REFERENCE, when given, is the reference policy for preference accuracy in place of
the base.
See docs/training-methods.md for the metrics.json schema.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Annotated, Any, Literal

from keiko.recipe import format_validation_error
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .contract import ContainerPaths, ContractError
from .data import read_records
from .models import ModelSource, find_model_folder, load_candidate, load_tokenizer, preferred_dtype, resolve_source
from .records import prompt_messages, render_completion, render_prompt, scored_pair
from .rewards import import_function, normalize
from .runtime import print_metric

logger = logging.getLogger(__name__)
SCHEMA_VERSION = 1


class EvaluationParameters(BaseModel):
    # Other keys (a training job's hyperparameters passed along) are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)

    model_name_or_path: str | None = None
    max_length: Annotated[int, Field(ge=16)] = 1024
    max_records: Annotated[int, Field(ge=1, description="Held-out records scored, from the start.")] = 512
    beta: Annotated[float, Field(gt=0, description="Scale of the DPO implicit reward.")] = 0.1
    max_new_tokens: Annotated[int, Field(ge=1, description="Tokens generated for exact match and judge.")] = 64
    judge: Annotated[str | None, Field(description='External judge as "package.module:function"; see the docs.')] = None
    seed: int = 42
    profile: Literal["default", "local"] = "default"


def evaluate(paths: ContainerPaths, values: dict[str, str]) -> dict[str, Any]:
    import torch
    from transformers import set_seed

    try:
        params = EvaluationParameters.model_validate(values)
    except ValidationError as exc:
        raise ContractError(f"invalid evaluation hyperparameters:\n{format_validation_error(exc)}") from exc
    set_seed(params.seed)
    records = read_records(paths.require_channel("validation", "held-out records"))[: params.max_records]
    base = resolve_source(paths.channel("base"), params.model_name_or_path, "base")
    candidate_channel = paths.require_channel("model", "the candidate model to evaluate")
    candidate = ModelSource("channel:model", find_model_folder(candidate_channel))
    tokenizer = load_tokenizer(base)
    manifest = candidate.manifest or {}

    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "method": manifest.get("method"),
        "records": len(records),
        "base": {},
        "candidate": {},
        "loss_improvement": None,
    }
    with torch.no_grad():
        if manifest.get("task") == "sequence-classification":
            report["candidate"]["reward_accuracy"] = reward_accuracy(base, candidate, tokenizer, records, params)
        else:
            base_model = load_candidate(base, None).eval()
            candidate_model = load_candidate(base, candidate.path).eval()
            report["base"] = language_metrics(base_model, tokenizer, records, params)
            report["candidate"] = language_metrics(candidate_model, tokenizer, records, params)
            reference = paths.channel("reference")
            reference_model = load_candidate(base, find_model_folder(reference)).eval() if reference else base_model
            report["candidate"].update(preference_metrics(candidate_model, reference_model, tokenizer, records, params))
            if params.judge:
                report["candidate"]["judge_score"] = judge_score(candidate_model, tokenizer, records, params)
    base_loss, candidate_loss = report["base"].get("eval_loss"), report["candidate"].get("eval_loss")
    if base_loss and candidate_loss is not None:
        report["loss_improvement"] = (base_loss - candidate_loss) / base_loss

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    (paths.model_dir / "metrics.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print_report(report)
    return report


def print_report(report: dict[str, Any]) -> None:
    for side in ("base", "candidate"):
        for name, value in report[side].items():
            if value is None:
                continue
            print_metric(_metric_name(side, name), value)
    if report["loss_improvement"] is not None:
        print_metric("loss_improvement", report["loss_improvement"])


def _metric_name(side: str, name: str) -> str:
    """base_loss, candidate_perplexity, ...; candidate-only scores keep their own name."""
    if name in ("eval_loss", "perplexity"):
        return f"{side}_{name.removeprefix('eval_')}"
    return name if side == "candidate" else f"base_{name}"


def completion_log_probs(model, tokenizer, prompt: Any, completion: Any, max_length: int) -> tuple[float, int]:
    """Sum of log-probabilities of the completion tokens given the prompt, and their count."""
    import torch

    prompt_ids = tokenizer(render_prompt(tokenizer, prompt) if prompt else "", add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(render_completion(tokenizer, prompt, completion), add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + completion_ids)[-max_length:]
    count = min(len(completion_ids), len(input_ids) - 1)
    if count <= 0:
        return 0.0, 0
    labels = [-100] * (len(input_ids) - count) + input_ids[-count:]
    output = model(input_ids=torch.tensor([input_ids]), labels=torch.tensor([labels]))
    # The model returns the mean NLL over the labelled tokens after its own shift.
    return -float(output.loss) * count, count


def language_metrics(model, tokenizer, records: list[dict], params: EvaluationParameters) -> dict[str, Any]:
    """Held-out loss and perplexity on each record's completion, and exact match on `answer`."""
    total, tokens = 0.0, 0
    for record in records:
        pair = scored_pair(_with_prompt(record))
        if pair is None:
            continue
        log_prob, count = completion_log_probs(model, tokenizer, *pair, params.max_length)
        total, tokens = total - log_prob, tokens + count
    loss = total / tokens if tokens else None
    answered = [record for record in records if record.get("answer") is not None]
    return {
        "eval_loss": loss,
        "perplexity": _perplexity(loss),
        "exact_match": exact_match(model, tokenizer, answered, params) if answered else None,
    }


def preference_metrics(model, reference, tokenizer, records: list[dict], params: EvaluationParameters) -> dict:
    """DPO implicit-reward accuracy: how often beta * log(pi/pi_ref) ranks chosen above rejected."""
    pairs = [_with_prompt(record) for record in records if record.get("chosen") is not None]
    if not pairs:
        return {}
    wins, margins = 0, []
    for record in pairs:
        rewards = []
        for answer in (record["chosen"], record["rejected"]):
            policy, _ = completion_log_probs(model, tokenizer, record["prompt"], answer, params.max_length)
            ref, _ = completion_log_probs(reference, tokenizer, record["prompt"], answer, params.max_length)
            rewards.append(params.beta * (policy - ref))
        wins += rewards[0] > rewards[1]
        margins.append(rewards[0] - rewards[1])
    return {"preference_accuracy": wins / len(pairs), "preference_margin": sum(margins) / len(margins)}


def reward_accuracy(base: ModelSource, candidate: ModelSource, tokenizer, records, params) -> float | None:
    """Measure how often the reward model scores chosen above rejected."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    pairs = [_with_prompt(record) for record in records if record.get("chosen") is not None]
    if not pairs:
        return None
    if candidate.is_adapter:
        model = AutoModelForSequenceClassification.from_pretrained(base.location, num_labels=1, dtype=preferred_dtype())
        model = PeftModel.from_pretrained(model, str(candidate.path))
    else:
        model = AutoModelForSequenceClassification.from_pretrained(candidate.location, dtype=preferred_dtype())
    model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    wins = 0
    for record in pairs:
        scores = []
        for answer in (record["chosen"], record["rejected"]):
            text = render_prompt(tokenizer, record["prompt"]) + render_completion(tokenizer, record["prompt"], answer)
            ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=params.max_length)
            scores.append(float(model(input_ids=torch.tensor([ids["input_ids"]])).logits[0, 0]))
        wins += scores[0] > scores[1]
    return wins / len(pairs)


def generate_greedy(model, tokenizer, prompt: Any, max_new_tokens: int) -> str:
    import torch

    ids = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False, return_tensors="pt")["input_ids"]
    output = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)


def exact_match(model, tokenizer, records: list[dict], params: EvaluationParameters) -> float:
    hits = 0
    for record in records:
        response = generate_greedy(model, tokenizer, prompt_messages(record), params.max_new_tokens)
        hits += normalize(response) == normalize(str(record["answer"]))
    return hits / len(records)


def judge_score(model, tokenizer, records: list[dict], params: EvaluationParameters) -> float | None:
    """Mean score from the external judge: `function(items) -> list[float]`, items {"prompt", "response"}."""
    judge = import_function(params.judge, "judge")
    items = [
        {
            "prompt": prompt_messages(record),
            "response": generate_greedy(model, tokenizer, prompt_messages(record), params.max_new_tokens),
        }
        for record in records
    ]
    scores = [float(score) for score in judge(items)]
    if len(scores) != len(items):
        raise ContractError(f"judge {params.judge} returned {len(scores)} scores for {len(items)} responses")
    return sum(scores) / len(scores) if scores else None


def _perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    try:
        return math.exp(loss)
    except OverflowError:
        return None


def _with_prompt(record: dict[str, Any]) -> dict[str, Any]:
    """Split an implicit prompt out of chosen/rejected conversations, as TRL does for training."""
    if record.get("chosen") is not None and "prompt" not in record:
        from trl import maybe_extract_prompt

        return {**record, **maybe_extract_prompt(record)}
    return record
