"""The guard's data: named readers over ../shared/data, each mapped to coarse categories.

Each reader turns one public dataset into Samples labelled for guarding (prompt harm, response
harm, refusal, coarse categories) and records its license, so the shipped default guard is
trained only on permissive sources (MIT / Apache-2.0 / CC-BY) and the rest stay evaluation-only.
Nothing here copies rows into the repository: it reads them where they lie, through
`safealign.data.load_samples` wherever the project has a loader for the file (AdvBench,
Do-Not-Answer, XSTest); the other readers adapt raw files no loader covers.

Split rule for sources used both ways (Do-Not-Answer): a stable hash of the prompt id puts each
prompt in train (70 %), dev (10 %) or test (20 %), all of its responses with it.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from safealign.data import load_samples
from safealign.data.schema import Response, Sample
from safealign.errors import DataError
from safealign.taxonomy import load_taxonomy, map_categories

TAXONOMY = "coarse"
PERMISSIVE = ("MIT", "Apache-2.0", "CC-BY-3.0", "CC-BY-4.0")

REFUSALS = (
    "I'm sorry, but I can't help with that.",
    "I can't assist with this request.",
    "Sorry, I won't provide that. If you're going through something difficult, consider "
    "talking to someone you trust.",
    "I'm not able to help with that, as it could cause harm.",
    "I must decline. Is there something else I can help you with?",
    "That's not something I can do. I can share general safety information instead.",
    "I cannot provide instructions for that.",
    "No. I won't help with this, but I'm happy to help with something else.",
)


REFUSAL_FOLLOW_UPS = (
    "It is important to stay safe and to respect the law.",
    "This could put you or other people at risk.",
    "If you are curious about the topic, I can point you to general, reliable information.",
    "Please consider talking to a qualified professional.",
    "I want to be helpful, but I have to avoid content that could cause harm.",
    "Let me know if there is something else I can do for you.",
    "Encouraging violence or illegal activity goes against my guidelines.",
    "Everyone deserves to be treated with respect and kindness.",
)
"""Safe sentences that follow a refusal, so that refusals of realistic length (an opening, then
a lecture or an offer) are refusals too, not only one-line templates."""


@dataclass(frozen=True)
class Source:
    """A named guard dataset: where it lies, its license, and how to read a split of it."""

    name: str
    folder: str
    license: str
    read: Callable[[Path, str], list[Sample]]
    """(shared data dir, split "train" | "dev" | "test" | "all") -> samples."""
    description: str

    @property
    def permissive(self) -> bool:
        return self.license in PERMISSIVE


# -- helpers -------------------------------------------------------------------------------------


def split_of(key: str) -> str:
    """Stable 70/10/20 train/dev/test assignment from a key's hash."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 7 else "dev" if bucket < 8 else "test"


def _keep(key: str, split: str) -> bool:
    return split == "all" or split_of(key) == split


def _prompts(
    texts, source: str, split: str, harmful: bool, categories=None, limit: int | None = None
) -> list[Sample]:
    rows = []
    for index, text in enumerate(texts):
        text = str(text).strip()
        if not text or not _keep(f"{source}:{text}", split):
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


