"""`train.py --method merge`: combine LoRA adapters with PEFT, optionally into the base weights.

Adapters arrive in the ADAPTERS channel, one per subfolder (or one model.tar.gz per subfolder, or
tarballs side by side), and combine in folder-name order with `weights`. PEFT's
`add_weighted_adapter` does the arithmetic. "linear" needs adapters of equal rank. "ties" and
"dare_*" keep `density` of each adapter's weights, and DARE drops the rest at random, seeded by
`seed`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from keiko.job_parameters import TrainingJobParameters

from .contract import ContainerPaths, ContractError
from .models import find_model_folder, load_causal_lm, load_tokenizer, resolve_source, write_manifest
from .runtime import print_metric

logger = logging.getLogger(__name__)
MERGED = "default"


def adapter_folders(channel: Path) -> list[Path]:
    """List every adapter in the channel, in name order, extracting tarballs."""
    entries = sorted(path for path in channel.iterdir() if path.is_dir() or path.name.endswith(".tar.gz"))
    folders = []
    for entry in entries:
        if entry.is_dir():
            folders.append(find_model_folder(entry))
        else:
            single = Path(tempfile.mkdtemp(prefix="keiko-adapter-"))
            shutil.copy(entry, single / entry.name)
            folders.append(find_model_folder(single))
    for folder in folders:
        if not (folder / "adapter_config.json").exists():
            raise ContractError(f"{folder} in the ADAPTERS channel is not a PEFT adapter (no adapter_config.json)")
    return folders


def merge(paths: ContainerPaths, params: TrainingJobParameters) -> dict[str, float]:
    import torch
    from peft import PeftModel

    hp = params.hyperparameters
    folders = adapter_folders(paths.require_channel("adapters", "the LoRA adapters to merge"))
    if len(folders) < 2 and not hp.merge_into_base:
        raise ContractError(
            f"the ADAPTERS channel contains {len(folders)} adapter(s), but merging needs at least 2: add adapters "
            "or set merge_into_base to fold one adapter into the base"
        )
    weights = hp.weights or [1.0] * len(folders)
    if len(weights) != len(folders):
        raise ContractError(f"weights has {len(weights)} values for {len(folders)} adapters: give one per adapter")

    base = resolve_source(paths.channel("base"), params.model_name_or_path, "base")
    names = [f"adapter-{index}" for index in range(len(folders))]
    model = PeftModel.from_pretrained(load_causal_lm(base), str(folders[0]), adapter_name=names[0])
    for name, folder in zip(names[1:], folders[1:], strict=True):
        model.load_adapter(str(folder), adapter_name=name)

    if len(folders) > 1:
        torch.manual_seed(hp.seed)
        model.add_weighted_adapter(
            names,
            weights,
            MERGED,
            combination_type=hp.combination_type,
            density=hp.density if hp.combination_type != "linear" else None,
            majority_sign_method=hp.majority_sign_method,
        )
    else:
        # One adapter folded into the base: scale it by its weight, as a one-adapter linear merge would.
        model.add_weighted_adapter(names, weights, MERGED, combination_type="linear")
    model.set_adapter(MERGED)
    for name in names:
        model.delete_adapter(name)

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    output_format = "full" if hp.merge_into_base else "adapter"
    if hp.merge_into_base:
        model.merge_and_unload().save_pretrained(str(paths.model_dir))
    else:
        model.save_pretrained(str(paths.model_dir))
    load_tokenizer(base).save_pretrained(str(paths.model_dir))
    metrics = {"merged_adapters": float(len(folders))}
    print_metric("merged_adapters", metrics["merged_adapters"])
    write_manifest(
        paths.model_dir,
        {
            "format": output_format,
            "method": "merge",
            "base_model": params.model_name_or_path,
            "peft_type": None if hp.merge_into_base else "LORA",
            "task": "causal-lm",
            "started_from": None,
            "notes": [f"{hp.combination_type} merge of {', '.join(folder.name for folder in folders)}"],
            "metrics": metrics,
        },
    )
    logger.info("merged %d adapters (%s) into %s", len(folders), hp.combination_type, paths.model_dir)
    return metrics
