"""The training loop: degraded pairs made on the fly, EMA weights, validation, checkpoints, resume."""

import copy
import json
import math
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..engine.precision import cpu_has_native_bf16, select_device
from ..errors import LumiereError
from ..models.loader import int8_metadata
from .calibrate import CALIBRATION_BATCHES, LEAST_AGREEMENT_DB, measure_calibration
from .config import TrainConfig
from .tasks import Task, make_task

CHECKPOINT = "checkpoint.pt"


def _lr_at(config: TrainConfig, step: int) -> float:
    """Cosine decay from `lr` to `min_lr`, after a short warm-up."""
    warmup = min(500, config.steps // 20)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def _save_curve(history: list[dict], path: Path, task: Task) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    vals = [(h["step"], h[task.metric]) for h in history if task.metric in h]
    fig, ax_loss = plt.subplots(figsize=(7, 4))
    if losses:
        ax_loss.plot(*zip(*losses), color="tab:blue", label="training loss")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss", color="tab:blue")
    ax_loss.set_yscale("log")
    if vals:
        ax_metric = ax_loss.twinx()
        ax_metric.plot(*zip(*vals), color="tab:red", marker="o", label=task.metric_label)
        ax_metric.set_ylabel(task.metric_label, color="tab:red")
    fig.tight_layout()
    partial = path.with_name(path.stem + ".partial.png")
    fig.savefig(partial, dpi=100)
    plt.close(fig)
    os.replace(partial, path)


def _save_checkpoint(path: Path, state: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _metadata(config: TrainConfig, step: int, seconds: float) -> dict[str, str]:
    return {"lumiere.task": config.task, "lumiere.scale": str(config.scale), "lumiere.recipe": config.recipe,
            "lumiere.steps": str(step), "lumiere.train_seconds": f"{seconds:.0f}"}


def _load_checkpoint(path: Path, device) -> dict:
    """A run's checkpoint, read as tensors and plain data only: a pickle that would run code is refused."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # pickle and torch raise many types; all mean the file is not ours to trust
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LumiereError(f"{path} is not a lumiere training checkpoint, or holds more than weights and plain "
                           f"data (lumiere never runs code from a checkpoint): {first_line[:160]}") from None
    if not isinstance(state, dict) or not {"ema", "step", "config"} <= state.keys():
        raise LumiereError(f"{path} is not a lumiere training checkpoint")
    return state


def export_checkpoint(run_dir: Path, output: Path) -> int:
    """Write the EMA weights of a run's last checkpoint (also of an unfinished run); returns its step."""
    checkpoint_path = Path(run_dir) / CHECKPOINT
    if not checkpoint_path.exists():
        raise LumiereError(f"no checkpoint in {run_dir}")
    state = _load_checkpoint(checkpoint_path, "cpu")
    config = TrainConfig(**state["config"])
    task = make_task(config)
    model = task.build_model()
    model.load_state_dict(state["ema"])
    _export(task, None, model, Path(output), _metadata(config, state["step"], state["elapsed"]))
    return state["step"]


def _export(task: Task, pairs: torch.utils.data.Dataset | None, model: torch.nn.Module, path: Path,
            metadata: dict[str, str]) -> None:
    """Write the weights with their training record and, for picture-to-picture networks that int8 serves
    well, their int8 calibration, measured on `pairs` (the run's own, else made here)."""
    if task.int8_calibrated:
        pairs = task.pairs() if pairs is None else pairs
        device = next(model.parameters()).device
        ranges, agreement = measure_calibration(model, task.training_inputs(pairs, CALIBRATION_BATCHES, device))
        if agreement >= LEAST_AGREEMENT_DB:
            metadata = {**metadata, **int8_metadata(ranges)}
    task.export(model, path, metadata)


def train(config: TrainConfig, resume: bool = False, show_progress: bool = True) -> dict:
    """Run (or continue) a training run; returns the final validation figures."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = select_device(config.device)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT
    if checkpoint_path.exists() and not resume:
        raise LumiereError(f"{checkpoint_path} exists; pass $resume to continue it or choose another $run_dir")
    if resume and not checkpoint_path.exists():
        raise LumiereError(f"$resume: no checkpoint in {run_dir}")

    torch.manual_seed(config.seed)
    task = make_task(config)
    task.choose_degrade_on(device)
    task.start(device)

    # channels-last lets cuDNN run bf16 convolutions on tensor cores without transposing every layer
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = task.build_model().to(device, memory_format=memory_format)
    ema = copy.deepcopy(model).eval()
    optimizer = torch.optim.Adam(task.parameter_groups(model), lr=config.lr, betas=(0.9, 0.99))
    # bf16 autocast on GPUs, and on CPUs that compute bf16 natively (about twice fp32 there); the optimizer
    # and the master weights stay fp32
    use_amp = device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())
    torch.backends.cudnn.benchmark = device.type == "cuda"  # crops have one size: find the fastest kernels once
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    step, history, elapsed = 0, [], 0.0

    if resume:
        state = _load_checkpoint(checkpoint_path, device)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        task.load_state_dict(state.get("task", {}))
        torch.set_rng_state(state["torch_rng"])
        step, history, elapsed = state["step"], state["history"], state["elapsed"]
    else:
        config.save(run_dir / "config.yaml")

    def checkpoint() -> None:
        _save_checkpoint(checkpoint_path, {
            "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(), "step": step, "history": history,
            "elapsed": elapsed, "config": config.__dict__, "task": task.state_dict(),
        })

    log = (run_dir / "log.jsonl").open("a")
    progress = tqdm(total=config.steps, initial=step, desc=f"train {config.task} x{config.scale}",
                    unit="step", disable=not show_progress, dynamic_ncols=True)
    started = time.perf_counter() - elapsed
    running_loss = 0.0
    pairs = task.pairs()  # the crops' pictures are read once, for training and for the calibration at the end
    batches = torch.utils.data.DataLoader(
        pairs, batch_size=None, sampler=range(step, config.steps), num_workers=config.workers,
        pin_memory=device.type == "cuda", prefetch_factor=4 if config.workers else None)
    model.train()
    for inputs, targets in batches:
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(config, step) * group.get("lr_share", 1.0)
        targets = targets.to(device, non_blocking=True)
        inputs = task.inputs_on(device, inputs, targets).contiguous(memory_format=memory_format)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = task.loss(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        task.after_step(optimizer.param_groups[0]["lr"], use_amp)
        with torch.no_grad():
            decay = min(config.ema_decay, (1 + step) / (10 + step))
            for ema_param, param in zip(ema.parameters(), model.parameters()):
                ema_param.lerp_(param, 1 - decay)
            for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):  # normalisation statistics
                ema_buffer.copy_(buffer)
        step += 1
        running_loss += loss.detach()  # read back every 50 steps, not every step: a GPU sync costs
        progress.update(1)
        if step % 50 == 0 or step == config.steps:
            elapsed = time.perf_counter() - started
            entry = {"step": step, "loss": float(running_loss) / 50, "lr": optimizer.param_groups[0]["lr"],
                     "elapsed": round(elapsed, 1), "samples_per_s": round(step * config.batch / elapsed, 2)}
            history.append(entry)
            log.write(json.dumps(entry) + "\n")
            log.flush()
            progress.set_postfix(loss=f"{entry['loss']:.4f}")
            running_loss = 0.0
        if step % config.val_every == 0 or step == config.steps:
            figures = task.validate(ema)
            if figures is not None:
                entry = {"step": step, **figures}
                history.append(entry)
                log.write(json.dumps(entry) + "\n")
                log.flush()
                progress.write(f"step {step}: validation " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
                _save_curve(history, run_dir / "curve.png", task)
        if step % config.checkpoint_every == 0 or step == config.steps:
            elapsed = time.perf_counter() - started
            checkpoint()
    progress.close()
    log.close()
    elapsed = time.perf_counter() - started
    _export(task, pairs, ema, Path(config.output), _metadata(config, step, elapsed))
    _save_curve(history, run_dir / "curve.png", task)
    final = next((h for h in reversed(history) if task.metric in h), {})
    return {"steps": step, "seconds": elapsed, "samples_per_s": step * config.batch / max(elapsed, 1e-9), **final}
