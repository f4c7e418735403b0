"""The service's pure parts: policy, rate limits, keys, OpenAI mapping, the window guard, and
batching, each on inputs whose answer is worked out by hand."""

from __future__ import annotations

import asyncio

import pytest

from safealign.errors import ConfigError
from safealign.guard import LabelScore, Verdict
from safealign.serve.auth import KeyStore, RateLimiter, hash_key, key_id
from safealign.serve.backends import StreamEnd
from safealign.serve.batching import GuardBatcher
from safealign.serve.config import PolicyConfig, PolicyRule, ServeConfig, load_serve_config
from safealign.serve.moderation import moderation_result
from safealign.serve.policy import Decision, decide
from safealign.serve.streaming import Finished, Released, guard_stream


def verdict(
    harmful: bool,
    severity: int,
    categories: dict[str, float],
    flagged: list[str],
    response: bool = False,
) -> Verdict:
    score = LabelScore(0.9 if harmful else 0.1, harmful)
    return Verdict(
        prompt_harmful=score if not response else LabelScore(0.2, False),
        response_harmful=score if response else None,
        categories=categories,
        flagged_categories=flagged,
        severity=severity,
        taxonomy="coarse",
    )


# -- policy -------------------------------------------------------------------------------------


def test_policy_first_matching_rule_by_category_code_and_severity():
    policy = PolicyConfig(
        rules=[
            PolicyRule(action="annotate", category="self_harm", min_severity=1),
            PolicyRule(action="course_correct", stage="output", min_severity=2),
            PolicyRule(action="refuse", min_severity=3),
        ]
    )
    self_harm = verdict(True, 3, {"Self-Harm": 0.9}, ["Self-Harm"])
    assert decide(self_harm, "input", policy).action == "annotate"  # matched by taxonomy code
    violent_out = verdict(True, 2, {"Violence": 0.8}, ["Violence"], response=True)
    assert decide(violent_out, "output", policy).action == "course_correct"
    violent_in = verdict(True, 2, {"Violence": 0.8}, ["Violence"])
    assert decide(violent_in, "input", policy).action == "allow"  # no rule covers input sev 2
    severe_in = verdict(True, 3, {"Violence": 0.8}, ["Violence"])
    assert decide(severe_in, "input", policy).action == "refuse"
    safe = verdict(False, 0, {"Violence": 0.1}, [])
    assert decide(safe, "input", policy) == Decision("allow", "input", False, 0, [], False)


def test_policy_course_correct_on_input_becomes_refuse_and_review_band_annotates():
    policy = PolicyConfig(rules=[PolicyRule(action="course_correct")])
    assert decide(verdict(True, 1, {}, []), "input", policy).action == "refuse"
    unsure = verdict(False, 0, {}, [])
    unsure.needs_review = True  # what the guard-v2 verdicts carry
    assert decide(unsure, "input", policy).action == "annotate"


