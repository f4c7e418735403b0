"""Ctrl-C in a long loop: the first one asks the loop to stop at its next safe point, a second
one stops at once.

A loop that saves its state (a training step and its checkpoint, a batch of generations and its
journal line) must not be cut in the middle of saving, or the saved state would be torn. So
while `stop_requests()` is active, SIGINT only sets a flag that the loop reads between two units
of work; it then saves what it has and raises `safealign.errors.RunInterrupted`. Pressing Ctrl-C
again raises KeyboardInterrupt where the program is, for a step that takes too long to wait for;
the loop then reports the last state it had saved before.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class StopRequest:
    """Whether Ctrl-C was pressed while the loop ran (read it between units of work)."""

    requested: bool = False


class StoppedAt(KeyboardInterrupt):
    """A loop stopped at a safe point after Ctrl-C and says where, and what it saved.

    A KeyboardInterrupt, so code that only knows Ctrl-C still sees one; the caller that knows
    the command line turns it into `RunInterrupted` with the resume command.
    """

    def __init__(self, stopped_at: str, saved: str) -> None:
        super().__init__(f"stopped at {stopped_at}; saved: {saved}")
        self.stopped_at = stopped_at
        self.saved = saved


@contextlib.contextmanager
def stop_requests(what: str = "step") -> Iterator[StopRequest]:
    """Defer SIGINT to the loop's safe points while the block runs; restore the handler after.

    `what` names the loop's unit of work in the notice printed on the first Ctrl-C. Outside the
    main thread signals cannot be caught, and the request simply never arrives.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_sigint(signum, frame) -> None:
        if request.requested:  # the second Ctrl-C: stop now, wherever the program is
            raise KeyboardInterrupt
        request.requested = True
        print(
            f"safealign: stopping after the current {what} (press Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


def resume_command(verb: str, config_file: str | Path, *flags: str) -> str:
    """`safealign VERB --config FILE [FLAGS] --resume`, quoted for a POSIX shell.

    FILE is the config the run saved beside its outputs (every setting as it ran, flags
    included), so the command repeats the run exactly, from the folder it was started in.
    """
    words = ["safealign", *verb.split(), "--config", str(config_file), *flags, "--resume"]
    return " ".join(shlex.quote(word) for word in words)
