#!/usr/bin/env python3
"""Validate the default requirement catalog and questionnaire against each other.

Usage: python3 catalog/check.py [CATALOG_JSON QUESTIONNAIRE_JSON]

Without arguments it checks resilience-v1.json and vendor-resilience-assessment.json next to
this script. Exits 0 and prints a one-line summary when both files are valid and consistent;
otherwise prints one line per problem and exits 1. Standard library only.
"""

import json
import os
import re
import sys

PRINCIPLES = {
    "integrate_defensively": "INT",
    "test_completely": "TST",
    "deploy_pessimistically": "DEP",
    "run_cautiously": "RUN",
    "observe_obsessively": "OBS",
    "recover_urgently": "REC",
    "update_frequently": "UPD",
    "govern_resilience": "GOV",
}
SEVERITIES = {"critical", "high", "medium", "low"}
EVIDENCE_KINDS = {
    "soc2_type2", "iso27001_certificate", "dr_test_report", "backup_restore_report",
    "pentest_report", "incident_response_plan", "runbook", "slo_report", "load_test_report",
    "chaos_experiment_report", "change_management_policy", "architecture_diagram",
    "vulnerability_scan_report", "patch_policy", "training_record", "fmea_report",
    "subprocessor_list", "business_continuity_plan", "postmortem_sample", "monitoring_dashboard",
}
MAPPING_PATTERNS = {
    "dora": re.compile(r"^Art\.(11|12|24|25|26|27|28|30)$"),
    "iso27001-2022": re.compile(r"^A\.5\.(19|20|21|22|23|29|30)$"),
    "nist-800-53": re.compile(r"^(CP|IR|SR)-[1-9][0-9]?$"),
    "aws-well-architected": re.compile(r"^REL ([1-9]|1[0-3])$"),
}
QUESTION_TYPES = {"yes_no", "single_choice", "multi_choice", "number", "text", "date", "evidence"}
SCORED_TYPES = {"yes_no", "single_choice", "multi_choice", "number"}
CHOICE_TYPES = {"single_choice", "multi_choice"}

REQ_KEYS = {"ref", "title", "description", "principle", "severity", "weight", "must_pass",
            "evidence", "remediation", "mappings"}
CATALOG_KEYS = {"key", "name", "version", "description", "requirements"}
QUESTIONNAIRE_KEYS = {"name", "description", "framework_key", "sections"}
SECTION_KEYS = {"key", "title", "questions"}
QUESTION_KEYS = {"key", "text", "help", "type", "required", "allow_na", "options", "scoring",
                 "range", "requirements", "show_if"}
QUESTION_EXTRA_KEYS = {"evidence_kinds"}  # beyond DESIGN.md: only on evidence questions

REF_RE = re.compile(r"^RR-(INT|TST|DEP|RUN|OBS|REC|UPD|GOV)-[0-9]{2}$")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
SEMVER_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")

MIN_REQUIREMENTS = 40
MIN_PER_PRINCIPLE = 4
QUESTIONS_RANGE = (40, 70)
MUST_PASS_RANGE = (6, 9)
SHOW_IF_RANGE = (3, 6)

errors = []


def err(where, message):
    errors.append(f"{where}: {message}")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def nonempty_str(v):
    return isinstance(v, str) and v.strip() != ""


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        err(path, f"cannot read: {e}")
        return None
    if "://" in text:
        err(path, "contains a URL ('://'); the catalog files must not carry links")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        err(path, f"invalid JSON: {e}")
        return None


# --------------------------------------------------------------------------- catalog

