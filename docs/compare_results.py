"""Compare the stored results of two versions of vae-bench: runs matched by config (seed
included), every stored metric but the timings compared value by value, and the claims
verdicts with their reasons read from each version's own claims report.

    python docs/compare_results.py RESULTS_A REPORTS_A RESULTS_B REPORTS_B

Used for issue 11: the quick ablations and claims suites run at 534c149 (before the restructure
of `bench`) and at 24d6b6a (after it) into separate folders, then compared with this script.
"""

import json
import math
import re
import sys
from pathlib import Path

TIMING = {"train_images_per_s", "infer_images_per_s", "train_seconds"}


def runs(results: Path, suite: str) -> dict[str, dict]:
    """Stored runs of `suite` by their config (as sorted JSON): status and metrics."""
    paths = sorted((results / suite).glob("*/metrics.json"))  # the layout before the shared runs/ folder
    if (manifest := results / suite / "manifest.json").is_file():  # today's: the runs its manifest lists
        keys = dict.fromkeys(e["key"] for e in json.loads(manifest.read_text())["entries"])
        paths += [path for key in keys if (path := results / "runs" / key / "metrics.json").is_file()]
    out = {}
    for path in paths:
        if not path.parent.name.startswith("."):
            config = json.loads((path.parent / "config.json").read_text())
            out[json.dumps(config, sort_keys=True)] = json.loads(path.read_text())
    return out


def verdicts(report: Path) -> dict[str, tuple[str, str]]:
    """claim -> (verdict, why) from the ledger table of a claims report."""
    rows = re.findall(r'<tr><td><a href="#(C\d+)">C\d+</a></td><td>.*?</td><td>'
                      r'<span class="verdict (\w+)[^"]*">[^<]*</span></td><td>(.*?)</td></tr>',
                      report.read_text(), flags=re.S)
    return {claim: (verdict, re.sub(r"\s+", " ", why)) for claim, verdict, why in rows}


def same(a: object, b: object) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return a == b or nan


def main(results_a: Path, reports_a: Path, results_b: Path, reports_b: Path) -> None:
    for suite in ("ablations", "claims"):
        a, b = runs(results_a, suite), runs(results_b, suite)
        common = sorted(set(a) & set(b))
        compared, differ, statuses = 0, 0, 0
        for key in common:
            ma, mb = a[key]["metrics"], b[key]["metrics"]
            statuses += a[key]["status"] != b[key]["status"]
            for name in sorted((set(ma) | set(mb)) - TIMING):
                compared += 1
                if not same(ma.get(name, "<missing>"), mb.get(name, "<missing>")):
                    differ += 1
                    print(f"  {suite} {name}: {ma.get(name, '<missing>')} vs {mb.get(name, '<missing>')}")
        print(f"{suite}: {len(a)} runs before, {len(b)} after, {len(common)} with the same config; {compared} "
              f"metric values compared (timings excluded), {differ} differ; {statuses} statuses differ")
    before, after = verdicts(reports_a / "claims.html"), verdicts(reports_b / "claims.html")
    print(f"claims: {len(before)} verdicts before, {len(after)} after")
    for claim in sorted(set(before) | set(after), key=lambda c: int(c[1:])):
        x, y = before.get(claim, ("-", "-")), after.get(claim, ("-", "-"))
        print(f"  {claim}: {x[0]} -> {y[0]}, reason {'the same' if x[1] == y[1] else 'changed'}")
        if x[1] != y[1]:
            print(f"    before: {x[1]}\n    after:  {y[1]}")


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:5]))
