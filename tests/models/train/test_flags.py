"""The shared command-line flags: one run-directory flag, --run-dir, for every command that writes or reads a run
directory; the names of older versions are deprecated aliases that still work and print a warning."""

import pytest

from sphembed.cli import build_parser

# (command argv without the run directory, the old flag)
ALIASES = [
    (["train-sphcnn", "--data", "d"], "--out"),
    (["eval-embedding", "--data", "d", "--out", "e.json"], "--model"),
    (["synthesize", "--image", "x.png", "--out", "o"], "--run"),
    (["eval-synthesis", "--data", "d", "--out", "o"], "--run"),
]
RUN_DIR_COMMANDS = [["train-embedding", "--data", "d", "--module", "m"], ["train-synthesis", "--data", "d",
                    "--module", "m"], ["train-regression", "--data", "d"], ["train-keypointnet", "--data", "d"]]


@pytest.mark.parametrize("argv,old", ALIASES, ids=[a[0][0] for a in ALIASES])
def test_old_run_flag_is_an_alias_that_warns(argv, old, capsys):
    parser = build_parser()
    assert parser.parse_args(argv + ["--run-dir", "RUN"]).run_dir == "RUN"
    assert "deprecated" not in capsys.readouterr().err
    assert parser.parse_args(argv + [old, "RUN"]).run_dir == "RUN"
    err = capsys.readouterr().err
    assert f"{old} is deprecated, use --run-dir" in err and argv[0] in err
    with pytest.raises(SystemExit):  # not both
        parser.parse_args(argv + ["--run-dir", "RUN", old, "RUN"])
    with pytest.raises(SystemExit):  # one of them is required
        parser.parse_args(argv)


@pytest.mark.parametrize("argv", RUN_DIR_COMMANDS, ids=[a[0] for a in RUN_DIR_COMMANDS])
def test_every_trainer_takes_run_dir(argv):
    parser = build_parser()
    assert parser.parse_args(argv + ["--run-dir", "RUN"]).run_dir == "RUN"
    with pytest.raises(SystemExit):
        parser.parse_args(argv)


def test_demo_run_dir_has_a_default_and_the_old_name(capsys):
    parser = build_parser()
    assert parser.parse_args(["demo"]).run_dir == "runs/demo"
    assert parser.parse_args(["demo", "--run-dir", "R"]).run_dir == "R"
    assert parser.parse_args(["demo", "--out", "R"]).run_dir == "R"
    assert "--out is deprecated, use --run-dir" in capsys.readouterr().err
