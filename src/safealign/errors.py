"""Errors that speak to the user: where the problem is, and what to do about it."""

from __future__ import annotations

from pathlib import Path


class SafealignError(Exception):
    """Base class for every error safealign raises on purpose (the CLI prints these cleanly)."""


class DataError(SafealignError):
    """A problem in an input file, located by file, line and field, with a suggested fix."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        text = (": ".join([" ".join(where)]) + ": ") if where else ""
        if self.field:
            text += f'field "{self.field}": '
        text += self.reason
        if self.fix:
            text += f"\n{self.fix}"
        return text


class ModelLoadError(SafealignError):
    """A model spec that cannot be resolved or loaded, with what to try instead."""


class ConfigError(SafealignError):
    """A YAML config or override that does not fit the config class it is loaded into."""


class RunInterrupted(SafealignError):
    """Ctrl-C on a long verb: where it stopped, what is saved, and the command that resumes.

    Long loops (training, generation, synthesis, `run` stages) catch KeyboardInterrupt, save what
    they can, and raise this; the CLI prints its one line and exits with status 130, so a script
    that chains verbs stops instead of carrying on as if the verb had finished.
    """

    def __init__(self, *, stopped_at: str, saved: str, resume: str) -> None:
        self.stopped_at = stopped_at
        self.saved = saved
        self.resume = resume
        super().__init__(f"interrupted at {stopped_at}; saved: {saved}; resume with: {resume}")
