"""Studies and their storage as an attacker or a careless user meets them: passwords never
printed, a study bench tune did not make refused in one line, and reading a study never
creating a database."""

import optuna
import pytest
from helpers import exit_code

from bench.tune import redact


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg2://me:pw@host:5432/db", "postgresql+psycopg2://host/db"),
    ("postgresql+psycopg2://u@127.0.0.1:9/db?password=SECRETpw", "postgresql+psycopg2://127.0.0.1/db"),
    ("postgresql:u:SECRETpw@host/db", "postgresql:<rest not shown: not of the form postgresql://HOST/DATABASE>"),
    ("postgresql+psycopg2://me:SECRET@pw/x@host:5432/db", "postgresql+psycopg2://host/db"),
    ("sqlite:////tmp/x.db?password=SECRETpw", "sqlite:////tmp/x.db"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ("journal:///tmp/optuna.log", "journal:///tmp/optuna.log"),
])
def test_storage_urls_show_scheme_host_and_database_only(url, shown):
    assert redact(url) == shown


@pytest.mark.parametrize("url", ["postgresql+psycopg2://u@127.0.0.1:9/db?password=SECRETpw",
                                 "postgresql:u:SECRETpw@127.0.0.1/db", "postgresql+psycopg2://u:SE@CRETpw@127.0.0.1:9/db",
                                 "sqlite:////nonexistent-folder/x.db?password=SECRETpw"])
@pytest.mark.parametrize("command", [["tune", "--study", "s", "--trials", "1", "--dataset", "digits"],
                                     ["report", "--study", "s"], ["run", "--from-study", "s", "--trial", "0"]])
def test_no_command_prints_a_password(tmp_path, capsys, url, command):
    code = exit_code([*command, "--storage", url, "--results", tmp_path / "r", "--reports", tmp_path / "p"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "SECRET" not in err and "CRETpw" not in err, err


def _full_trial(params: dict | None = None, config: object = None) -> optuna.trial.FrozenTrial:
    """A finished trial of the vae-bench search space (no training): one value, its params."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from bench.search_space import SEARCH_SPACE

    dists = {p.name: CategoricalDistribution(list(p.choices)) if p.choices else
             IntDistribution(int(p.low), int(p.high)) if p.integer else FloatDistribution(p.low, p.high, log=p.log)
             for p in SEARCH_SPACE}
    values = {"beta": 1.0, "recon_loss": "bce", "latent_dim": 2, "kl_warmup_epochs": 0, "lr": 1e-3}
    params = values if params is None else params
    return optuna.trial.create_trial(params=params, distributions={k: dists[k] for k in params}, value=0.5,
                                     user_attrs={} if config is None else {"config": config})


FOREIGN_STUDIES = {  # how a study in the same database differs from one bench tune made
    "plain optuna study": lambda s: s.add_trial(optuna.trial.create_trial(
        params={"x": 0.5}, distributions={"x": optuna.distributions.FloatDistribution(0, 1)}, value=1.0)),
    "unknown objective": lambda s: s.set_user_attr("objectives", ["beauty"]),
    "two objectives in a one-objective study": lambda s: s.set_user_attr("objectives", ["test_recon", "smoothness"]),
    "missing parameters": lambda s: (s.set_user_attr("objectives", ["test_recon"]),
                                     s.add_trial(_full_trial({"beta": 1.0}))),
    "config not a dict": lambda s: (s.set_user_attr("objectives", ["test_recon"]),
                                    s.add_trial(_full_trial(config="beta=1"))),
    "setup not a dict": lambda s: (s.set_user_attr("objectives", ["test_recon"]), s.set_user_attr("setup", [1])),
}


@pytest.mark.parametrize("case", list(FOREIGN_STUDIES))
@pytest.mark.parametrize("command", [["report", "--study", "f"], ["run", "--from-study", "f", "--trial", "0"]])
def test_a_foreign_or_edited_study_is_one_line_exit_2(tmp_path, capsys, case, command, survived):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    study = optuna.create_study(storage=url, study_name="f")
    FOREIGN_STUDIES[case](study)
    before = (tmp_path / "o.db").read_bytes()
    code = exit_code([*command, "--storage", url, "--results", tmp_path / "r", "--reports", tmp_path / "p"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not one bench tune made" in err[0], err
    assert (tmp_path / "o.db").read_bytes() == before and not (tmp_path / "p").exists()
    survived("bad input")


@pytest.mark.parametrize("empty", [False, True])
@pytest.mark.parametrize("command", [["report", "--study", "s"], ["run", "--from-study", "s", "--trial", "0"]])
def test_reading_a_study_never_creates_a_database(tmp_path, capsys, empty, command, survived):
    db = tmp_path / "o.db"
    if empty:
        db.touch()
    code = exit_code([*command, "--storage", f"sqlite:///{db}", "--results", tmp_path / "r"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no study storage" in err[0], err
    assert db.exists() == empty and (not empty or db.stat().st_size == 0)
    survived("bad input")
