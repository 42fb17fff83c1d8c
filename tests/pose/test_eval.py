"""Evaluation protocol: metrics (hand-worked values), tables, method registry, and end-to-end eval-pose runs."""

import csv
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sphembed.cli import main as cli_main
from sphembed.pose import protocol as evaluate_module
from sphembed.pose.protocol import evaluate_arrays
from sphembed.pose.methods import available_methods, get_method, register_method
from sphembed.pose.metrics import geodesic_error_deg, pose_errors_deg, relative_rotation, summarize
from sphembed.pose.tables import markdown_table, write_report


def _rot(axis, deg):
    axis = np.asarray(axis, float)
    return Rotation.from_rotvec(np.radians(deg) * axis / np.linalg.norm(axis)).as_matrix()


def test_geodesic_error_preset():
    assert geodesic_error_deg(_rot([0, 0, 1], 30), np.eye(3)) == pytest.approx(30)
    assert geodesic_error_deg(_rot([1, 1, 0], 180), np.eye(3)) == pytest.approx(180)
    R_a, R_b = _rot([1, 0, 0], 40), _rot([1, 0, 0], 100)
    np.testing.assert_allclose(relative_rotation(R_a, R_b), _rot([1, 0, 0], 60), atol=1e-12)


def test_pose_errors_up_to_symmetry_preset(rng, sphere_signals):
    R_a, R_b = sphere_signals.random_rotations(rng, 2), sphere_signals.random_rotations(rng, 2)
    twin = R_b @ _rot([0, 1, 0], 180) @ np.swapaxes(R_a, 1, 2)  # the answer for the object turned about its up axis
    np.testing.assert_allclose(pose_errors_deg(twin, R_a, R_b), [180, 180], atol=1e-6)
    np.testing.assert_allclose(pose_errors_deg(twin, R_a, R_b, ["y", "y"]), [0, 0], atol=1e-4)
    np.testing.assert_allclose(pose_errors_deg(twin, R_a, R_b, ["y", None]), [0, 180], atol=1e-4)
    np.testing.assert_allclose(pose_errors_deg(twin, R_a, R_b, ["x", "z"]), [180, 180], atol=1e-4)


def test_summarize_preset():
    s = summarize([10.0, 20.0, 40.0, 150.0])
    assert s == {"n": 4, "median": 30.0, "acc@15": 25.0, "acc@30": 50.0, "flip@30": 25.0}
    # A uniformly random rotation's angle has density (1 - cos w) / pi, so P(w >= 150 deg) = (pi/6 + sin(pi/6)) / pi
    # = 32.6%: the chance level of flip@30; 20k draws are within 1.5% of it (binomial sd 0.33%).
    from scipy.spatial.transform import Rotation

    angles = np.degrees(np.linalg.norm(Rotation.random(20000, random_state=0).as_rotvec(), axis=1))
    assert summarize(angles)["flip@30"] == pytest.approx(100 * (np.pi / 6 + 0.5) / np.pi, abs=1.5)


@pytest.mark.parametrize("bad", [np.eye(3)[:2], np.zeros((2, 3, 4))])
def test_metrics_bad_shapes(bad):
    with pytest.raises(ValueError, match=r"R_hat must have shape \[\.\.\., 3, 3\]"):
        pose_errors_deg(bad, np.eye(3)[None], np.eye(3)[None])


def test_bad_symmetry_axis():
    with pytest.raises(ValueError, match="symmetry axis must be one of"):
        pose_errors_deg(np.eye(3)[None], np.eye(3)[None], np.eye(3)[None], ["up"])


