"""The console entry point: usage mistakes and safealign errors end in one message, not a trace."""

from __future__ import annotations

import sys

import pytest

from safealign.cli import main


def run_main(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["safealign", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code)


def test_unknown_option_prints_usage_and_exits_2(monkeypatch, capsys):
    assert run_main(monkeypatch, "train", "--no-such-flag") == 2
    err = capsys.readouterr().err
    assert "No such option: --no-such-flag" in err and "safealign train --help" in err
    assert "Traceback" not in err


def test_safealign_error_is_one_line_with_exit_2(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "missing.yaml"
    assert run_main(monkeypatch, "train", "--config", str(missing)) == 2
    err = capsys.readouterr().err
    assert "safealign:" in err and "missing.yaml" in err and "Traceback" not in err
