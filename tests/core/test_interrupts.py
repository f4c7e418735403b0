"""Ctrl-C handling and the journal that lets interrupted generation resume, without models."""

from __future__ import annotations

import os
import shlex
import signal

import pytest

from safealign.errors import ConfigError
from safealign.interrupts import resume_command, stop_requests
from safealign.io import Journal


def test_first_ctrl_c_is_a_request_the_second_stops_at_once(capsys):
    before = signal.getsignal(signal.SIGINT)
    with stop_requests("step") as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested  # the loop goes on until it reads the flag
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    assert "stopping after the current step" in capsys.readouterr().err


def test_journal_keeps_whole_lines_and_refuses_other_settings(tmp_path):
    path = tmp_path / "answers.journal.jsonl"
    journal = Journal(path, "settings-a", resume=False)
    journal.add({0: ["a"], 3: ["d"]})
    journal.add({1: ["b"]})
    with path.open("a") as handle:  # a kill in the middle of the next append
        handle.write('{"done": [[2, ["c')
    assert Journal.count(path) == 3

    reopened = Journal(path, "settings-a", resume=True)
    assert reopened.done == {0: ["a"], 3: ["d"], 1: ["b"]}
    reopened.add({2: ["c"]})  # appended after a clean last line, not onto the torn one
    assert Journal(path, "settings-a", resume=True).done[2] == ["c"]

    with pytest.raises(ConfigError, match="other settings .* Run without --resume"):
        Journal(path, "settings-b", resume=True)
    assert Journal(path, "settings-b", resume=False).done == {}  # no resume: a new journal
    assert Journal.count(path) == 0


def test_resume_command_is_quoted_for_the_shell(tmp_path):
    config = tmp_path / "my run" / "train_config.json"
    command = resume_command("guard train", config, "--kind", "encoder")
    assert shlex.split(command) == [
        "safealign",
        "guard",
        "train",
        "--config",
        str(config),
        "--kind",
        "encoder",
        "--resume",
    ]
