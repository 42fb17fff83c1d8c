"""`sphembed demo` orchestration: stage order, skipping of finished stages, re-running of what a change affects,
failure reporting; and the report renderer (Markdown and HTML from the same blocks)."""

import json
import os

import pytest

from sphembed import demo, report


@pytest.fixture
def fake_sphembed(monkeypatch):
    """Replaces the stage subprocesses by a recorder; `fail` names a sub-command that exits with 3."""
    calls, fail = [], set()

    def call(argv, env=None):
        assert argv[1:3] == ["-m", "sphembed"]
        calls.append(argv[3])
        return 3 if argv[3] in fail else 0

    monkeypatch.setattr(demo.subprocess, "call", call)
    return calls, fail


def test_stages_cover_the_pipeline_in_dependency_order():
    stages = demo.demo_stages("out")
    names = [name for name, _, _ in stages]
    assert names[:2] == ["data-3dof", "data-2dof"] and names[-1] == "report"
    for i, (name, _, reads) in enumerate(stages):
        assert set(reads) <= set(names[:i]), f"{name} reads a later stage"
    commands = [argv[0] for _, cmds, _ in stages for argv in cmds]
    for needed in ("make-data", "train-sphcnn", "export-hub", "train-embedding", "eval-embedding", "train-regression",
                   "train-keypointnet", "eval-pose", "train-synthesis", "eval-synthesis", "synthesize", "report"):
        assert needed in commands


def test_seed_reaches_every_training_command_and_no_data_command():
    from sphembed.cli import build_parser

    stages = {name: cmds for name, cmds, _ in demo.demo_stages("out", seed=7)}
    parser = build_parser()
    for name, cmds in stages.items():
        for argv in cmds:
            seeded = "--seed" in argv
            assert seeded == argv[0].startswith("train-"), (name, argv)
            if seeded:
                assert parser.parse_args(argv).seed == 7  # every training command takes the flag
    assert demo.demo_stages("out")[2][1][0] == demo.demo_stages("out", seed=None)[2][1][0]
    assert stages["data-3dof"] == demo.demo_stages("out")[0][1]  # same data: seed-0 data markers stay valid


def test_rerun_skips_done_stages_and_force_reruns_dependents(tmp_path, fake_sphembed):
    calls, _ = fake_sphembed
    out = str(tmp_path / "run")
    first = demo.run_demo(out)
    n = len(calls)
    assert n == sum(len(cmds) for _, cmds, _ in demo.demo_stages(out)) and not any(t["skipped"] for t in first.values())
    second = demo.run_demo(out)
    assert len(calls) == n and all(t["skipped"] for t in second.values())
    demo.run_demo(out, force=("embedding",))
    rerun = calls[n:]
    # embedding (train + eval) and everything reading it (pose module, pose table, report); not the data, the
    # spherical CNN, the baselines or the synthesis.
    assert rerun == ["train-embedding", "eval-embedding", "export-hub", "eval-pose", "report"]


def test_changed_command_reruns_the_stage(tmp_path, fake_sphembed):
    calls, _ = fake_sphembed
    out = str(tmp_path / "run")
    demo.run_demo(out, until="sphcnn")
    marker = os.path.join(out, "stages", "sphcnn.json")
    with open(marker) as fh:
        record = json.load(fh)
    record["commands"][0].append("--epochs=1")  # as if the stage had been run with other settings
    with open(marker, "w") as fh:
        json.dump(record, fh)
    n = len(calls)
    demo.run_demo(out, until="sphcnn-hub")
    assert calls[n:] == ["train-sphcnn", "export-hub"]


def test_failure_names_stage_and_leaves_no_marker(tmp_path, fake_sphembed):
    calls, fail = fake_sphembed
    fail.add("train-sphcnn")
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="'sphcnn' failed .*train-sphcnn"):
        demo.run_demo(out)
    assert not os.path.exists(os.path.join(out, "stages", "sphcnn.json"))
    assert os.path.exists(os.path.join(out, "stages", "data-2dof.json"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="needs --data"):
        demo.demo_stages("out", preset="paper")
    with pytest.raises(ValueError, match="not a directory"):
        demo.demo_stages("out", data=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="unknown demo stages"):
        demo.run_demo(str(tmp_path), force=("nope",))
    stages = demo.demo_stages("out", preset="paper", data=str(tmp_path))
    assert all("--preset" in argv for _, cmds, _ in stages for argv in cmds 
               if argv[0].startswith(("make-data", "train-", "eval-pose")))


def test_report_markdown_and_html_hold_the_same_content(tmp_path):
    blocks = [("h", 1, "Title"), ("p", "a <b> & c"), ("table", ["x", "y"], [["r1", 0.123456], ["r2", 2]]),
              ("img", "fig.png", "caption"), ("code", "x = 1")]
    md_path = report.write_report(blocks, str(tmp_path))
    md = open(md_path).read()
    page = open(os.path.join(tmp_path, "report.html")).read()
    assert "# Title" in md and "| r1 | 0.1235 |" in md and "![caption](fig.png)" in md
    assert "<h1>Title</h1>" in page and "a &lt;b&gt; &amp; c" in page and "<td>0.1235</td>" in page
    assert "<img src='fig.png'>" in page
    with pytest.raises(ValueError, match="unknown report block"):
        report.render_markdown([("bogus", 1)])


def test_demo_report_reads_the_run_directories(tmp_path, monkeypatch):
    """The report reads each stage's run_info.json (sphembed.models.train.run_dir): the spherical CNN's results and
    every pose method's training budget reach report.md."""
    from sphembed import demo_report
    from sphembed.data.manifest import write_json

    run = tmp_path / "run"
    for stage, seconds in (("sphcnn", 11.0), ("embedding", 251.0), ("regression", 206.0), ("keypointnet", 199.0)):
        (run / stage).mkdir(parents=True)
        results = {"categories": ["a", "b"], "train_accuracy_rotated": 0.975, "test_accuracy_rotated": 0.5,
                   "parameters": 1234, "seconds_per_epoch": 1.5, "equivariance_error": {"logits": 0.01}}
        write_json(str(run / stage / "run_info.json"), {
            "format": 1, "stage": stage, "model": f"{stage}.keras",
            "training": {"epochs": 3, "steps_per_epoch": 192, "seconds": seconds}, "config": {"batch_size": 16},
            "results": results if stage == "sphcnn" else {}})
    (run / "pose").mkdir()
    record = {"method": "embedding", "category": "all", "kind": "IB", "dataset": "3DOF", "n": 4, "median": 10.0,
              "acc@15": 60.0, "acc@30": 80.0, "flip@30": 5.0}
    write_json(str(run / "pose" / "pose_results.json"), {"records": [record, {**record, "category": "car"}]})
    (run / "stages").mkdir()
    write_json(str(run / "stages" / "sphcnn.json"), {"seconds": 11.0, "finished": "now"})
    monkeypatch.setattr(demo_report, "aligned_views", lambda *args, **kwargs: {"a": 1.0})
    text = open(demo_report.write_demo_report(str(run))).read()
    assert "train 97.5%, test 50.0% (2 categories); 1,234 parameters" in text
    for method, seconds in (("embedding", 251), ("regression", 206), ("KeypointNet", 199)):
        assert f"| {method} | {seconds}" in text, method
    # The comparison with the paper states the embedding's budget from its run_info (3 epochs x 192 steps of 16).
    assert "| car | 10.0 / 3.8 |" in text and "this demo trains 576 steps of 16 on a 2-core CPU" in text
