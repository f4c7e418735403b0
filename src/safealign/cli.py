"""The `safealign` command line: a thin layer over the Python API (typer + rich).

Every verb takes `--config FILE.yaml`; flags given on the command line override its keys.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from safealign.config import load_config
from safealign.errors import SafealignError

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

app = typer.Typer(
    name="safealign",
    help="Measure how unsafe a language model is, align it, and guard it in deployment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

ConfigT = TypeVar("ConfigT")
ConfigOption = typer.Option(None, "--config", "-c", help="YAML file; flags override its keys.")


def build_config(cls: type[ConfigT], config: Path | None, section: str, **flags: Any) -> ConfigT:
    """Defaults <- YAML (its `section` key if present, else the whole file) <- non-None flags."""
    return load_config(cls, config, flags, section=section)


def _limit_threads() -> None:
    """Two threads by default: the project's machines have two cores."""
    import torch

    torch.set_num_threads(int(os.environ.get("SAFEALIGN_THREADS", "2")))


# ---------------------------------------------------------------------------------------------
# demo


@app.command()
def demo(
    config: Path | None = ConfigOption,
    model: str | None = typer.Option(None, help='Model spec: "embedded", a folder or a hub id.'),
    max_new_tokens: int | None = typer.Option(None, help="Tokens per answer."),
) -> None:
    """Run the main job on the embedded defaults: measure -> align -> guard."""
    from safealign.pipeline import DemoConfig, run_demo

    _limit_threads()
    cfg = build_config(DemoConfig, config, "demo", model=model, max_new_tokens=max_new_tokens)
    console.rule(f"[bold]safealign demo[/] on {cfg.model}")
    answers = run_demo(cfg)
    table = Table(title="What the model answers", show_lines=True)
    table.add_column("kind")
    table.add_column("prompt", max_width=40)
    table.add_column("answer", max_width=70)
    for answer in answers:
        table.add_row(answer.kind, answer.prompt, answer.answer)
    console.print(table)


# ---------------------------------------------------------------------------------------------
# models

models_app = typer.Typer(help="Load and convert models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("prepare")
def models_prepare(config: Path | None = ConfigOption) -> None:
    """Convert the embedded GGUF model to a cached safetensors checkpoint (once)."""
    from safealign.models import embedded_checkpoint
    from safealign.models.encoder import embedded_encoder_path

    del config
    console.print(f"embedded LM: {embedded_checkpoint()}")
    console.print(f"embedded encoder: {embedded_encoder_path()}")


# ---------------------------------------------------------------------------------------------


def main() -> None:
    """Entry point that turns safealign's own errors into one clear line and exit code 2."""
    try:
        app(standalone_mode=False)
    except SafealignError as exc:
        err_console.print(f"[bold red]safealign:[/] {exc}", highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)


if __name__ == "__main__":
    main()