def check_catalog(cat, name):
    if not isinstance(cat, dict):
        err(name, "top level must be an object")
        return {}
    missing = CATALOG_KEYS - cat.keys()
    extra = cat.keys() - CATALOG_KEYS
    if missing:
        err(name, f"missing keys {sorted(missing)}")
    if extra:
        err(name, f"unexpected keys {sorted(extra)}")
    for k in ("key", "name", "description"):
        if not nonempty_str(cat.get(k)):
            err(name, f"'{k}' must be a non-empty string")
    if not (isinstance(cat.get("version"), str) and SEMVER_RE.match(cat["version"])):
        err(name, "'version' must look like 1.0.0")
    reqs = cat.get("requirements")
    if not isinstance(reqs, list):
        err(name, "'requirements' must be a list")
        return {}
    if len(reqs) < MIN_REQUIREMENTS:
        err(name, f"{len(reqs)} requirements; at least {MIN_REQUIREMENTS} expected")

    by_ref = {}
    for i, r in enumerate(reqs):
        where = f"{name}: requirements[{i}]"
        if not isinstance(r, dict):
            err(where, "must be an object")
            continue
        ref = r.get("ref")
        if isinstance(ref, str):
            where = f"{name}: {ref}"
        missing = REQ_KEYS - r.keys()
        extra = r.keys() - REQ_KEYS
        if missing:
            err(where, f"missing keys {sorted(missing)}")
        if extra:
            err(where, f"unexpected keys {sorted(extra)}")
        if not (isinstance(ref, str) and REF_RE.match(ref)):
            err(where, f"ref {ref!r} must match RR-<PRINCIPLE>-NN")
        elif ref in by_ref:
            err(where, "duplicate ref")
        else:
            by_ref[ref] = r
        for k in ("title", "description", "remediation"):
            if not nonempty_str(r.get(k)):
                err(where, f"'{k}' must be a non-empty string")
        principle = r.get("principle")
        if principle not in PRINCIPLES:
            err(where, f"invalid principle {principle!r}")
        elif isinstance(ref, str) and REF_RE.match(ref) and ref.split("-")[1] != PRINCIPLES[principle]:
            err(where, f"ref prefix does not match principle {principle}")
        if r.get("severity") not in SEVERITIES:
            err(where, f"invalid severity {r.get('severity')!r}")
        w = r.get("weight")
        if not (is_number(w) and w > 0):
            err(where, f"weight {w!r} must be a number > 0")
        if not isinstance(r.get("must_pass"), bool):
            err(where, "must_pass must be a boolean")
        elif r["must_pass"] and r.get("severity") != "critical":
            err(where, "a must_pass requirement should have severity critical")
        check_evidence(r.get("evidence"), where)
        check_mappings(r.get("mappings"), where)

    counts = {p: 0 for p in PRINCIPLES}
    for r in by_ref.values():
        if r.get("principle") in counts:
            counts[r["principle"]] += 1
    for p, n in counts.items():
        if n < MIN_PER_PRINCIPLE:
            err(name, f"principle {p} has {n} requirements; at least {MIN_PER_PRINCIPLE} expected")
    # numbering within a principle should be 01..N without holes
    for p, prefix in PRINCIPLES.items():
        nums = sorted(int(ref[-2:]) for ref in by_ref if ref.split("-")[1] == prefix)
        if nums and nums != list(range(1, len(nums) + 1)):
            err(name, f"refs of {p} are not numbered 01..{len(nums):02d} without gaps: {nums}")
    must = [ref for ref, r in by_ref.items() if r.get("must_pass") is True]
    if not (MUST_PASS_RANGE[0] <= len(must) <= MUST_PASS_RANGE[1]):
        err(name, f"{len(must)} must_pass requirements; expected {MUST_PASS_RANGE[0]}-{MUST_PASS_RANGE[1]}")
    return by_ref


