"""Finding, loading and describing models: base models, starting adapters, teachers, outputs."""

from __future__ import annotations

import json
import logging
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contract import ContractError

logger = logging.getLogger(__name__)

MANIFEST = "keiko-model.json"
MODEL_FILES = ("config.json", "adapter_config.json")


@dataclass(frozen=True)
class ModelSource:
    """A model to load: a local folder, or a hub id when `path` is None."""

    name: str
    path: Path | None

    @property
    def location(self) -> str:
        return str(self.path) if self.path is not None else self.name

    @property
    def manifest(self) -> dict[str, Any] | None:
        return read_manifest(self.path) if self.path is not None else None

    @property
    def is_adapter(self) -> bool:
        return self.path is not None and (self.path / "adapter_config.json").exists()


def find_model_folder(channel: Path, work_dir: Path | None = None) -> Path:
    """Return the model folder inside a channel, extracting a model.tar.gz (or *.tar.gz) first.

    Accepts a folder with config.json or adapter_config.json, a folder with one such subfolder,
    or a folder with one tarball of either.
    """
    for candidate in (channel, *sorted(path for path in channel.iterdir() if path.is_dir())):
        if any((candidate / name).exists() for name in MODEL_FILES):
            return candidate
    tarballs = sorted(channel.glob("*.tar.gz"))
    if len(tarballs) == 1:
        target = Path(tempfile.mkdtemp(prefix=f"keiko-{channel.name}-", dir=work_dir))
        with tarfile.open(tarballs[0]) as archive:
            # The "data" filter rejects absolute paths, links out of the target and device files.
            archive.extractall(target, filter="data")
        logger.info("extracted %s into %s", tarballs[0].name, target)
        return find_model_folder(target)
    raise ContractError(
        f"no model in {channel}: expected config.json or adapter_config.json, one subfolder with them, "
        f"or one model.tar.gz (found {sorted(path.name for path in channel.iterdir())[:10]})"
    )


def resolve_source(channel: Path | None, name_or_path: str | None, role: str) -> ModelSource:
    """Pick a model from its channel when the job has one, else from a hub id or local path."""
    if channel is not None:
        return ModelSource(name=name_or_path or f"channel:{role}", path=find_model_folder(channel))
    if name_or_path:
        local = Path(name_or_path)
        if local.is_dir():
            return ModelSource(name=name_or_path, path=find_model_folder(local))
        if name_or_path.startswith("s3://"):
            raise ContractError(
                f"{role} model {name_or_path} is an S3 URI: deliver it as the {role.upper()} input channel"
            )
        return ModelSource(name=name_or_path, path=None)
    raise ContractError(
        f"no {role} model: give the {role.upper()} input channel or the model_name_or_path hyperparameter"
    )


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path}: invalid JSON ({exc.msg}); the model output is damaged") from exc


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write keiko-model.json, the manifest a later job reads to load this model."""
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def preferred_dtype():
    """bfloat16 where a CUDA GPU supports it, else float32 (CPUs train tiny models in float32)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def from_pretrained(loader, source: ModelSource, **kwargs):
    """Call `loader.from_pretrained` on a source, turning "not found" into an error that names it."""
    try:
        return loader.from_pretrained(source.location, **kwargs)
    except OSError as exc:
        origin = "" if source.location == source.name else f" from {source.location}"
        advice = "give the model as an input channel or place it in the Hugging Face cache (HF_HOME)."
        advice = f"The hub is offline, so {advice}" if os.environ.get("HF_HUB_OFFLINE") == "1" else advice.capitalize()
        raise ContractError(f"cannot load model {source.name!r}{origin}: {str(exc).splitlines()[0]} {advice}") from exc


def load_tokenizer(source: ModelSource):
    from transformers import AutoTokenizer

    tokenizer = from_pretrained(AutoTokenizer, source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(source: ModelSource, quantization_config=None):
    from transformers import AutoModelForCausalLM

    return from_pretrained(
        AutoModelForCausalLM, source, dtype=preferred_dtype(), quantization_config=quantization_config
    )


def load_with_adapter(base: ModelSource, adapter: Path, trainable: bool):
    """Load base weights and put a saved PEFT adapter on top (trainable to continue training it)."""
    from peft import PeftModel

    model = load_causal_lm(base)
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)


def load_candidate(base: ModelSource, candidate: Path | None):
    """Load what a keiko job wrote: base + adapter for PEFT outputs, the folder itself for full weights.

    With no candidate, loads the base model alone.
    """
    if candidate is None:
        return load_causal_lm(base)
    if (candidate / "adapter_config.json").exists():
        return load_with_adapter(base, candidate, trainable=False)
    return load_causal_lm(ModelSource(name=str(candidate), path=candidate))
