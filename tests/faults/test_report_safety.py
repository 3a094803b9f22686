"""Hostile labels, a diverging run, and a report that loads nothing from the network."""

import re
from html.parser import HTMLParser

import pytest
from helpers import exit_code

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "</style><b onclick=alert(3)>x</b>"]

SUITE_FILE = f'''
name = "hostile"
description = {HOSTILE[0]!r}
seeds = 2
[defaults]
dataset = "digits"
epochs = 2
[[runs]]
label = {HOSTILE[0]!r}
[[runs]]
label = {HOSTILE[1]!r}
model = "ae"
beta = 0.0
[[runs]]
label = {HOSTILE[2]!r}
axis = {HOSTILE[1]!r}
recon_loss = "mse"
[[runs]]
label = "lr ten $x^{{"
lr = 10.0
'''


class Tags(HTMLParser):
    """Every tag and attribute the browser would see."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    (root / "hostile.toml").write_text(SUITE_FILE)
    assert exit_code(["run", "--suite-file", root / "hostile.toml", "--results", root / "r", "--reports", root / "p",
                      "--no-progress"]) == 0
    return (root / "p" / "hostile.html").read_text()


def test_hostile_labels_are_escaped(hostile_report, survived):
    for text in HOSTILE:
        assert text not in hostile_report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_report
    parser = Tags()
    parser.feed(hostile_report)
    assert "script" not in parser.tags
    assert not [name for name, _ in parser.attrs if name.startswith("on")]  # no event handlers at all
    survived("fault")


def test_report_loads_nothing_from_the_network(hostile_report):
    parser = Tags()
    parser.feed(hostile_report)
    for name, value in parser.attrs:
        if name in ("src", "href"):
            assert value.startswith(("data:image/png;base64,", "#")), value
    assert not re.search(r"https?://", hostile_report)


def test_diverging_run_is_recorded_and_the_suite_goes_on(hostile_report, survived):
    assert "2 run(s) did not finish normally" in hostile_report
    # a "$" in a label is text, not matplotlib math (an unbalanced one used to fail every figure)
    assert "lr ten $x^{ seed 0: diverged (non-finite loss at epoch 1)" in hostile_report
    assert hostile_report.count('<img src="data:image/png;base64,') >= 2  # the other runs are plotted
    survived("fault")
