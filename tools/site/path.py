"""The learning path on the home page: the notebooks in order, from their own sources.

Objectives are read from each notebook's opening list ("In this notebook you will ..."), the
time to budget is estimated from the notebook itself (reading at 150 words a minute, 5 minutes
per checked exercise), and which parts need a local install from the notebook's own branches
(``if lab.servers``: a real server; ``if broker``: the Redis broker). Only the prerequisites are
declared here, because they are a teaching decision, not a fact in the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tools.paths import ROOT

SOURCES = ROOT / "notebooks" / "src"
WORDS_PER_MINUTE = 150
MINUTES_PER_EXERCISE = 5

#: what to have done before each notebook (notebook stem -> stems)
PREREQUISITES = {
    "00-overview": [],
    "01-rest": ["00-overview"],
    "02-grpc": ["01-rest"],
    "03-batch": ["01-rest"],
    "04-streaming": ["01-rest"],
    "05-edge": ["01-rest"],
    "06-load-testing": ["00-overview", "01-rest"],
    "07-resilience": ["06-load-testing"],
    "08-rollout": ["01-rest", "07-resilience"],
    "09-capstone": ["03-batch", "06-load-testing", "07-resilience"],
    "10-generative": ["01-rest", "06-load-testing"],
}


@dataclass
class Step:
    stem: str
    title: str
    objectives: list[str]
    minutes: int
    local_only: list[str]


def _markdown_text(source: str) -> str:
    cells = re.split(r"^# %%", source, flags=re.M)
    text = []
    for cell in cells:
        if cell.startswith(" [markdown]"):
            text += [line[2:] if line.startswith("# ") else line.lstrip("#") for line in cell.splitlines()[1:]]
    return "\n".join(text)


def step(path: Path) -> Step:
    """One notebook's entry in the path."""
    from lesson.teaching.exercises import exercises_for

    source = path.read_text()
    text = _markdown_text(source)
    title = re.search(r"^# (.+)$", text, re.M).group(1).strip()
    opening = text.split("\n## ", 1)[0]
    if "**What you will learn**" in opening:  # 00 lists its objectives under this heading
        opening = opening.split("**What you will learn**", 1)[1].split("\n\n", 2)[1]
    objectives = [re.sub(r"\s+", " ", m.group(1)).strip().rstrip(";.")
                  for m in re.finditer(r"^\d\. (.+?)(?=^\d\. |\Z|^\s*$)", opening, re.M | re.S)]
    if not objectives:
        objectives = [re.sub(r"\s+", " ", m.group(1)).strip().rstrip(";.")
                      for m in re.finditer(r"^- (.+?)(?=^- |\Z|^\s*$)", opening, re.M | re.S)]
    words = len(re.findall(r"\w+", text))
    exercises = len(exercises_for(path.stem))
    minutes = round(words / WORDS_PER_MINUTE + MINUTES_PER_EXERCISE * exercises)
    local_only = []
    if re.search(r"lab\.servers|are real servers over loopback", source):
        local_only.append("real servers")
    if "if broker" in source:
        local_only.append("the Redis broker")
    if "LocalCluster" in source:
        local_only.append("a Dask cluster")
    return Step(path.stem, title, objectives, max(5, 5 * round(minutes / 5)), local_only)


def notebook_page(stem: str) -> str:
    """The URL of a notebook's page relative to the home page (the site uses directory URLs).

    The path is printed by an executed block, whose links mkdocs does not rewrite: a link to
    ``notebooks/01-rest.ipynb`` would stay as written, and that file does not exist.
    """
    return f"notebooks/{stem}/"


def learning_path_markdown() -> str:
    """The path as Markdown for the home page: one numbered entry a notebook, then the total."""
    steps = [step(p) for p in sorted(SOURCES.glob("*.py"))]
    titles = {s.stem: s.title for s in steps}
    lines = []
    for number, s in enumerate(steps, 1):
        before = ", ".join(titles[p].split(" · ")[0] for p in PREREQUISITES.get(s.stem, [])) or "nothing"
        where = ("everything runs in the browser" if not s.local_only else
                 "in the browser with in-process stand-ins; locally also " + " and ".join(s.local_only))
        lines.append(f"{number}. **[{s.title}]({notebook_page(s.stem)})** — about {s.minutes} min; "
                     f"before it: {before}; {where}.")
        lines += [f"    - {o}" for o in s.objectives]
    total = sum(s.minutes for s in steps)
    lines.append("")
    lines.append(f"About **{total // 60} h {total % 60:02d} min** in all (estimated from each notebook: reading at "
                 f"{WORDS_PER_MINUTE} words a minute, {MINUTES_PER_EXERCISE} minutes a checked exercise).")
    return "\n".join(lines)
