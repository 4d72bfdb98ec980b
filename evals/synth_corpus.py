"""Build a synthetic ISMS corpus of N documents from the sample corpus, for scale benchmarks.

Documents are varied, not byte copies: each one takes a base document's title and some of its
sections, mixes in sections from other documents in shuffled order, substitutes people, tools,
places and numbers from lists, and varies the title, owner and classification (in front matter).
The same seed gives the same corpus.

    python evals/synth_corpus.py --docs 1000 --out /tmp/synth-1k [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = REPO / "corpus"

CLASSIFICATIONS = ["public", "internal", "internal", "internal", "confidential", "restricted"]
TYPES = ["policy", "procedure", "guidance", "standard", "record"]
TITLE_PREFIXES = ["", "", "Group", "Regional", "EMEA", "Platform", "Corporate", "Subsidiary", "Interim"]
TITLE_SUFFIXES = ["", "", "(Leeds office)", "(London office)", "— Annex", "for Contractors", "v2", "Supplement"]
PEOPLE = ["Priya Raman", "Marcus Lindqvist", "Daniel Okafor", "Raj Patel", "Sofia Marin", "Jamie Chen",
          "Grace Whitfield", "Amara Nwosu", "Lena Kowalski", "Tomasz Nowak", "Tom Becker", "Hannah Doyle",
          "Elena Rossi", "Oliver Grant", "Ruth Adeyemi"]
NEW_PEOPLE = ["Aisha Khan", "Björn Larsen", "Chloe Martin", "Dev Mehta", "Eva Novak", "Felix Brandt",
              "Gita Rao", "Hugo Silva", "Ines Duarte", "Jonas Weber", "Kemi Ade", "Liam Walsh", "Mia Rossi",
              "Noah Fischer", "Olga Petrova", "Pavel Horak", "Quinn Taylor", "Rosa Ortiz", "Sam Lee",
              "Tara Byrne"]
TOOLS = {  # tool in the sample corpus → alternatives a similar company might use
    "Okta": ["Entra ID", "Ping Identity", "OneLogin", "JumpCloud"],
    "Splunk Cloud": ["Microsoft Sentinel", "Elastic Security", "Sumo Logic", "Datadog SIEM"],
    "CrowdStrike Falcon": ["SentinelOne", "Microsoft Defender for Endpoint", "Sophos Intercept X"],
    "1Password Business": ["Bitwarden Enterprise", "Keeper", "LastPass Business"],
    "Jamf": ["Kandji", "Mosyle"],
    "Intune": ["Workspace ONE", "MobileIron"],
    "Veeam": ["Druva", "Acronis", "Commvault"],
    "Netskope": ["Zscaler", "Forcepoint"],
    "Tenable": ["Qualys", "Rapid7 InsightVM"],
    "HashiCorp Vault": ["AWS Secrets Manager", "CyberArk Conjur"],
    "GitHub Enterprise": ["GitLab Ultimate", "Bitbucket Cloud"],
    "Jira Service Management": ["ServiceNow", "Freshservice", "Zendesk"],
    "Paxton": ["Salto", "HID", "Brivo"],
    "Semgrep": ["SonarQube", "Checkmarx", "CodeQL"],
}
PLACES = {"London": ["Manchester", "Bristol", "Edinburgh", "Dublin"], "Leeds": ["Birmingham", "Glasgow", "Cardiff"]}
COMPANY = ["Halden Analytics Ltd", "Halden"]
NEW_COMPANIES = ["Northwind Data Ltd", "Brightwater Systems Ltd", "Kestrel Payroll plc", "Orchard Analytics Ltd"]
_NUMBER_UNIT = re.compile(r"\b(\d{1,3})(\s+)(days?|hours?|months?|weeks?|minutes?|years?|characters|working days)\b")
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


@dataclass
class SourceDoc:
    source: str
    title: str
    meta: dict
    intro: str  # text before the first "## " section
    sections: list[str]  # each starts with its "## " heading


def parse_markdown(path: Path, source: str) -> SourceDoc | None:
    text = path.read_text(encoding="utf-8", errors="replace")
    meta: dict = {}
    m = _FRONT_MATTER.match(text)
    if m:
        loaded = yaml.safe_load(m.group(1))
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[m.end():]
    parts = re.split(r"(?m)^(?=## )", text)
    intro, sections = parts[0], [p.strip() + "\n" for p in parts[1:] if p.strip()]
    title_match = re.search(r"(?m)^# (.+)$", intro)
    title = str(meta.get("title") or (title_match.group(1).strip() if title_match else path.stem.replace("-", " ")))
    intro = re.sub(r"(?m)^# .+$\n?", "", intro).strip()
    if not sections:
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and not p.startswith("# ")]
        sections = [f"## Part {i + 1}\n\n{p}\n" for i, p in enumerate(paragraphs)]
        intro = ""
    if not sections:
        return None
    return SourceDoc(source, title, meta, intro, sections)


def load_sample(corpus: Path = SAMPLE_CORPUS) -> list[SourceDoc]:
    docs = []
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and path.suffix.lower() in (".md", ".txt"):
            doc = parse_markdown(path, path.relative_to(corpus).as_posix())
            if doc is not None:
                docs.append(doc)
    return docs


def vary_text(text: str, rng: random.Random, company: str, people: dict[str, str], tools: dict[str, str],
              places: dict[str, str]) -> str:
    for name, new in {**people, **tools, **places}.items():
        text = text.replace(name, new)
    text = text.replace(COMPANY[0], company).replace(f"{COMPANY[1]} ", f"{company.split()[0]} ")

    def number(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if rng.random() < 0.5 or n == 0:
            return m.group(0)
        return f"{max(1, round(n * rng.choice([0.5, 0.75, 1.5, 2, 3])))}{m.group(2)}{m.group(3)}"

    return _NUMBER_UNIT.sub(number, text)


def make_document(i: int, docs: list[SourceDoc], rng: random.Random) -> tuple[str, str]:
    """(relative path, markdown text) of synthetic document number i."""
    base = docs[i % len(docs)]
    own = rng.sample(base.sections, k=max(1, min(len(base.sections), rng.randint(2, 5))))
    borrowed = [rng.choice(other.sections) for other in rng.sample(docs, k=rng.randint(0, 2))]
    sections = own + borrowed
    rng.shuffle(sections)
    company = rng.choice(NEW_COMPANIES + COMPANY[:1])
    people = dict(zip(PEOPLE, rng.sample(NEW_PEOPLE, k=len(PEOPLE)), strict=False)) if rng.random() < 0.8 else {}
    tools = {t: rng.choice(alts) for t, alts in TOOLS.items() if rng.random() < 0.6}
    places = {p: rng.choice(alts) for p, alts in PLACES.items() if rng.random() < 0.5}
    title = " ".join(x for x in (rng.choice(TITLE_PREFIXES), base.title, rng.choice(TITLE_SUFFIXES)) if x)
    meta = {
        "id": f"SYN-{i:05d}",
        "title": title,
        "type": base.meta.get("type") or rng.choice(TYPES),
        "owner": rng.choice(NEW_PEOPLE) if people else base.meta.get("owner", "Head of Information Security"),
        "classification": rng.choice(CLASSIFICATIONS),
        "version": f"{rng.randint(1, 5)}.{rng.randint(0, 9)}",
    }
    if base.meta.get("controls"):
        meta["controls"] = [str(c) for c in base.meta["controls"]]
    body = "\n".join(vary_text(s, rng, company, people, tools, places) for s in sections)
    intro = vary_text(base.intro, rng, company, people, tools, places) if base.intro and rng.random() < 0.5 else ""
    text = f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n\n# {title}\n\n"
    text += (intro + "\n\n" if intro else "") + body
    folder = Path(base.source).parent.as_posix()
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    return f"{folder}/{i // 500:03d}/{slug}-{i:05d}.md", text


def build(out: Path, n_docs: int, seed: int = 7, corpus: Path = SAMPLE_CORPUS) -> list[str]:
    """Write n_docs synthetic documents under `out` (replacing it); returns their relative paths."""
    docs = load_sample(corpus)
    if not docs:
        raise ValueError(f"no markdown or text documents in {corpus}")
    if out.exists():
        shutil.rmtree(out)
    rng = random.Random(seed)
    written = []
    for i in range(n_docs):
        rel, text = make_document(i, docs, rng)
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(rel)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, required=True, help="number of documents")
    parser.add_argument("--out", type=Path, required=True, help="output folder (replaced)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    written = build(args.out, args.docs, args.seed)
    print(f"wrote {len(written)} documents to {args.out}")


if __name__ == "__main__":
    main()
