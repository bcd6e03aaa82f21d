"""The entry scripts' shared wrapper: offline switches, torchrun launch, failure reporting.

Nothing heavy is imported at module level: the Hugging Face offline variables must be set before
transformers or huggingface_hub are first imported.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .contract import ContainerPaths, parse_arguments, write_failure

logger = logging.getLogger("keiko_training")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

HUB_CHANNELS = {
    "model_name_or_path": "base",
    "teacher_model_name_or_path": "teacher",
    "reward_model_name_or_path": "reward",
}


def run(command: Callable[[ContainerPaths, dict[str, str]], object], argv: Sequence[str]) -> int:
    """Run an entry command; on any error write the failure file, log it and return 1."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    paths = ContainerPaths.from_environ()
    try:
        values = parse_arguments(argv)
        configure_network(paths, values)
        command(paths, values)
    except Exception as exc:  # noqa: BLE001 - every failure must reach SageMaker's FailureReason
        reason = f"{type(exc).__name__}: {exc}"
        logger.exception("job failed: %s", reason)
        write_failure(paths.output_dir, reason)
        return 1
    return 0


def configure_network(paths: ContainerPaths, values: dict[str, str]) -> None:
    """Set the Hugging Face offline variables unless a model must be downloaded from the hub."""
    from .contract import configure_offline

    hub_needed = any(
        values.get(argument) and paths.channels.get(channel) is None and not Path(values[argument]).exists()
        for argument, channel in HUB_CHANNELS.items()
    )
    if configure_offline(os.environ, hub_needed):
        logger.info("Hugging Face hub offline: every model comes from a channel or KEIKO_OFFLINE=1")


def processes_per_node(environ=os.environ) -> int:
    """Processes to launch on this host: KEIKO_NPROC_PER_NODE, else one per GPU SageMaker reports."""
    value = environ.get("KEIKO_NPROC_PER_NODE") or environ.get("SM_NUM_GPUS") or "1"
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"KEIKO_NPROC_PER_NODE or SM_NUM_GPUS is {value!r}: set a whole number") from None


def relaunch_with_torchrun(script: str, argv: Sequence[str], environ=os.environ) -> None:
    """Replace this process with torchrun when several processes should train and none is running yet.

    Multi-node layouts come from SageMaker's SM_HOSTS and SM_CURRENT_HOST; the first host is the
    rendezvous master.
    """
    nproc = processes_per_node(environ)
    hosts = json.loads(environ.get("SM_HOSTS", "[]")) or ["localhost"]
    if "LOCAL_RANK" in environ or (nproc == 1 and len(hosts) == 1):
        return
    current = environ.get("SM_CURRENT_HOST", hosts[0])
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        f"--nnodes={len(hosts)}",
        f"--node_rank={hosts.index(current)}",
        f"--master_addr={hosts[0] if len(hosts) > 1 else '127.0.0.1'}",
        f"--master_port={environ.get('KEIKO_MASTER_PORT', '29500')}",
        script,
        *argv,
    ]
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logger.info("launching %d processes per node on %d node(s) with torchrun", nproc, len(hosts))
    sys.stdout.flush()
    os.execv(sys.executable, command)