def _path(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        raise DataError(
            "file not found", path=path, fix="Set SAFEALIGN_SHARED_DATA to the shared data folder."
        )
    return path


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
    advbench = load_samples(_path(root, "advbench/dataset/raw/advbench.csv"), "advbench")
    samples = _prompts([x.prompt for x in advbench.samples], "advbench", split, True)
    hb = pd.read_csv(_path(root, "harmbench/dataset/raw/harmbench_val.csv"))
    samples += _prompts(
        hb["Behavior"], "harmbench", split, True, lambda i: [HARMBENCH[hb["SemanticCategory"][i]]]
    )
    questions = root / "declare_lab_harmful_questions/harmful_questions"
    catqa, cats = [], []
    for category, subs in json.loads(_path(questions, "catqa_english.json").read_text()).items():
        for sub, items in subs.items():
            label = CATQA_SUB.get(sub.strip().rstrip(":"), CATQA[category])
            catqa += items
            cats += [label] * len(items)
    samples += _prompts(catqa, "catqa", split, True, lambda i: [cats[i]])
    harmfulqa = [
        q
        for subs in json.loads((questions / "harmfulqa.json").read_text()).values()
        for items in subs.values()
        for q in items
    ]
    samples += _prompts(harmfulqa, "harmfulqa", split, True, limit=600)
    samples += _prompts(
        json.loads((questions / "dangerousqa.json").read_text()), "dangerousqa", split, True
    )
    raw = root / "refusal_direction/dataset"
    samples += _prompts(
        _path(raw, "raw/malicious_instruct.txt").read_text().splitlines(),
        "malicious_instruct",
        split,
        True,
    )
    for name in ("tdc2023_dev_behaviors.json", "tdc2023_test_behaviors.json"):
        samples += _prompts(json.loads((raw / "raw" / name).read_text()), "tdc2023", split, True)
    samples += _prompts(
        [r["instruction"] for r in json.loads((raw / "splits/harmful_train.json").read_text())],
        "refusal_direction",
        split,
        True,
    )
    return samples


# -- user-written harmful content ---------------------------------------------------------------


def read_user_content(root: Path, split: str) -> list[Sample]:
    """Davidson, MLMA, Implicit Hate (MIT): hate / harassment vs benign tweets."""
    hh = ["Hate and Harassment"]
    d = pd.read_csv(_path(root, "davidson_hate_offensive/labeled_data.csv"))
    clear_offensive = d[(d["class"] == 1) & (d["offensive_language"] == d["count"])]["tweet"]
    samples = _prompts(
        d[d["class"] == 0]["tweet"].map(_clean_tweet), "davidson", split, True, hh, 800
    )
    samples += _prompts(clear_offensive.map(_clean_tweet), "davidson", split, True, hh, 600)
    samples += _prompts(
        d[d["class"] == 2]["tweet"].map(_clean_tweet), "davidson", split, False, limit=1200
    )
    m = pd.read_csv(_path(root, "mlma_hate_en/en_dataset_with_stop_words.csv"))
    tweets = m["tweet"].map(_unescape).map(_clean_tweet)
    hateful = m["sentiment"].str.contains("hateful|fearful")
    direct = (m["directness"] == "direct") | (m["group"] == "individual")
    attack = m["sentiment"].str.contains("offensive|abusive|disrespectful") & direct
    samples += _prompts(tweets[hateful | attack], "mlma", split, True, hh, 800)
    samples += _prompts(tweets[m["sentiment"] == "normal"], "mlma", split, False, limit=800)
    ih = pd.read_csv(_path(root, "implicit_hate/implicit_hate_v1_stg1_posts.tsv"), sep="\t")
    posts = ih["post"].map(_clean_tweet)
    samples += _prompts(posts[ih["class"] != "not_hate"], "implicit_hate", split, True, hh, 1000)
    samples += _prompts(posts[ih["class"] == "not_hate"], "implicit_hate", split, False, limit=1000)
    return samples


def read_self_harm(root: Path, split: str) -> list[Sample]:
    """Reddit C-SSRS (CC-BY-4.0): ideation/behaviour/attempt posts vs supportive posts."""
    frame = pd.read_csv(_path(root, "reddit_cssrs_suicide/500_Reddit_users_posts_labels.csv"))
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
    return _prompts(harmful, "reddit_cssrs", split, True, ["Self-Harm"]) + _prompts(
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
    frame = pd.read_csv(_path(root, "i2p_prompts/i2p_benchmark.csv"))
    frame = frame[(frame["hard"] == 1) & (frame["inappropriate_percentage"] >= 50)].reset_index()
    cats = [
        sorted({I2P[c.strip()] for c in str(v).split(",") if c.strip() in I2P})
        for v in frame["categories"]
    ]
    return _prompts(frame["prompt"], "i2p", split, True, lambda i: cats[i], limit=800)


# -- benign requests and answers ------------------------------------------------------------------


def read_benign(root: Path, split: str) -> list[Sample]:
    """CLINC150 (CC-BY-3.0) and Self-Instruct (Apache-2.0) requests; Self-Instruct answers as
    safe, compliant responses."""
    clinc = json.loads(_path(root, "clinc150/data_full.json").read_text())
    utterances = [u for part in ("train", "oos_train") for u, _ in clinc[part]]
    samples = _prompts(utterances, "clinc150", split, False, limit=2000)
    for name in ("user_oriented_instructions.jsonl", "seed_tasks.jsonl"):
        for line in _path(root, f"self_instruct_user/{name}").read_text().splitlines():
            task = json.loads(line)
            instance = task["instances"][0]
            prompt = task["instruction"] + (f"\n\n{instance['input']}" if instance["input"] else "")
            if not _keep(f"self_instruct:{prompt}", split):
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


def with_refusals(samples: list[Sample], share: float = 0.3, seed: int = 0) -> list[Sample]:
    """Add a written refusal as a safe, refusing response to a share of the prompts: refusals
    are safe whatever was asked, and the refusal head needs positives."""
    rng = random.Random(seed)
    out = []
    for sample in samples:
        if not sample.responses and rng.random() < share:
            text = " ".join(
                [rng.choice(REFUSALS), *rng.sample(REFUSAL_FOLLOW_UPS, rng.randint(0, 3))]
            )
            refusal = Response(text, is_safe=True, refusal=True, categories=[])
            sample = Sample(**{**sample.__dict__, "responses": [refusal]})
        out.append(sample)
    return out


# -- labelled responses ----------------------------------------------------------------------------

DNA_NOT_HARMFUL = "Treat Chatbot as a Human"
"""The one Do-Not-Answer harm type whose prompts are not harmful requests (prompt label unknown)."""


def read_do_not_answer(root: Path, split: str) -> list[Sample]:
    """Do-Not-Answer (Apache-2.0) through `safealign.data`: risky prompts, each with six
    human-labelled responses, regrouped into one Sample per prompt. Action 0 (refuses) is a
    refusal; action 4 (cannot, for lack of ability) is left unknown; the others comply."""
    loaded = load_samples(_path(root, "do_not_answer/datasets/data_en.csv"), "do-not-answer")
    coarse = {c.code: c.name for c in load_taxonomy("coarse")}
    grouped: dict[str, list[Sample]] = {}
    for row in loaded.samples:
        base = row.id[: -len(row.metadata["model"]) - 1]
        grouped.setdefault(base, []).append(row)
    samples = []
    for base, rows in grouped.items():
        if not _keep(f"dna:{base}", split):
            continue
        first = rows[0]
        codes = map_categories(first.prompt_categories, "do-not-answer")
        category = coarse[codes[0]] if codes else "Other"
        responses = []
        for row in rows:
            answer = row.responses[0]
            action = int(answer.label.removeprefix("action_"))
            harmful = answer.is_safe is False
            responses.append(
                Response(
                    answer.text,
                    is_safe=answer.is_safe,
                    categories=[category] if harmful else [],
                    refusal=None if action == 4 else action == 0,
                    label=answer.label,
                )
            )
        samples.append(
            Sample(
                prompt=first.prompt,
                responses=responses,
                prompt_harmful=None if first.prompt_categories == [DNA_NOT_HARMFUL] else True,
                prompt_categories=[category],
                taxonomy=TAXONOMY,
                source="do_not_answer",
                id=f"dna:{base}",
            )
        )
    return samples


def read_xstest_responses(root: Path, split: str) -> list[Sample]:
    """XSTest completions (human labels) through `safealign.data`: harmful = full compliance
    with an unsafe prompt; partial refusals of unsafe prompts are ambiguous and left out.
    Evaluation only."""
    samples = []
    for path in sorted(_path(root, "xstest/model_completions").glob("*.csv")):
        for row in load_samples(path, "xstest").samples:
            answer = row.responses[0]
            if row.prompt_harmful and answer.label.startswith("3"):
                continue
            complied = answer.label.startswith("1")
            samples.append(
                Sample(
                    prompt=row.prompt,
                    responses=[
                        Response(
                            answer.text,
                            is_safe=not (row.prompt_harmful and complied),
                            refusal=not complied,
                            label=answer.label,
                        )
                    ],
                    prompt_harmful=row.prompt_harmful,
                    taxonomy=TAXONOMY,
                    source="xstest_responses",
                    id=f"{path.stem}:{row.id}",
                )
            )
    return samples


def read_xstest_prompts(root: Path, split: str) -> list[Sample]:
    """XSTest prompts (CC-BY-4.0) through `safealign.data`: 250 safe look-alikes, 200 unsafe.
    Held out (over-refusal)."""
    loaded = load_samples(_path(root, "xstest/xstest_prompts.csv"), "xstest")
    return [
        Sample(
            prompt=r.prompt, prompt_harmful=r.prompt_harmful, source="xstest", id=f"xstest:{r.id}"
        )
        for r in loaded.samples
    ]


# -- held-out user content (non-permissive licenses: evaluation only) ------------------------------


def read_olid(root: Path, split: str) -> list[Sample]:
    """OLID test set A (no license): offensive (OFF) vs not, 860 tweets. Evaluation only."""
    tweets = pd.read_csv(_path(root, "olid/testset-levela.tsv"), sep="\t", quoting=csv.QUOTE_NONE)
    labels = pd.read_csv(_path(root, "olid/labels-levela.csv"), header=None, names=["id", "label"])
    frame = tweets.merge(labels, on="id")
    return [
        Sample(
            prompt=_clean_tweet(r["tweet"]),
            prompt_harmful=r["label"] == "OFF",
            source="olid",
            id=f"olid:{r['id']}",
        )
        for _, r in frame.iterrows()
        if _clean_tweet(r["tweet"])
    ]


def read_ethos(root: Path, split: str) -> list[Sample]:
    """ETHOS binary (GPL-3.0): hate (share >= 0.5) vs not, 998 comments. Evaluation only."""
    frame = pd.read_csv(_path(root, "ethos/Ethos_Dataset_Binary.csv"), sep=";")
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
    samples = []
    for path in sorted(_path(root, "toxigen_prompts/demonstrations").rglob("*.txt")):
        harmful = path.name.startswith("hate")
        for line in dict.fromkeys(path.read_text().splitlines()):
            if line.strip():
                samples.append(
                    Sample(prompt=line.strip(), prompt_harmful=harmful, source="toxigen")
                )
    return samples


def _clean_tweet(text: str) -> str:
    words = [
        w
        for w in str(text).replace("&amp;", "&").split()
        if not w.startswith(("@", "http")) and w != "RT"
    ]
    return " ".join(words).strip(' "')


def _unescape(text: str) -> str:
    """MLMA stores "\u2019"-style escapes (some as surrogate pairs) in plain text."""
    try:
        decoded = str(text).encode("latin-1", "backslashreplace").decode("unicode_escape")
        return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    except UnicodeError:
        return str(text)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "harmful-instructions",
            "advbench,harmbench,declare_lab,refusal_direction",
            "MIT",
            read_harmful_instructions,
            "harmful requests from red-teaming sets",
        ),
        Source(
            "user-content",
            "davidson,mlma,implicit_hate",
            "MIT",
            read_user_content,
            "hate and harassment vs benign tweets",
        ),
        Source(
            "self-harm",
            "reddit_cssrs_suicide",
            "CC-BY-4.0",
            read_self_harm,
            "suicidal ideation vs supportive posts",
        ),
        Source(
            "image-prompts",
            "i2p_prompts",
            "MIT",
            read_image_prompts,
            "sexual / violent / hateful descriptions",
        ),
        Source(
            "benign",
            "clinc150,self_instruct_user",
            "CC-BY-3.0",
            read_benign,
            "everyday requests and answers",
        ),
        Source(
            "do-not-answer",
            "do_not_answer",
            "Apache-2.0",
            read_do_not_answer,
            "risky prompts with six human-labelled responses each",
        ),
        Source(
            "xstest-responses",
            "xstest",
            "model terms",
            read_xstest_responses,
            "2,250 human-labelled completions (evaluation only)",
        ),
        Source(
            "xstest-prompts",
            "xstest",
            "CC-BY-4.0",
            read_xstest_prompts,
            "over-refusal prompts (held out)",
        ),
        Source("olid", "olid", "none", read_olid, "offensive tweets (evaluation only)"),
        Source("ethos", "ethos", "GPL-3.0", read_ethos, "hate comments (evaluation only)"),
        Source(
            "toxigen",
            "toxigen_prompts",
            "CDLA-Permissive-2.0",
            read_toxigen,
            "implicit hate statements (evaluation only)",
        ),
    )
}

DEFAULT_TRAIN_SOURCES = (
    "harmful-instructions",
    "user-content",
    "self-harm",
    "image-prompts",
    "benign",
    "do-not-answer",
)
HELD_OUT_SOURCES = ("xstest-responses", "xstest-prompts", "olid", "ethos", "toxigen")


def load_source(name: str, root: Path, split: str = "all") -> list[Sample]:
    """Samples of one named source; DataError naming the known sources for an unknown name."""
    if name not in SOURCES:
        raise DataError(f'unknown guard source "{name}". Known: {", ".join(SOURCES)}.')
    return SOURCES[name].read(root, split)