def _synthetic(sphere_signals, rng, B=6, categories=("chair", "plane"), meshes=2, views=3):
    """Sphere maps of random band-limited 'meshes' in random poses, with IB and CB index pairs."""
    import tensorflow as tf

    from sphembed.models.sphere.rotations import rotate_map

    flm = sphere_signals.random_flm(rng, B, (len(categories) * meshes, 2))
    base = sphere_signals.grid_map(flm, B).astype(np.float32)
    R = sphere_signals.random_rotations(rng, len(base) * views).astype(np.float32)
    mesh = np.repeat(np.arange(len(base)), views)
    spheres = rotate_map(tf.constant(base[mesh]), tf.constant(R)).numpy()
    cats = np.array([categories[i // meshes] for i in mesh])
    index = np.arange(len(mesh)) + 100  # dataset indices are not row numbers
    ib = [(index[i], index[j]) for i in range(len(mesh)) for j in range(len(mesh)) if i < j and mesh[i] == mesh[j]]
    cb = [(index[i], index[j]) for i in range(len(mesh)) for j in range(len(mesh))
          if i < j and mesh[i] != mesh[j] and cats[i] == cats[j]]
    return {"sphere": spheres, "rotation": R, "category": cats, "index": index}, {"IB": ib, "CB": cb}


def test_oracle_sphere_recovers_instance_pairs(rng, sphere_signals):
    data, pairs = _synthetic(sphere_signals, rng)
    method, feature = get_method("oracle-sphere", out_bandwidth=6)
    assert feature == "sphere"
    records, errors = evaluate_arrays("oracle-sphere", method, data["sphere"], data["rotation"], data["category"],
                                      data["index"], pairs, "3DOF", batch_size=4)
    ib = {r["category"]: r for r in records if r["kind"] == "IB"}
    assert set(ib) == {"chair", "plane", "all"} and ib["all"]["n"] == len(pairs["IB"])
    # IB pairs are exact rotations of one band-limited map: refined alignment is exact to float32 round-off.
    assert ib["all"]["median"] < 0.5 and ib["all"]["acc@15"] == 100.0
    assert errors[("oracle-sphere", "3DOF", "CB")].shape == (len(pairs["CB"]),)


def test_oracle_target_recovers_longitude_turns(rng, sphere_signals, export_tiny_sphcnn, tmp_path):
    """oracle-target aligns the spherical-CNN endpoint of both views. A turn about the pole by k grid steps
    (2 pi k / 2B) rolls the map by k longitude samples; the spectral convolutions commute with it exactly and the
    pointwise nonlinearities and the bias too, so block1 (at the input bandwidth) of the turned map is the rolled
    block1: alignment of the two endpoints recovers the turn to round-off (refined), whatever the network's
    weights."""
    B = 4
    module = export_tiny_sphcnn(tmp_path / "sphcnn", B=B)
    flm = sphere_signals.random_flm(rng, B, (3, 2))
    base = sphere_signals.grid_map(flm, B).astype(np.float32)  # [3, 2B, 2B, 2]
    k = rng.integers(1, 2 * B, len(base))
    turned = np.stack([np.roll(m, s, axis=1) for m, s in zip(base, k)])
    method, feature = get_method("oracle-target", model=f"{module}#block1", out_bandwidth=B)
    assert feature == "sphere"
    want = np.stack([_rot([0, 0, 1], 360.0 * s / (2 * B)) for s in k])  # (Lambda_R f)(w) = f(R^T w)
    got = np.asarray(method(base, turned))
    np.testing.assert_array_less(geodesic_error_deg(got, want), 0.5)


@pytest.mark.parametrize("model, message", [(None, "HUB_DIR#ENDPOINT"), ("some/dir", "HUB_DIR#ENDPOINT")])
def test_oracle_target_needs_module_and_endpoint(model, message):
    with pytest.raises(ValueError, match=message):
        get_method("oracle-target", model=model)


def test_oracle_target_unknown_endpoint(export_tiny_sphcnn, tmp_path):
    module = export_tiny_sphcnn(tmp_path / "sphcnn")
    with pytest.raises(ValueError, match=r"no endpoint 'block9'.*block1"):
        get_method("oracle-target", model=f"{module}#block9")


def test_identity_method_errors_are_relative_angles(rng, sphere_signals):
    data, pairs = _synthetic(sphere_signals, rng)
    identity = lambda a, b: np.broadcast_to(np.eye(3), (len(a), 3, 3))  # noqa: E731
    _, errors = evaluate_arrays("identity", identity, data["sphere"], data["rotation"], data["category"],
                                data["index"], {"IB": pairs["IB"]}, "3DOF")
    rows = np.asarray(pairs["IB"]) - 100
    R = data["rotation"].astype(np.float64)
    want = np.degrees(Rotation.from_matrix(R[rows[:, 1]] @ np.swapaxes(R[rows[:, 0]], 1, 2)).magnitude())
    np.testing.assert_allclose(errors[("identity", "3DOF", "IB")], want, atol=1e-3)


def test_evaluate_rejects_unknown_indices(rng, sphere_signals):
    data, _ = _synthetic(sphere_signals, rng)
    with pytest.raises(ValueError, match="IB pairs name indices missing"):
        evaluate_arrays("x", None, data["sphere"], data["rotation"], data["category"], data["index"],
                        {"IB": [(0, 1)]})


def test_tables_layout_and_files(tmp_path):
    records = [{"method": m, "dataset": d, "kind": k, "category": c, "n": 4, "median": 10.0 + i, "acc@15": 50.0,
                "acc@30": 75.0, "flip@30": 5.0}
               for i, (m, d, k, c) in enumerate((m, d, k, c) for m in ("ours", "regression") for d in ("2DOF", "3DOF")
                                                for k in ("IB", "CB") for c in ("car", "all"))]
    md = markdown_table(records).splitlines()
    assert md[0].startswith("| method | category | IB 2DOF med err | IB 2DOF acc@15 | IB 2DOF acc@30 | IB 2DOF flip@30 | IB 3DOF")
    assert len(md) == 2 + 2 * 2  # header, rule, one row per category in each method block
    assert md[2].startswith("| ours | car | 10.00 |") and md[3].startswith("|  | all |")
    errors = {("ours", "3DOF", "IB"): np.array([1.0, 100.0]), ("regression", "3DOF", "IB"): np.array([50.0])}
    paths = write_report(records, errors, str(tmp_path))
    with open(paths["csv"]) as fh:
        assert len(list(csv.DictReader(fh))) == len(records)
    with open(paths["json"]) as fh:
        assert json.load(fh)["records"] == records
    with open(paths["histogram"], "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_method_registry_plugin():
    @register_method("test-constant")
    def make(model=None, out_bandwidth=None, refine=True):
        return lambda a, b: np.broadcast_to(np.eye(3), (len(a), 3, 3))

    assert "test-constant" in available_methods() and {"embedding", "oracle-sphere"} <= set(available_methods())
    with pytest.raises(ValueError, match="already registered"):
        register_method("test-constant")(lambda model=None: None)
    with pytest.raises(ValueError, match="unknown pose method 'nope'; registered:"):
        get_method("nope")
    with pytest.raises(ValueError, match="method 'embedding' needs --model"):
        get_method("embedding")


def test_eval_pose_cli_end_to_end(rng, tmp_path, monkeypatch, sphere_signals):
    data, pairs = _synthetic(sphere_signals, rng)
    data_dir = tmp_path / "data3"
    data_dir.mkdir()
    for kind, p in pairs.items():
        (data_dir / f"pairs-{kind}.json").write_text(json.dumps([[int(a), int(b)] for a, b in p]))
    monkeypatch.setattr(evaluate_module, "load_split", lambda d, feature, split="test": data)
    out = tmp_path / "out"
    code = cli_main(["eval-pose", "--data", f"3DOF={data_dir}", "--method", "oracle-sphere", "--out", str(out),
                     "--out-bandwidth", "6", "--symmetric", "plane:y"])
    assert code == 0
    result = json.loads((out / "pose_results.json").read_text())
    assert result["symmetric"] == {"plane": "y"}
    cells = {(r["kind"], r["category"]): r for r in result["records"]}
    assert cells[("IB", "all")]["median"] < 0.5 and cells[("CB", "all")]["n"] == len(pairs["CB"])
    assert (out / "pose_errors.png").stat().st_size > 0 and (out / "pose_table.md").read_text().startswith("|")


def test_eval_pose_on_make_data_dataset(tmp_path):
    import keras

    data_dir = str(tmp_path / "d3")
    assert cli_main(["make-data", "--out", data_dir, "--rotations", "3dof", "--views-per-mesh", "2",
                     "--sphere-bandwidth", "8", "--image-size", "16", "--meshes-per-category", "1,2",
                     "--categories", "chair,car", "--workers", "1", "--no-progress"]) == 0
    x = keras.Input((16, 16, 1))  # an untrained image -> [16, 16, 2] 'embedding' (b = 8): exercises the plumbing
    keras.Model(x, keras.layers.Conv2D(2, 3, padding="same")(x)).save(tmp_path / "emb.keras")
    out = tmp_path / "out"
    assert cli_main(["eval-pose", "--data", data_dir, "--method", "oracle-sphere", "--method", "embedding",
                     "--model", f"embedding={tmp_path / 'emb.keras'}", "--out", str(out), "--out-bandwidth", "8"]) == 0
    result = json.loads((out / "pose_results.json").read_text())
    pairs = {kind: json.loads((tmp_path / "d3" / f"pairs-{kind}.json").read_text())["pairs"] for kind in ("IB", "CB")}
    cells = {(r["method"], r["dataset"], r["kind"], r["category"]): r for r in result["records"]}
    assert set(cells) == {(m, "3DOF", k, c) for m in ("oracle-sphere", "embedding") for k in ("IB", "CB")
                          for c in ("car", "chair", "all")}
    assert all(cells[(m, "3DOF", k, "all")]["n"] == len(pairs[k]) for m in ("oracle-sphere", "embedding")
               for k in ("IB", "CB"))
    table = (out / "pose_table.md").read_text().splitlines()
    assert [row.split("|")[1].strip() for row in table[2:] if row.split("|")[1].strip()] == ["embedding",
                                                                                            "oracle-sphere"]
