"""The HTML reports: one module per kind, registered in `REPORTS` by the name a suite's
`report` field gives (`bench.suites.Suite.report`), plus the study report (`study.py`).

Every report is one self-contained, autoescaped file with its figures inline; it opens offline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.reports import ablations, claims
from bench.reports.html import write_html
from bench.store import Manifest, RunRecord

#: report kind -> (context builder, template)
REPORTS: dict[str, tuple[Callable[[list[RunRecord], Manifest], dict], str]] = {
    "axes": (ablations.context, "ablations.html.j2"),
    "claims": (claims.context, "claims.html.j2"),
}


def write_report(records: list[RunRecord], manifest: Manifest, reports_dir: Path) -> Path:
    """Render the suite's report, of the kind its manifest names, as `<reports>/<suite>.html`."""
    build, template = REPORTS[manifest.report]
    return write_html(Path(reports_dir) / f"{manifest.suite}.html", build(records, manifest), template)
