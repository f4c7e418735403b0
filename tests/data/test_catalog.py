"""The dataset catalogue: one resolver of the shared data folder, split rules that are honoured
or refused, held-out sets kept out of training, and file problems as DataErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from safealign.data.catalog import (
    CATALOG,
    catalog_rows,
    get_dataset,
    load_dataset,
    load_rows,
    require_trainable,
    shared_data_dir,
)
from safealign.data.splits import split_of
from safealign.errors import ConfigError, DataError


def test_the_resolver_prefers_the_argument_then_the_environment(tmp_path, monkeypatch) -> None:
    given, env = tmp_path / "given", tmp_path / "env"
    given.mkdir()
    env.mkdir()
    monkeypatch.setenv("SAFEALIGN_SHARED_DATA", str(env))
    assert shared_data_dir(given) == given.resolve()
    assert shared_data_dir() == env.resolve()
    monkeypatch.setenv("SAFEALIGN_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as caught:
        shared_data_dir()
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'nowhere'}: shared data folder not found.")
    assert "set SAFEALIGN_SHARED_DATA" in message and "--data-dir" in message


def test_a_missing_file_is_a_data_error_not_file_not_found(tmp_path) -> None:
    """The old guard readers opened four files with a bare read_text()."""
    (tmp_path / "refusal_direction").mkdir()
    for name in CATALOG:
        with pytest.raises(DataError) as caught:
            load_dataset(name, "all" if CATALOG[name].held_out else "train", tmp_path)
        assert "not found" in str(caught.value), name
        assert "SAFEALIGN_SHARED_DATA" in str(caught.value), name


def test_a_latin1_file_in_the_shared_folder_names_its_line(tmp_path) -> None:
    path = tmp_path / "olid"
    path.mkdir()
    (path / "testset-levela.tsv").write_bytes(b"id\ttweet\n1\tcaf\xe9\n")
    with pytest.raises(DataError) as caught:
        load_dataset("olid", "test", tmp_path)
    assert str(caught.value).startswith(  # "id\ttweet\n" is 9 bytes, "1\tcaf" 5 more
        f"{path / 'testset-levela.tsv'} line 2: is not UTF-8 text: byte 0xe9 at byte offset 14"
    )


def test_unknown_names_and_splits_list_what_exists() -> None:
    with pytest.raises(DataError, match='unknown dataset "xtest"'):
        get_dataset("xtest")
    with pytest.raises(DataError, match='unknown split "val"'):
        load_dataset("benign", "val")
    with pytest.raises(ConfigError, match='unknown dataset "xtest". Known: harmful-instructions'):
        require_trainable(["xtest"])


def test_every_held_out_set_refuses_a_training_mix_and_every_other_is_accepted() -> None:
    for name, dataset in CATALOG.items():
        if dataset.held_out:
            with pytest.raises(ConfigError, match=f'"{name}" is held out for evaluation'):
                require_trainable(["benign", name], permissive_only=False)
        else:
            assert require_trainable([name], permissive_only=False) == [dataset]
    assert {"xstest-prompts", "xstest-responses", "advbench", "c2eval"} <= {
        n for n, d in CATALOG.items() if d.held_out
    }


@pytest.mark.shared_data
@pytest.mark.parametrize("name", [n for n, d in CATALOG.items() if d.held_out])
def test_held_out_sets_have_only_a_test_split(name, shared_data_dir) -> None:
    """Five guard readers used to ignore `split` and return every row for train and dev."""
    for split in ("train", "dev"):
        with pytest.raises(DataError, match=f'"{name}" is held out for evaluation: it has no'):
            load_dataset(name, split, shared_data_dir)
    test = load_dataset(name, "test", shared_data_dir, limit=20)
    assert test and [s.id for s in test] == [
        s.id for s in load_dataset(name, "all", shared_data_dir, limit=20)
    ]


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["self-harm", "image-prompts", "benign"])
def test_training_sets_split_by_the_hash_of_each_prompt(name, shared_data_dir) -> None:
    parts = {s: load_dataset(name, s, shared_data_dir) for s in ("train", "dev", "test")}
    ids = {s: {x.id for x in samples} for s, samples in parts.items()}
    assert not (ids["train"] & ids["dev"]) and not (ids["train"] & ids["test"])
    assert not (ids["dev"] & ids["test"])
    assert all(parts.values())  # (a per-source cap applies to each split, so no 70/10/20 here)
    for sample in parts["test"][:50]:
        if sample.source == "self_instruct":
            continue  # keyed by prompt and its input
        assert split_of(f"{sample.source}:{sample.prompt}") == "test"


@pytest.mark.shared_data
def test_eval_rows_are_the_format_rows_of_the_same_file(shared_data_dir) -> None:
    rows = load_rows("xstest-prompts", shared_data_dir)
    assert len(rows) == 450 and sum(s.prompt_harmful for s in rows) == 200
    assert {s.prompt for s in rows} == {
        s.prompt for s in load_dataset("xstest-prompts", "test", shared_data_dir)
    }
    assert len(load_rows("advbench", shared_data_dir, limit=7)) == 7
    with pytest.raises(DataError, match='"benign" combines several files'):
        load_rows("benign", shared_data_dir)


@pytest.mark.shared_data
def test_the_listing_counts_every_set(shared_data_dir) -> None:
    rows = {r.name: r for r in catalog_rows(shared_data_dir)}
    assert list(rows) == list(CATALOG)
    assert rows["xstest-prompts"].rows == 450 and rows["xstest-prompts"].use == "evaluation"
    assert rows["do-not-answer"].rows == 939 and rows["do-not-answer"].use == "training"
    assert rows["c2eval"].rows == 500 and rows["harmbench"].rows == 80
    assert all(r.rows and r.problem is None for r in rows.values())


def test_the_listing_names_a_missing_set(tmp_path) -> None:
    Path(tmp_path / "xstest").mkdir()
    rows = {r.name: r for r in catalog_rows(tmp_path)}
    assert rows["xstest-prompts"].rows is None
    assert rows["xstest-prompts"].problem.endswith("xstest_prompts.csv: file not found.")
