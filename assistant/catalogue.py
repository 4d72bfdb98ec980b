"""ISO/IEC 27001:2022 Annex A catalogue: 93 controls, 2013→2022 mapping, clauses, attributes, aliases.

Data ships in ``assistant/data`` (copied from the verified reference set). Lookups are case- and
punctuation-tolerant: ``"A.5.15"``, ``"5.15"``, ``"Annex A 5.15"``, ``"A.9.2.5"`` (2013),
``"Access control"`` and aliases such as ``"MFA"`` all resolve.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.text import LOOKUP_ID_2013, LOOKUP_ID_2022

DATA_DIR = Path(__file__).resolve().parent / "data"

# Common names people use for controls. Keys are normalised with `normalise()`.
ALIASES: dict[str, list[str]] = {
    "5.1": ["information security policy", "security policy", "topic specific policies"],
    "5.2": ["security roles", "roles and responsibilities", "raci"],
    "5.3": ["segregation of duties", "separation of duties", "four eyes"],
    "5.7": ["threat intel", "threat intelligence", "cti"],
    "5.9": ["asset inventory", "asset register", "cmdb"],
    "5.10": ["acceptable use", "aup"],
    "5.11": ["return of assets"],
    "5.12": ["data classification", "information classification"],
    "5.13": ["labelling", "labeling", "marking"],
    "5.14": ["information transfer", "data transfer", "file sharing"],
    "5.15": ["access control", "access management"],
    "5.16": ["identity management", "user ids", "shared accounts"],
    "5.17": ["passwords", "password", "authentication information", "password management"],
    "5.18": [
        "access rights",
        "access review",
        "access reviews",
        "user access review",
        "joiners movers leavers",
        "jml",
        "user access management",
        "revocation",
        "deprovisioning",
        "provisioning",
    ],
    "5.19": ["supplier security", "vendor security", "third party security", "vendor risk"],
    "5.20": ["supplier agreements", "vendor contracts"],
    "5.21": ["ict supply chain", "software supply chain"],
    "5.22": ["supplier review", "vendor review", "supplier monitoring"],
    "5.23": ["cloud security", "cloud services", "saas"],
    "5.24": ["incident management", "incident response plan"],
    "5.25": ["event triage", "incident triage"],
    "5.26": ["incident response"],
    "5.27": ["lessons learned", "post incident review"],
    "5.28": ["evidence collection", "forensics", "chain of custody"],
    "5.29": ["business continuity", "bcp", "disruption"],
    "5.30": ["ict readiness", "disaster recovery", "dr", "ict continuity"],
    "5.31": ["legal requirements", "regulatory requirements", "contractual requirements"],
    "5.32": ["intellectual property", "software licensing", "licences", "licenses"],
    "5.33": ["records retention", "protection of records"],
    "5.34": ["privacy", "pii", "gdpr", "data protection", "personal data"],
    "5.35": ["independent review", "external audit"],
    "5.36": ["policy compliance", "compliance checks"],
    "5.37": ["operating procedures", "documented procedures", "runbooks"],
    "6.1": ["screening", "background checks", "vetting", "pre employment checks"],
    "6.2": ["terms of employment", "employment contract"],
    "6.3": ["security awareness", "awareness training", "security training", "phishing simulation"],
    "6.4": ["disciplinary process"],
    "6.5": ["offboarding", "termination responsibilities", "leavers"],
    "6.6": ["nda", "non disclosure agreement", "confidentiality agreement"],
    "6.7": ["remote working", "working from home", "home working", "teleworking"],
    "6.8": ["reporting incidents", "report an incident", "event reporting"],
    "7.1": ["physical perimeter", "perimeter security"],
    "7.2": ["physical entry", "badge access", "visitor management", "visitors"],
    "7.3": ["securing offices"],
    "7.4": ["cctv", "physical monitoring", "intruder alarm"],
    "7.7": ["clear desk", "clear screen", "screen lock"],
    "7.10": ["removable media", "usb"],
    "7.14": ["secure disposal", "disposal", "media disposal"],
    "8.1": ["endpoint security", "user endpoint devices", "laptops", "mobile devices", "mdm"],
    "8.2": ["privileged access", "admin accounts", "pam", "administrator access"],
    "8.3": ["information access restriction"],
    "8.5": ["mfa", "multi factor authentication", "2fa", "two factor authentication", "sso", "secure authentication"],
    "8.6": ["capacity management"],
    "8.7": ["malware", "antivirus", "anti virus", "edr", "ransomware protection"],
    "8.8": ["vulnerability management", "patch management", "patching", "vulnerabilities"],
    "8.9": ["configuration management", "hardening", "secure configuration", "baselines"],
    "8.10": ["information deletion", "data deletion"],
    "8.11": ["data masking", "pseudonymisation", "anonymisation"],
    "8.12": ["dlp", "data leakage prevention", "data loss prevention"],
    "8.13": ["backup", "backups", "information backup", "restore"],
    "8.14": ["redundancy", "high availability", "failover"],
    "8.15": ["logging", "audit logs", "logs"],
    "8.16": ["monitoring", "siem", "security monitoring"],
    "8.17": ["clock synchronisation", "clock synchronization", "ntp", "time sync"],
    "8.19": ["software installation"],
    "8.20": ["network security", "firewalls"],
    "8.21": ["network services security"],
    "8.22": ["network segregation", "network segmentation", "segmentation"],
    "8.23": ["web filtering"],
    "8.24": ["cryptography", "encryption", "key management", "keys"],
    "8.25": ["secure development", "sdlc", "secure development lifecycle"],
    "8.26": ["application security requirements"],
    "8.27": ["secure architecture", "security architecture"],
    "8.28": ["secure coding"],
    "8.29": ["security testing", "penetration testing", "pentest", "pen test"],
    "8.30": ["outsourced development"],
    "8.31": ["separation of environments", "test environments"],
    "8.32": ["change management", "change control", "cab"],
    "8.33": ["test data", "test information"],
    "8.34": ["audit testing"],
}

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9]+")


def normalise(text: str) -> str:
    """Lower-case, punctuation to single spaces, British/American '-ise/-ize' folded."""
    out = _NON_ALNUM.sub(" ", text.lower()).strip()
    return out.replace("isation", "ization").replace("ise ", "ize ")


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    theme: str
    legacy_ids: tuple[str, ...]
    new_in_2022: bool
    control_type: tuple[str, ...]
    properties: tuple[str, ...]
    concepts: tuple[str, ...]
    capabilities: tuple[str, ...]
    domains: tuple[str, ...]
    aliases: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return f"{self.id} {self.title}"


@dataclass(frozen=True)
class Clause:
    id: str
    title: str


def _split(cell: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in cell.split(";") if p.strip())


def _sort_key(control_id: str) -> tuple[int, int]:
    theme, number = control_id.split(".")
    return int(theme), int(number)


class Catalogue:
    """The Annex A controls and clauses, with tolerant lookup."""

    def __init__(self, controls: list[Control], clauses: list[Clause]) -> None:
        self.controls: dict[str, Control] = {c.id: c for c in sorted(controls, key=lambda c: _sort_key(c.id))}
        self.clauses: dict[str, Clause] = {c.id: c for c in clauses}
        self.legacy_map: dict[str, list[str]] = {}
        for control in self.controls.values():
            for legacy in control.legacy_ids:
                self.legacy_map.setdefault(legacy.upper(), []).append(control.id)
        self._by_name: dict[str, str] = {}
        for control in self.controls.values():
            self._by_name[normalise(control.title)] = control.id
            for alias in control.aliases:
                self._by_name.setdefault(normalise(alias), control.id)

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR) -> Catalogue:
        controls = []
        with open(data_dir / "iso27001_2022_annex_a.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                controls.append(
                    Control(
                        id=row["id"].strip(),
                        title=row["title"].strip(),
                        theme=row["theme"].strip(),
                        legacy_ids=_split(row["iso27001_2013_ids"]),
                        new_in_2022=row["new_in_2022"].strip().lower() == "true",
                        control_type=_split(row["control_type"]),
                        properties=_split(row["properties"]),
                        concepts=_split(row["concepts"]),
                        capabilities=_split(row["capabilities"]),
                        domains=_split(row["domains"]),
                        aliases=tuple(ALIASES.get(row["id"].strip(), ())),
                    )
                )
        with open(data_dir / "iso27001_2022_clauses.csv", encoding="utf-8") as fh:
            clauses = [Clause(id=r["id"].strip(), title=r["title"].strip()) for r in csv.DictReader(fh)]
        return cls(controls, clauses)

    def __len__(self) -> int:
        return len(self.controls)

    def __contains__(self, control_id: str) -> bool:
        return control_id in self.controls

    def get(self, control_id: str) -> Control | None:
        return self.controls.get(control_id)

    def from_legacy(self, legacy_id: str) -> list[Control]:
        """2013 id (``A.9.2.5`` or ``9.2.5``) → the 2022 control(s) it maps to."""
        m = LOOKUP_ID_2013.match(normalise(legacy_id).replace(" ", "."))
        if not m:
            return []
        key = "A." + ".".join(m.groups())
        return [self.controls[cid] for cid in self.legacy_map.get(key, [])]

    def lookup(self, text: str) -> list[Control]:
        """Resolve a 2022 id, 2013 id, title or alias; empty list when nothing matches."""
        raw = text.strip()
        norm = normalise(raw)
        if not norm:
            return []
        dotted = re.sub(r"\s+", "", raw.lower()).replace("annexa", "")
        m = LOOKUP_ID_2022.match(dotted) or LOOKUP_ID_2022.match(norm.replace(" ", "."))
        if m:
            cid = f"{m.group(1)}.{int(m.group(2))}"
            return [self.controls[cid]] if cid in self.controls else []
        legacy = self.from_legacy(dotted)
        if legacy:
            return legacy
        if norm in self._by_name:
            return [self.controls[self._by_name[norm]]]
        return []

    def resolve(self, text: str) -> Control:
        """Like `lookup` but exactly one control or a clear ValueError."""
        found = self.lookup(text)
        if not found:
            raise ValueError(f"unknown control {text!r}: not an ISO/IEC 27001:2022 Annex A id, 2013 id, title or alias")
        return found[0]

    def search_names(self, text: str) -> list[str]:
        """Control ids whose title or alias occurs in `text` as whole words (longest names first)."""
        norm = f" {normalise(text)} "
        found: list[str] = []
        for name in sorted(self._by_name, key=len, reverse=True):
            if len(name) < 3:
                continue
            needle = f" {name} "
            if needle in norm:
                cid = self._by_name[name]
                if cid not in found:
                    found.append(cid)
                norm = norm.replace(needle, " | ")
        return found

    def name_matches(self, text: str) -> list[tuple[str, str]]:
        """(control id, the words as written) for each control title or alias in `text`, left to right,
        longest name first at each position; names shorter than 3 characters are ignored."""
        words = list(_WORD.finditer(text))
        longest = max((len(n.split()) for n in self._by_name), default=1)
        found: list[tuple[str, str]] = []
        i = 0
        while i < len(words):
            step = 1
            for j in range(min(len(words), i + longest), i, -1):
                span = text[words[i].start():words[j - 1].end()]
                key = normalise(span)
                if len(key) >= 3 and key in self._by_name:
                    found.append((self._by_name[key], span))
                    step = j - i
                    break
            i += step
        return found


@lru_cache(maxsize=1)
def get_catalogue() -> Catalogue:
    return Catalogue.load()