def check_evidence(ev, where):
    if not isinstance(ev, dict):
        err(where, "evidence must be an object")
        return
    keys = {"required", "kinds", "max_age_days"}
    if set(ev.keys()) != keys:
        err(where, f"evidence must have exactly the keys {sorted(keys)}")
    required, kinds, age = ev.get("required"), ev.get("kinds"), ev.get("max_age_days")
    if not isinstance(required, bool):
        err(where, "evidence.required must be a boolean")
        return
    if not isinstance(kinds, list):
        err(where, "evidence.kinds must be a list")
        return
    if age is not None and not (isinstance(age, int) and not isinstance(age, bool) and age > 0):
        err(where, f"evidence.max_age_days {age!r} must be null or a positive integer")
    if required:
        if not kinds:
            err(where, "evidence.required is true but kinds is empty")
        for k in kinds:
            if k not in EVIDENCE_KINDS:
                err(where, f"unknown evidence kind {k!r}")
        if len(set(kinds)) != len(kinds):
            err(where, "duplicate evidence kinds")
    else:
        if kinds:
            err(where, "evidence.required is false but kinds is not empty")
        if age is not None:
            err(where, "evidence.required is false but max_age_days is set")


def check_mappings(mappings, where):
    if not isinstance(mappings, list):
        err(where, "mappings must be a list")
        return
    seen = set()
    for m in mappings:
        if not (isinstance(m, dict) and set(m.keys()) == {"framework", "ref"}):
            err(where, f"mapping {m!r} must be exactly {{framework, ref}}")
            continue
        fw, ref = m["framework"], m["ref"]
        pattern = MAPPING_PATTERNS.get(fw)
        if pattern is None:
            err(where, f"unknown mapping framework {fw!r}")
        elif not (isinstance(ref, str) and pattern.match(ref)):
            err(where, f"mapping ref {ref!r} is not valid for {fw}")
        if (fw, ref) in seen:
            err(where, f"duplicate mapping {fw} {ref}")
        seen.add((fw, ref))


# --------------------------------------------------------------------------- questionnaire

def max_score(q):
    t = q.get("type")
    if t == "yes_no":
        return 1
    if t == "single_choice":
        return max((o.get("score", 0) for o in q.get("options") or [] if is_number(o.get("score"))), default=0)
    if t == "multi_choice":
        return min(1, sum(o.get("score", 0) for o in q.get("options") or [] if is_number(o.get("score"))))
    if t == "number":
        sc = q.get("scoring") or {}
        scores = [th.get("score", 0) for th in sc.get("thresholds") or [] if is_number(th.get("score"))]
        scores.append(sc.get("otherwise", 0) if is_number(sc.get("otherwise", 0)) else 0)
        return max(scores)
    return None


def check_options(q, where):
    opts = q.get("options")
    if not isinstance(opts, list) or len(opts) < 2:
        err(where, "choice question needs a list of at least 2 options")
        return
    values = set()
    for o in opts:
        if not (isinstance(o, dict) and set(o.keys()) == {"value", "label", "score"}):
            err(where, f"option {o!r} must be exactly {{value, label, score}}")
            continue
        v = o["value"]
        if not (isinstance(v, str) and SNAKE_RE.match(v)):
            err(where, f"option value {v!r} must be snake_case")
        elif v in values:
            err(where, f"duplicate option value {v!r}")
        values.add(v)
        if v in ("na", "yes", "no"):
            err(where, f"option value {v!r} is reserved")
        if not nonempty_str(o["label"]):
            err(where, f"option {v!r} needs a label")
        if not (is_number(o["score"]) and 0 <= o["score"] <= 1):
            err(where, f"option {v!r} score {o['score']!r} must be a number in [0, 1]")


