"""The edited-model scenario of Safety Arithmetic: a benign knowledge edit that may erode safety.

The edit fine-tunes one layer's MLP on one NoIntentEdit (question, answer) row with the project's
SFT and merges it, so the edited model differs from its base in exactly one layer: the edit
area that HDR is later restricted to (plus neighbours).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from safealign.data import Response, Sample
from safealign.errors import DataError
from safealign.steer.config import KnowledgeEditConfig
from safealign.steer.harm_data import shared_data_dir
from safealign.train.config import TrainConfig
from safealign.train.losses import LossConfig
from safealign.train.trainer import train

NOINT_FILE = "noint_edit/Unintentional_Edit_Instance.xlsx"
SHEET_NS = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def read_xlsx_rows(path: str | Path) -> list[list[str]]:
    """The first sheet of an .xlsx file as rows of strings (shared and inline strings, numbers);
    enough for the NoIntentEdit sheet without an Excel dependency."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a readable .xlsx file ({exc})", path=path) from exc
    with archive:
        shared = []
        if "xl/sharedStrings.xml" in archive.namelist():
            root = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            for item in root.findall("s:si", SHEET_NS):
                shared.append("".join(t.text or "" for t in item.iter(f"{{{SHEET_NS['s']}}}t")))
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{SHEET_NS['s']}}}row"):
        cells: dict[int, str] = {}
        for cell in row.findall("s:c", SHEET_NS):
            column = _column_index(cell.get("r", "A1"))
            value = cell.find("s:v", SHEET_NS)
            if cell.get("t") == "s" and value is not None:
                cells[column] = shared[int(value.text or 0)]
            elif cell.get("t") == "inlineStr":
                cells[column] = "".join(t.text or "" for t in cell.iter(f"{{{SHEET_NS['s']}}}t"))
            elif value is not None:
                cells[column] = value.text or ""
        if cells:
            rows.append([cells.get(i, "") for i in range(max(cells) + 1)])
    return rows


def _column_index(reference: str) -> int:
    letters = re.match(r"[A-Z]+", reference)
    index = 0
    for char in letters.group(0) if letters else "A":
        index = index * 26 + ord(char) - ord("A") + 1
    return index - 1


def edit_instances(data_dir: str | None = None) -> list[Sample]:
    """NoIntentEdit's (question, answer) rows as one-response samples."""
    path = shared_data_dir(data_dir) / NOINT_FILE
    if not path.is_file():
        raise DataError("file not found", path=path, fix="Set data_dir to the shared data folder.")
    rows = read_xlsx_rows(path)
    header = [h.strip().lower() for h in rows[0]]
    if "question" not in header or "answer" not in header:
        raise DataError(f"expected Question and Answer columns, found {rows[0]}", path=path, line=1)
    q, a = header.index("question"), header.index("answer")
    return [
        Sample(prompt=r[q], responses=[Response(text=r[a])], source=f"noint_edit:{i}")
        for i, r in enumerate(rows[1:])
        if len(r) > max(q, a) and r[q].strip() and r[a].strip()
    ]


def knowledge_edit(config: KnowledgeEditConfig) -> Path:
    """Edit `config.model` on one instance; returns the merged edited checkpoint folder."""
    instances = edit_instances(config.data_dir)
    if not 0 <= config.instance < len(instances):
        raise DataError(
            f"instance {config.instance} is out of range", fix=f"Pick 0..{len(instances) - 1}."
        )
    layer = f"layers.{config.layer}.mlp"
    result = train(
        TrainConfig(
            model=config.model,
            loss=LossConfig(name="sft"),
            pairs="sft",
            learning_rate=config.learning_rate,
            max_steps=config.steps,
            batch_size=1,
            gradient_accumulation_steps=1,
            warmup_ratio=0.0,
            lora_target_modules=[f"{layer}.{m}" for m in ("gate_proj", "up_proj", "down_proj")],
            dtype="float32",
            output_dir=config.output_dir,
            save_every=None,
            merge=True,
            progress=False,
        ),
        samples=[instances[config.instance]],
    )
    if result.merged_dir is None:
        raise DataError("the knowledge edit wrote no merged model")
    return result.merged_dir
