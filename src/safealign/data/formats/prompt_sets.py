"""Readers of the shared prompt sets: harmful requests, user-written content, benign requests.

Each reader turns one or more public datasets (raw files no row format covers) into Samples
labelled for guarding: prompt harm and coarse categories (taxonomy "coarse"). The catalogue
(`safealign.data.catalog`) names them, with their licences and split rules. Sets used for
training are split by a stable hash of the prompt (`safealign.data.splits`); held-out sets have
only a test split and refuse any other.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import random
from collections.abc import Callable, Iterable
from pathlib import Path

from safealign.data.formats.shared_files import read_frame, read_json, read_lines, shared_path
from safealign.data.loaders import load_samples
from safealign.data.schema import Response, Sample
from safealign.data.splits import in_split
from safealign.errors import DataError

TAXONOMY = "coarse"
Categories = list[str] | Callable[[int], list[str]] | None


def prompt_samples(
    texts: Iterable[object],
    source: str,
    split: str,
    harmful: bool,
    categories: Categories = None,
    limit: int | None = None,
) -> list[Sample]:
    """One prompt-only Sample per non-empty text in `split` (hash of "source:text"); a stable
    random `limit` caps sets that would swamp the mix."""
    rows = []
    for index, text in enumerate(texts):
        text = str(text).strip()
        if not text or not in_split(f"{source}:{text}", split):
            continue
        cats = categories(index) if callable(categories) else categories
        rows.append(
            Sample(
                prompt=text,
                prompt_harmful=harmful,
                prompt_categories=list(cats or []),
                taxonomy=TAXONOMY,
                source=source,
                id=f"{source}:{hashlib.sha256(text.encode()).hexdigest()[:12]}",
            )
        )
    if limit is not None and len(rows) > limit:
        rows = random.Random(source).sample(rows, limit)
    return rows


def held_out(name: str, split: str) -> None:
    """Held-out sets are all test: asking for their train or dev split is an error."""
    if split not in ("test", "all"):
        raise DataError(
            f'"{name}" is held out for evaluation: it has no {split} split (all of it is test).',
            fix='Ask for split "test" or "all", or use a set the catalogue marks for training.',
        )


# -- harmful instructions -------------------------------------------------------------------------

HARMBENCH = {
    "chemical_biological": "Weapons",
    "cybercrime_intrusion": "Cyber",
    "illegal": "Crime",
    "misinformation_disinformation": "Deception",
    "harassment_bullying": "Hate and Harassment",
    "harmful": "Other",
    "copyright": "Intellectual Property",
}

CATQA = {
    "Illegal Activity": "Crime",
    "Child Abuse": "Child Safety",
    "Hate/Harass/Violence": "Hate and Harassment",
    "Malware Viruses": "Cyber",
    "Physical Harm": "Violence",
    "Economic Harm": "Crime",
    "Fraud/Deception": "Deception",
    "Adult Content": "Sexual",
    "Political Campaigning": "Deception",
    "Privacy Violation Activity": "Privacy",
    "Tailored Financial Advice": "Specialized Advice",
}
CATQA_SUB = {
    "Drug": "Regulated Substances",
    "Weapon": "Weapons",
    "Self-harm": "Self-Harm",
    "Weapon making": "Weapons",
    "Cybercrime": "Cyber",
    "Terrorism and extremism": "Violence",
}


def read_harmful_instructions(root: Path, split: str) -> list[Sample]:
    """AdvBench, HarmBench val, CatQA-en, HarmfulQA, DangerousQA, MaliciousInstruct, TDC2023,
    refusal_direction harmful_train/val: harmful requests (MIT / Apache-2.0)."""
    advbench = load_samples(shared_path(root, "advbench/dataset/raw/advbench.csv"), "advbench")
    samples = prompt_samples([x.prompt for x in advbench.samples], "advbench", split, True)
    hb = read_frame(shared_path(root, "harmbench/dataset/raw/harmbench_val.csv"))
    samples += prompt_samples(
        hb["Behavior"], "harmbench", split, True, lambda i: [HARMBENCH[hb["SemanticCategory"][i]]]
    )
    questions = root / "declare_lab_harmful_questions/harmful_questions"
    catqa, cats = [], []
    for category, subs in read_json(shared_path(questions, "catqa_english.json")).items():
        for sub, items in subs.items():
            label = CATQA_SUB.get(sub.strip().rstrip(":"), CATQA[category])
            catqa += items
            cats += [label] * len(items)
    samples += prompt_samples(catqa, "catqa", split, True, lambda i: [cats[i]])
    harmfulqa = [
        q
        for subs in read_json(shared_path(questions, "harmfulqa.json")).values()
        for items in subs.values()
        for q in items
    ]
    samples += prompt_samples(harmfulqa, "harmfulqa", split, True, limit=600)
    samples += prompt_samples(
        read_json(shared_path(questions, "dangerousqa.json")), "dangerousqa", split, True
    )
    raw = root / "refusal_direction/dataset"
    samples += prompt_samples(
        read_lines(shared_path(raw, "raw/malicious_instruct.txt")),
        "malicious_instruct",
        split,
        True,
    )
    for name in ("tdc2023_dev_behaviors.json", "tdc2023_test_behaviors.json"):
        samples += prompt_samples(
            read_json(shared_path(raw, f"raw/{name}")), "tdc2023", split, True
        )
    samples += prompt_samples(
        [r["instruction"] for r in read_json(shared_path(raw, "splits/harmful_train.json"))],
        "refusal_direction",
        split,
        True,
    )
    return samples


# -- user-written harmful content ---------------------------------------------------------------


def read_user_content(root: Path, split: str) -> list[Sample]:
    """Davidson, MLMA, Implicit Hate (MIT): hate / harassment vs benign tweets."""
    hh = ["Hate and Harassment"]
    d = read_frame(shared_path(root, "davidson_hate_offensive/labeled_data.csv"))
    clear_offensive = d[(d["class"] == 1) & (d["offensive_language"] == d["count"])]["tweet"]
    samples = prompt_samples(
        d[d["class"] == 0]["tweet"].map(clean_tweet), "davidson", split, True, hh, 800
    )
    samples += prompt_samples(clear_offensive.map(clean_tweet), "davidson", split, True, hh, 600)
    samples += prompt_samples(
        d[d["class"] == 2]["tweet"].map(clean_tweet), "davidson", split, False, limit=1200
    )
    m = read_frame(shared_path(root, "mlma_hate_en/en_dataset_with_stop_words.csv"))
    tweets = m["tweet"].map(unescape).map(clean_tweet)
    hateful = m["sentiment"].str.contains("hateful|fearful")
    direct = (m["directness"] == "direct") | (m["group"] == "individual")
    attack = m["sentiment"].str.contains("offensive|abusive|disrespectful") & direct
    samples += prompt_samples(tweets[hateful | attack], "mlma", split, True, hh, 800)
    samples += prompt_samples(tweets[m["sentiment"] == "normal"], "mlma", split, False, limit=800)
    ih = read_frame(shared_path(root, "implicit_hate/implicit_hate_v1_stg1_posts.tsv"), sep="\t")
    posts = ih["post"].map(clean_tweet)
    samples += prompt_samples(
        posts[ih["class"] != "not_hate"], "implicit_hate", split, True, hh, 1000
    )
    samples += prompt_samples(
        posts[ih["class"] == "not_hate"], "implicit_hate", split, False, limit=1000
    )
    return samples


def read_self_harm(root: Path, split: str) -> list[Sample]:
    """Reddit C-SSRS (CC-BY-4.0): ideation/behaviour/attempt posts vs supportive posts."""
    frame = read_frame(shared_path(root, "reddit_cssrs_suicide/500_Reddit_users_posts_labels.csv"))
    harmful, benign = [], []
    for _, row in frame.iterrows():
        try:
            posts = ast.literal_eval(row["Post"])
        except (ValueError, SyntaxError):
            posts = str(row["Post"]).strip("[]").split("', '")
        posts = [p.strip(" '\"")[:600] for p in posts if len(p) > 60][:3]
        if row["Label"] in ("Ideation", "Behavior", "Attempt"):
            harmful += posts
        elif row["Label"] == "Supportive":
            benign += posts
    return prompt_samples(harmful, "reddit_cssrs", split, True, ["Self-Harm"]) + prompt_samples(
        benign, "reddit_cssrs", split, False
    )


I2P = {
    "sexual": "Sexual",
    "violence": "Violence",
    "shocking": "Violence",
    "self-harm": "Self-Harm",
    "hate": "Hate and Harassment",
    "harassment": "Hate and Harassment",
    "illegal activity": "Crime",
}


def read_image_prompts(root: Path, split: str) -> list[Sample]:
    """I2P (MIT): text-to-image prompts whose images were mostly flagged, with weak categories."""
    frame = read_frame(shared_path(root, "i2p_prompts/i2p_benchmark.csv"))
    frame = frame[(frame["hard"] == 1) & (frame["inappropriate_percentage"] >= 50)].reset_index()
    cats = [
        sorted({I2P[c.strip()] for c in str(v).split(",") if c.strip() in I2P})
        for v in frame["categories"]
    ]
    return prompt_samples(frame["prompt"], "i2p", split, True, lambda i: cats[i], limit=800)


# -- benign requests and answers ------------------------------------------------------------------


def read_benign(root: Path, split: str) -> list[Sample]:
    """CLINC150 (CC-BY-3.0) and Self-Instruct (Apache-2.0) requests; Self-Instruct answers as
    safe, compliant responses."""
    clinc = read_json(shared_path(root, "clinc150/data_full.json"))
    utterances = [u for part in ("train", "oos_train") for u, _ in clinc[part]]
    samples = prompt_samples(utterances, "clinc150", split, False, limit=2000)
    for name in ("user_oriented_instructions.jsonl", "seed_tasks.jsonl"):
        path = shared_path(root, f"self_instruct_user/{name}")
        for number, line in enumerate(read_lines(path), start=1):
            try:
                task = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({exc.msg}).", path=path, line=number) from exc
            instance = task["instances"][0]
            prompt = task["instruction"] + (f"\n\n{instance['input']}" if instance["input"] else "")
            if not in_split(f"self_instruct:{prompt}", split):
                continue
            samples.append(
                Sample(
                    prompt=prompt,
                    prompt_harmful=False,
                    responses=[
                        Response(instance["output"] or "Done.", is_safe=True, refusal=False)
                    ],
                    taxonomy=TAXONOMY,
                    source="self_instruct",
                    id=task["id"],
                )
            )
    return samples


# -- held-out user content (non-permissive licenses: evaluation only) ------------------------------


def read_olid(root: Path, split: str) -> list[Sample]:
    """OLID test set A (no license): offensive (OFF) vs not, 860 tweets. Evaluation only."""
    held_out("olid", split)
    tweets = read_frame(
        shared_path(root, "olid/testset-levela.tsv"), sep="\t", quoting=csv.QUOTE_NONE
    )
    labels = read_frame(
        shared_path(root, "olid/labels-levela.csv"), header=None, names=["id", "label"]
    )
    frame = tweets.merge(labels, on="id")
    return [
        Sample(
            prompt=clean_tweet(r["tweet"]),
            prompt_harmful=r["label"] == "OFF",
            source="olid",
            id=f"olid:{r['id']}",
        )
        for _, r in frame.iterrows()
        if clean_tweet(r["tweet"])
    ]


def read_ethos(root: Path, split: str) -> list[Sample]:
    """ETHOS binary (GPL-3.0): hate (share >= 0.5) vs not, 998 comments. Evaluation only."""
    held_out("ethos", split)
    frame = read_frame(shared_path(root, "ethos/Ethos_Dataset_Binary.csv"), sep=";")
    return [
        Sample(
            prompt=str(r["comment"]),
            prompt_harmful=r["isHate"] >= 0.5,
            source="ethos",
            id=f"ethos:{i}",
        )
        for i, r in frame.iterrows()
    ]


def read_toxigen(root: Path, split: str) -> list[Sample]:
    """ToxiGen demonstrations (CDLA-Permissive-2.0): hateful vs neutral statements about
    groups. Evaluation only (not among the licenses the default guard trains on)."""
    held_out("toxigen", split)
    samples = []
    for path in sorted(shared_path(root, "toxigen_prompts/demonstrations").rglob("*.txt")):
        harmful = path.name.startswith("hate")
        for line in dict.fromkeys(read_lines(path)):
            if line.strip():
                samples.append(
                    Sample(prompt=line.strip(), prompt_harmful=harmful, source="toxigen")
                )
    return samples


def clean_tweet(text: str) -> str:
    words = [
        w
        for w in str(text).replace("&amp;", "&").split()
        if not w.startswith(("@", "http")) and w != "RT"
    ]
    return " ".join(words).strip(' "')


def unescape(text: str) -> str:
    """MLMA stores "\u2019"-style escapes (some as surrogate pairs) in plain text."""
    try:
        decoded = str(text).encode("latin-1", "backslashreplace").decode("unicode_escape")
        return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    except UnicodeError:
        return str(text)