def check_number(q, where):
    sc, rg = q.get("scoring"), q.get("range")
    if not isinstance(rg, dict) or set(rg.keys()) != {"min", "max"}:
        err(where, "number question needs range {min, max}")
        rg = None
    elif not (is_number(rg["min"]) and is_number(rg["max"]) and rg["min"] < rg["max"]):
        err(where, f"range {rg!r} must have numeric min < max")
        rg = None
    if not isinstance(sc, dict) or not (set(sc.keys()) <= {"thresholds", "otherwise"}) or "thresholds" not in sc:
        err(where, "number question needs scoring {thresholds, otherwise}")
        return
    ths = sc["thresholds"]
    if not isinstance(ths, list) or not ths:
        err(where, "scoring.thresholds must be a non-empty list")
        return
    otherwise = sc.get("otherwise", 0)
    if not (is_number(otherwise) and 0 <= otherwise <= 1):
        err(where, f"scoring.otherwise {otherwise!r} must be a number in [0, 1]")
    best_lte, best_gte = None, None  # widest bound seen so far, to detect unreachable thresholds
    for th in ths:
        if not isinstance(th, dict):
            err(where, f"threshold {th!r} must be an object")
            continue
        ops = [k for k in ("lte", "gte") if k in th]
        if len(ops) != 1 or set(th.keys()) != {ops[0], "score"}:
            err(where, f"threshold {th!r} must be {{lte|gte, score}}")
            continue
        op, x, s = ops[0], th[ops[0]], th["score"]
        if not is_number(x):
            err(where, f"threshold bound {x!r} must be a number")
            continue
        if not (is_number(s) and 0 <= s <= 1):
            err(where, f"threshold score {s!r} must be a number in [0, 1]")
        if rg and not (rg["min"] <= x <= rg["max"]):
            err(where, f"threshold bound {x} lies outside range {rg['min']}..{rg['max']}")
        if op == "lte":
            if best_lte is not None and x <= best_lte:
                err(where, f"threshold lte {x} can never match (an earlier lte {best_lte} covers it)")
            best_lte = x if best_lte is None else max(best_lte, x)
        else:
            if best_gte is not None and x >= best_gte:
                err(where, f"threshold gte {x} can never match (an earlier gte {best_gte} covers it)")
            best_gte = x if best_gte is None else min(best_gte, x)