def test_policy_config_from_yaml_with_rules(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text(
        "serve:\n  port: 9001\n  policy:\n    version: v7\n    rules:\n"
        "      - {action: annotate, category: Violence, min_severity: 2}\n"
    )
    cfg = load_serve_config(path)
    assert cfg.port == 9001 and cfg.policy.version == "v7"
    assert cfg.policy.rules == [PolicyRule(action="annotate", category="Violence", min_severity=2)]
    path.write_text("serve:\n  policy:\n    rules:\n      - {action: block}\n")
    with pytest.raises(ConfigError, match='action "block" is not one of allow, annotate'):
        load_serve_config(path)
    with pytest.raises(ConfigError, match='fail_mode must be "closed" or "open"'):
        ServeConfig(fail_mode="maybe")


# -- keys and rate limits -----------------------------------------------------------------------


def test_rate_limiter_token_bucket_by_hand():
    limiter = RateLimiter(per_minute=60, burst=2)  # 1 token per second, 2 at most
    assert limiter.check("k", now=0.0) == 0.0
    assert limiter.check("k", now=0.0) == 0.0
    assert limiter.check("k", now=0.0) == pytest.approx(1.0)  # empty: wait one second
    assert limiter.check("k", now=0.5) == pytest.approx(0.5)  # half a token refilled
    assert limiter.check("k", now=1.0) == 0.0
    assert limiter.check("other", now=1.0) == 0.0  # buckets are per key


def test_keystore_hashes_env_and_revokes_from_file(tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"# team keys\nsk-file-1\nsha256:{hash_key('sk-file-2')}\n")
    store = KeyStore(["sk-config"], str(keys_file), env="sk-env-a, sk-env-b")
    assert not store.open
    assert store.identify("sk-config") == key_id(hash_key("sk-config"))
    assert store.identify("sk-env-b") is not None
    assert store.identify("sk-file-2") == key_id(hash_key("sk-file-2"))
    assert store.identify("sk-wrong") is None and store.identify(None) is None
    assert "sk-config" not in repr(vars(store))  # only hashes are kept
    keys_file.write_text("sk-file-2\n")  # revoke sk-file-1
    assert store.identify("sk-file-1") is None
    assert store.identify("sk-file-2") is not None
    assert KeyStore([], None, env="").identify(None) == "open"


# -- OpenAI moderation mapping -------------------------------------------------------------------


def test_moderation_result_maps_coarse_categories_onto_openai_keys():
    v = verdict(
        True,
        2,
        {"Hate and Harassment": 0.8, "Violence": 0.6, "Crime": 0.3, "Cyber": 0.7, "Weapons": 0.2},
        ["Hate and Harassment", "Cyber"],
    )
    result = moderation_result(v)
    assert result.flagged and result.severity == 2
    assert result.categories["hate"] and result.categories["harassment"]
    assert result.category_scores["hate"] == pytest.approx(0.8)
    # hate/threatening needs hate AND violence: the lower score, flagged only if both are.
    assert result.category_scores["hate/threatening"] == pytest.approx(0.6)
    assert not result.categories["hate/threatening"]
    # illicit is any of crime, cyber, regulated substances: the highest score.
    assert result.category_scores["illicit"] == pytest.approx(0.7) and result.categories["illicit"]
    assert result.taxonomy_codes == ["hate_harassment", "cyber"]
    assert result.taxonomy_scores["weapons"] == pytest.approx(0.2)
    assert result.needs_review is False  # the verdict's own band: outside it here
    v.needs_review = True
    assert moderation_result(v).needs_review is True


# -- the streaming window guard ------------------------------------------------------------------


async def _collect(tokens, window, bad="BAD", policy=None):
    seen: list[str] = []

    async def deltas():
        for token in tokens:
            yield token
        yield StreamEnd("stop", {"completion_tokens": len(tokens)})

    async def check(text: str) -> Decision:
        seen.append(text)
        flagged = bad in text
        return Decision("course_correct" if flagged else "allow", "output", flagged, int(flagged))

    events = [e async for e in guard_stream(deltas(), check, policy or PolicyConfig(), window, 8)]
    return events, seen


def test_window_guard_releases_checked_windows_and_stops_at_violation():
    tokens = [f"t{i} " for i in range(10)]
    events, seen = asyncio.run(_collect(tokens, window=4))
    released = [e.text for e in events if isinstance(e, Released)]
    assert released == ["t0 t1 t2 t3 ", "t4 t5 t6 t7 ", "t8 t9 "]  # never more than 4 held
    assert events[-1] == Finished("stop", {"completion_tokens": 10}, events[-1].decision)
    # The second window is checked with the last 8 characters already sent ("1 t2 t3 ").
    assert seen[1] == "1 t2 t3 t4 t5 t6 t7 "

    tokens = ["a ", "b ", "c ", "d ", "e BAD ", "f ", "g ", "h "]
    events, _ = asyncio.run(_collect(tokens, window=4))
    released = [e.text for e in events if isinstance(e, Released)]
    assert released[0] == "a b c d "
    assert "BAD" not in "".join(released)
    assert released[1] == PolicyConfig().correction_message
    assert events[-1].finish_reason == "content_filter"
    assert events[-1].decision.action == "course_correct"


# -- dynamic batching ---------------------------------------------------------------------------


def test_batcher_gathers_concurrent_calls_into_one_guard_call():
    calls: list[int] = []

    def classify(items):
        calls.append(len(items))
        return [Verdict(prompt_harmful=LabelScore(len(x) / 100, False)) for x in items]

    async def main():
        batcher = GuardBatcher(classify, max_size=8, max_wait_s=0.05)
        batcher.start()
        texts = [["x" * i] for i in range(1, 13)]
        results = await asyncio.gather(*(batcher.classify(t) for t in texts))
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert [r[0].prompt_harmful.probability for r in results] == [i / 100 for i in range(1, 13)]
    assert calls == [8, 4]  # 12 concurrent callers, batches of at most 8


def test_every_shipped_serve_config_loads():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "configs" / "serve"
    loaded = {p.name: load_serve_config(p) for p in sorted(folder.glob("*.yaml"))}
    assert set(loaded) >= {"default.yaml", "vllm-proxy.yaml", "local-model.yaml"}
    assert loaded["default.yaml"] == ServeConfig()  # the file spells out the defaults
    proxy = loaded["vllm-proxy.yaml"]
    assert proxy.chat_mode == "proxy" and proxy.policy.rules[0].category == "self_harm"
    assert loaded["local-model.yaml"].chat_mode == "local"
