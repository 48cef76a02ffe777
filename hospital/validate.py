"""`hospital validate`: the realism rules, as data, run over a finished run's warehouse.

Each rule in hospital/realism_rules.toml is one SQL query that returns a measured value and the
number of cases it was measured on, a band the value must lie in, and the source of that band.
The command prints one line per rule and a verdict; a rule with fewer cases than its `min_cases`
is reported as "too few" and does not decide the verdict (a small test run has no ICU deaths to
count). Rules are SQL rather than Python so that they read the warehouse the way an analyst would,
apart from the generators they judge.

    hospital validate                 # the table and the verdict; exit 1 if a rule fails
    hospital validate --markdown      # the same as a Markdown table (the README's)
    hospital validate --json          # one JSON object per rule, for scripts
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from core.settings import SettingsError, load
from database.connection import connect

RULES_FILE = Path(__file__).with_name("realism_rules.toml")
UNITS = ("share", "count", "number")


@dataclass(frozen=True)
class Rule:
    """One realism rule: `sql` returns one row (value, cases); the value must be in [low, high]."""

    name: str
    what: str
    sql: str
    low: float
    high: float
    unit: str
    source: str
    min_cases: int = 1


@dataclass(frozen=True)
class Finding:
    rule: Rule
    value: float | None
    cases: int

    @property
    def verdict(self) -> str:
        if self.cases < self.rule.min_cases or self.value is None:
            return "too few"
        return "pass" if self.rule.low <= self.value <= self.rule.high else "FAIL"


class RulesError(ValueError):
    """The rules file is not what this module reads (one line saying where and why)."""


def read_rules(path: Path = RULES_FILE) -> list[Rule]:
    """The rules of `path`, checked: every field present, a known unit, low <= high, unique names."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: {exc}") from None
    rules, seen = [], set()
    for n, entry in enumerate(data.get("rule", []), start=1):
        try:
            rule = Rule(name=entry["name"], what=entry["what"], sql=entry["sql"], low=float(entry["low"]),
                        high=float(entry["high"]), unit=entry["unit"], source=entry["source"],
                        min_cases=int(entry.get("min_cases", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            raise RulesError(f"{path}: rule {n}: missing or bad field {exc}") from None
        if rule.unit not in UNITS or rule.low > rule.high or rule.name in seen or not rule.source.strip():
            raise RulesError(f"{path}: rule {rule.name!r}: unit must be one of {UNITS}, low <= high, "
                             "the name unique and the source stated")
        seen.add(rule.name)
        rules.append(rule)
    if not rules:
        raise RulesError(f"{path}: no [[rule]] entries")
    return rules


def measure(conn, rules: list[Rule]) -> list[Finding]:
    """Run every rule's query in one read-only transaction (one consistent snapshot)."""
    findings = []
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION READ ONLY")
        for rule in rules:
            cur.execute(rule.sql)
            value, cases = cur.fetchone() or (None, 0)  # a grouped query over no rows returns none
            value = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
            findings.append(Finding(rule, value, int(cases or 0)))
    conn.rollback()
    return findings


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value:.1%}"
    return f"{value:,.0f}" if unit == "count" or abs(value) >= 100 else f"{value:,.2f}"


def _band(rule: Rule) -> str:
    high = "" if math.isinf(rule.high) else _shown(rule.high, rule.unit)
    return f"{_shown(rule.low, rule.unit)} - {high}" if high else f">= {_shown(rule.low, rule.unit)}"


def render(findings: list[Finding]) -> str:
    width = max(len(f.rule.what) for f in findings)
    lines = [f"{'rule':<{width}}  {'value':>9}  {'band':<17} {'cases':>9}  verdict"]
    lines += [f"{f.rule.what:<{width}}  {_shown(f.value, f.rule.unit):>9}  {_band(f.rule):<17} "
              f"{f.cases:>9,}  {f.verdict}" for f in findings]
    lines.append(verdict_line(findings))
    return "\n".join(lines)


def render_markdown(findings: list[Finding]) -> str:
    lines = ["| rule | value | band | cases | verdict | source of the band |", "|---|---|---|---|---|---|"]
    lines += [f"| {f.rule.what} | {_shown(f.value, f.rule.unit)} | {_band(f.rule)} | {f.cases:,} | {f.verdict} "
              f"| {f.rule.source} |" for f in findings]
    return "\n".join(lines) + "\n\n" + verdict_line(findings)


def verdict_line(findings: list[Finding]) -> str:
    failed = [f.rule.name for f in findings if f.verdict == "FAIL"]
    measured = sum(f.verdict != "too few" for f in findings)
    if not measured:
        return f"VALIDATE FAIL: no rule had cases to measure ({len(findings)} rules): run the window first"
    head = "VALIDATE FAIL" if failed else "VALIDATE PASS"
    tail = f"; failed: {', '.join(failed)}" if failed else ""
    return f"{head}: {measured - len(failed)} of {measured} measured rules in their band, " \
           f"{len(findings) - measured} with too few cases{tail}"


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run the realism rules (each a query, a band and "
                                     "its source) over the warehouse of a finished run; exit 1 if one fails.")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON object per rule")
    shape.add_argument("--markdown", action="store_true", help="a Markdown table with the sources")
    parser.add_argument("--rules", type=Path, default=RULES_FILE, help=f"the rules file (default {RULES_FILE.name})")
    args = parser.parse_args(argv)
    try:
        rules = read_rules(args.rules)
        conn = connect(settings=load())
    except (RulesError, SettingsError) as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    try:
        findings = measure(conn, rules)
    finally:
        conn.close()
    if args.json:
        print(json.dumps([{**asdict(f.rule), "high": None if math.isinf(f.rule.high) else f.rule.high,
                           "value": f.value, "cases": f.cases, "verdict": f.verdict} for f in findings], indent=2))
    else:
        print(render_markdown(findings) if args.markdown else render(findings))
    return 0 if passed(findings) else 1


def passed(findings: list[Finding]) -> bool:
    """The verdict: at least one rule measured, and no measured rule outside its band."""
    return any(f.verdict == "pass" for f in findings) and not any(f.verdict == "FAIL" for f in findings)


if __name__ == "__main__":
    sys.exit(main())