def check_questionnaire(qn, name, cat_key, by_ref):
    if not isinstance(qn, dict):
        err(name, "top level must be an object")
        return None
    missing = QUESTIONNAIRE_KEYS - qn.keys()
    extra = qn.keys() - QUESTIONNAIRE_KEYS
    if missing:
        err(name, f"missing keys {sorted(missing)}")
    if extra:
        err(name, f"unexpected keys {sorted(extra)} (framework_id is filled in by the loader)")
    for k in ("name", "description"):
        if not nonempty_str(qn.get(k)):
            err(name, f"'{k}' must be a non-empty string")
    if qn.get("framework_key") != cat_key:
        err(name, f"framework_key {qn.get('framework_key')!r} does not match the catalog key {cat_key!r}")
    sections = qn.get("sections")
    if not isinstance(sections, list) or not sections:
        err(name, "'sections' must be a non-empty list")
        return None

    questions = []  # document order
    section_keys = set()
    for si, s in enumerate(sections):
        where = f"{name}: sections[{si}]"
        if not isinstance(s, dict):
            err(where, "must be an object")
            continue
        if set(s.keys()) != SECTION_KEYS:
            err(where, f"section must have exactly the keys {sorted(SECTION_KEYS)}")
        sk = s.get("key")
        if not (isinstance(sk, str) and SNAKE_RE.match(sk)):
            err(where, f"section key {sk!r} must be snake_case")
        elif sk in section_keys:
            err(where, f"duplicate section key {sk!r}")
        section_keys.add(sk)
        if not nonempty_str(s.get("title")):
            err(where, "section needs a title")
        qs = s.get("questions")
        if not isinstance(qs, list) or not qs:
            err(where, f"section {sk!r} has no questions")
            continue
        for q in qs:
            questions.append(q)

    lo, hi = QUESTIONS_RANGE
    if not (lo <= len(questions) <= hi):
        err(name, f"{len(questions)} questions; expected {lo}-{hi}")

    seen = {}  # key -> question, only questions before the current one
    show_if_count = 0
    for i, q in enumerate(questions):
        where = f"{name}: question[{i}]"
        if not isinstance(q, dict):
            err(where, "must be an object")
            continue
        key = q.get("key")
        if isinstance(key, str):
            where = f"{name}: {key}"
        missing = {"key", "text", "help", "type", "required", "allow_na", "requirements"} - q.keys()
        extra = q.keys() - QUESTION_KEYS - QUESTION_EXTRA_KEYS
        if missing:
            err(where, f"missing keys {sorted(missing)}")
        if extra:
            err(where, f"unexpected keys {sorted(extra)}")
        if not (isinstance(key, str) and SNAKE_RE.match(key)):
            err(where, f"question key {key!r} must be snake_case")
        elif key in seen:
            err(where, "duplicate question key")
        for k in ("text", "help"):
            if not nonempty_str(q.get(k)):
                err(where, f"'{k}' must be a non-empty string")
        t = q.get("type")
        if t not in QUESTION_TYPES:
            err(where, f"invalid type {t!r}")
        for k in ("required", "allow_na"):
            if not isinstance(q.get(k), bool):
                err(where, f"'{k}' must be a boolean")
        if q.get("allow_na") is True and t != "yes_no":
            err(where, "allow_na is only meaningful on yes_no questions ('na' answers)")

        # type-specific shape
        if t in CHOICE_TYPES:
            check_options(q, where)
        elif q.get("options") not in (None, []):
            err(where, f"{t} question must not have options")
        if t == "number":
            check_number(q, where)
        else:
            if q.get("scoring") is not None:
                err(where, f"{t} question must not have scoring")
            if q.get("range") is not None:
                err(where, f"{t} question must not have a range")
        if t == "evidence":
            ek = q.get("evidence_kinds")
            if not isinstance(ek, list) or not ek:
                err(where, "evidence question needs a non-empty evidence_kinds list")
            else:
                for k in ek:
                    if k not in EVIDENCE_KINDS:
                        err(where, f"unknown evidence kind {k!r}")
        elif "evidence_kinds" in q:
            err(where, "evidence_kinds is only for evidence questions")
        if t in SCORED_TYPES and max_score(q) != 1:
            err(where, f"best possible answer scores {max_score(q)}, not 1")

        # requirement mappings
        reqs = q.get("requirements")
        if not isinstance(reqs, list):
            err(where, "'requirements' must be a list")
            reqs = []
        refs_here = set()
        for m in reqs:
            if not (isinstance(m, dict) and set(m.keys()) == {"ref", "weight"}):
                err(where, f"requirement mapping {m!r} must be exactly {{ref, weight}}")
                continue
            if m["ref"] not in by_ref:
                err(where, f"maps unknown requirement {m['ref']!r}")
            if m["ref"] in refs_here:
                err(where, f"maps {m['ref']} twice")
            refs_here.add(m["ref"])
            if not (is_number(m["weight"]) and m["weight"] > 0):
                err(where, f"mapping weight {m['weight']!r} must be a number > 0")
        if t in SCORED_TYPES and not reqs:
            err(where, "scored question maps no requirement")
        if t == "evidence":
            if not reqs:
                err(where, "evidence question maps no requirement")
            ek = set(q.get("evidence_kinds") or [])
            for ref in refs_here:
                r = by_ref.get(ref)
                if r is None:
                    continue
                ev = r.get("evidence") or {}
                if ev.get("required") is not True:
                    err(where, f"evidence question maps {ref}, which does not require evidence")
                elif not ek & set(ev.get("kinds") or []):
                    err(where, f"evidence_kinds share no kind with {ref}'s {ev.get('kinds')}")

        # show_if: only earlier questions, valid answers
        si = q.get("show_if")
        if si is not None:
            show_if_count += 1
            conds = [k for k in ("equals", "in", "answered") if k in si] if isinstance(si, dict) else []
            if not isinstance(si, dict) or "question" not in si or len(conds) != 1 \
                    or set(si.keys()) != {"question", conds[0]}:
                err(where, f"show_if {si!r} must be {{question, equals|in|answered}}")
            else:
                target = seen.get(si["question"])
                if target is None:
                    err(where, f"show_if refers to {si['question']!r}, which is not an earlier question")
                else:
                    cond = conds[0]
                    tt = target.get("type")
                    if tt == "yes_no":
                        valid = {"yes", "no"} | ({"na"} if target.get("allow_na") else set())
                    elif tt in CHOICE_TYPES:
                        valid = {o.get("value") for o in target.get("options") or [] if isinstance(o, dict)}
                    else:
                        valid = None
                    if cond == "answered":
                        if si["answered"] is not True:
                            err(where, "show_if.answered must be true")
                    else:
                        vals = [si["equals"]] if cond == "equals" else si["in"]
                        if cond == "in" and (not isinstance(vals, list) or not vals):
                            err(where, "show_if.in must be a non-empty list")
                            vals = []
                        if valid is None:
                            err(where, f"show_if.{cond} on a {tt} question; use answered")
                        else:
                            for v in vals:
                                if v not in valid:
                                    err(where, f"show_if value {v!r} is not an answer of {si['question']}")
        if isinstance(key, str) and key not in seen:
            seen[key] = q

    lo, hi = SHOW_IF_RANGE
    if not (lo <= show_if_count <= hi):
        err(name, f"{show_if_count} show_if uses; expected {lo}-{hi}")

    # coverage of the catalog
    scored_by = {ref: [] for ref in by_ref}
    evidence_by = {ref: [] for ref in by_ref}
    for q in questions:
        if not isinstance(q, dict):
            continue
        for m in q.get("requirements") or []:
            if not isinstance(m, dict) or m.get("ref") not in by_ref:
                continue
            if q.get("type") in SCORED_TYPES:
                scored_by[m["ref"]].append(q)
            if q.get("type") == "evidence":
                evidence_by[m["ref"]].append(q)
    for ref, r in by_ref.items():
        if not scored_by[ref]:
            err(name, f"requirement {ref} is not mapped by any scored question (it could never be assessed)")
        if (r.get("evidence") or {}).get("required") is True and not evidence_by[ref]:
            err(name, f"requirement {ref} requires evidence but no evidence question maps it")
        if r.get("must_pass") is True and not any(
                q.get("required") is True and not q.get("allow_na") and q.get("show_if") is None
                for q in scored_by[ref]):
            err(name, f"must_pass requirement {ref} needs a required, always-visible scored question without N/A")
    return questions, show_if_count


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    if len(argv) == 3:
        cat_path, qn_path = argv[1], argv[2]
    elif len(argv) == 1:
        cat_path = os.path.join(here, "resilience-v1.json")
        qn_path = os.path.join(here, "vendor-resilience-assessment.json")
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    cat_name, qn_name = os.path.basename(cat_path), os.path.basename(qn_path)
    cat, qn = load(cat_path), load(qn_path)
    by_ref = check_catalog(cat, cat_name) if cat is not None else {}
    result = None
    if qn is not None:
        result = check_questionnaire(qn, qn_name, (cat or {}).get("key"), by_ref)
    if errors:
        for e in errors:
            print(f"ERROR {e}", file=sys.stderr)
        print(f"FAILED: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    questions, show_if_count = result
    counts = {p: 0 for p in PRINCIPLES}
    for r in by_ref.values():
        counts[r["principle"]] += 1
    must = sorted(ref for ref, r in by_ref.items() if r["must_pass"])
    ev_req = sum(1 for r in by_ref.values() if r["evidence"]["required"])
    per = " ".join(f"{PRINCIPLES[p]}={n}" for p, n in counts.items())
    print(f"OK: {len(by_ref)} requirements ({per}); {len(questions)} questions in "
          f"{len(qn['sections'])} sections; must_pass={len(must)} ({', '.join(must)}); "
          f"evidence-required={ev_req}; show_if={show_if_count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
