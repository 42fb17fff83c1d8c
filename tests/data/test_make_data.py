"""`sphembed make-data` end to end on tiny configs: procedural and folder sources, bad files, resume, reader, pairs."""

import json
import os
import re
import shutil

import numpy as np
import pytest
import trimesh

from sphembed.cli import main as cli_main
from sphembed.data import make_data as make_data_module
from sphembed.data import records
from sphembed.data.build import view_parameters
from sphembed.data.make_data import build_dataset
from sphembed.data.meshes import load_mesh, normalize_mesh, rotate_mesh
from sphembed.data.pairs import make_pairs
from sphembed.data.procedural import make_shape
from sphembed.data.spheremap import sphere_map
from sphembed.presets import get_preset

SHARED = "/work/shared/meshes"
TINY = ["--categories", "chair,mug,lamp", "--meshes-per-category", "3,2", "--views-per-mesh", "2",
        "--sphere-bandwidth", "8", "--image-size", "32", "--meshes-per-shard", "2", "--rotations", "2dof",
        "--workers", "2", "--no-progress"]


def _config(**overrides):
    base = dict(categories=["chair", "mug", "lamp"], meshes_per_category={"train": 3, "test": 2}, views_per_mesh=2,
                sphere_bandwidth=8, image_size=32, meshes_per_shard=2, rotations="2dof")
    base.update(overrides)
    cfg = get_preset("demo", "data", **base)
    cfg.update({k: v for k, v in overrides.items() if v is None})  # None: no preset value (all categories, no cap)
    return cfg


def _read_all(data_dir, split, features=records.FEATURES):
    ds = records.make_dataset(data_dir, split, batch_size=64, features=features)
    parts = [{k: v.numpy() for k, v in batch.items()} for batch in ds]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "tiny"
    assert cli_main(["make-data", "--source", "procedural", "--out", str(out)] + TINY) == 0
    return str(out)


def test_manifest_and_shards(tiny):
    m = records.read_manifest(tiny)
    assert m["status"] == "complete" and m["categories"] == ["chair", "mug", "lamp"]
    assert (m["sphere_bandwidth"], m["image_size"], m["channels"], m["rotations"]) == (8, 32, 1, "2dof")
    assert m["counts"] == {"train": 18, "test": 12} and m["skipped"] == [] and len(m["config_hash"]) == 64
    assert m["splits"]["train"]["shards"] == [f"train-{k:05d}-of-00005.tfrecord" for k in range(5)]
    names = sorted(os.listdir(tiny))
    assert names == sorted(["manifest.json", "pairs-IB.json", "pairs-CB.json"] + m["splits"]["train"]["shards"]
                           + m["splits"]["test"]["shards"])


def test_reader_batches_ready_for_fit(tiny):
    ds = records.make_dataset(tiny, "train", batch_size=4, shuffle=True, seed=1, repeat=True)
    batch = next(iter(ds))
    assert set(batch) == {"image", "sphere", "rotation", "label"}
    assert batch["image"].shape == (4, 32, 32, 1) and batch["image"].dtype.name == "float32"
    assert batch["sphere"].shape == (4, 16, 16, 2) and batch["rotation"].shape == (4, 3, 3)
    assert batch["label"].dtype.name == "int32"
    assert 0 <= batch["image"].numpy().min() and batch["image"].numpy().max() <= 1
    single = next(iter(records.make_dataset(tiny, "test", features=("depth", "mask", "mesh_id"))))
    assert single["depth"].shape == (32, 32) and single["mask"].shape == (32, 32) and single["mesh_id"].shape == ()


def test_examples_are_consistent(tiny):
    ex = _read_all(tiny, "test")
    n = len(ex["index"])
    np.testing.assert_array_equal(ex["index"], np.arange(n))  # in order, index = position within the split
    categories = [c.decode() for c in ex["category"]]
    assert [["chair", "mug", "lamp"][label] for label in ex["label"]] == categories
    assert all(s == b"test" for s in ex["split"])
    R = ex["rotation"].astype(np.float64)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-6)
    np.testing.assert_allclose((R @ [0, 1, 0])[:, 0], 0, atol=1e-6)  # 2dof: no roll
    # the stored sphere map is the map of the ROTATED mesh, and the mask shows the same pose (no empty views)
    manifest = records.read_manifest(tiny)
    for i in (0, n - 1):
        source = manifest["splits"]["test"]["meshes"][i // 2]["source"]
        mesh = make_shape(source["category"], source["seed"])
        np.testing.assert_allclose(ex["sphere"][i], sphere_map(rotate_mesh(mesh, R[i]), 8), atol=1e-5)
        assert ex["mask"][i].sum() > 20


def test_pairs(tiny):
    ex = _read_all(tiny, "test", features=("rotation", "mesh_id", "category", "index"))
    ib, cb = make_pairs(tiny, kind="IB"), make_pairs(tiny, kind="CB", partners=3)
    assert ib.shape == (12, 2)  # 2 views per mesh: one IB partner each
    assert np.all(ex["mesh_id"][ib[:, 0]] == ex["mesh_id"][ib[:, 1]]) and np.all(ib[:, 0] != ib[:, 1])
    assert cb.shape == (24, 2)  # partners = min(3, candidates): the 2 views of the other mesh of its category
    assert np.all(ex["category"][cb[:, 0]] == ex["category"][cb[:, 1]])
    assert np.all(ex["mesh_id"][cb[:, 0]] != ex["mesh_id"][cb[:, 1]])
    assert np.all([len(set(cb[cb[:, 0] == a, 1])) == 2 for a in range(12)])  # distinct partners
    np.testing.assert_array_equal(make_pairs(tiny, kind="CB", partners=3), cb)  # seeded
    with open(os.path.join(tiny, "pairs-CB.json")) as fh:
        saved = json.load(fh)
    stored = make_pairs(tiny, kind="CB", partners=saved["partners"])  # make-data's list: the preset's partners
    np.testing.assert_array_equal(saved["pairs"], stored)
    R = ex["rotation"].astype(np.float64)
    expected = np.einsum("pij,pkj->pik", R[stored[:, 1]], R[stored[:, 0]])  # R_ab = R_b R_a^T
    np.testing.assert_allclose(np.reshape(saved["R_ab"], (-1, 3, 3)), expected, atol=1e-6)
    with pytest.raises(ValueError, match="kind must be one of"):
        make_pairs(tiny, kind="XB")


def test_resume_after_crash_no_half_shards(tiny, tmp_path, monkeypatch):
    out = str(tmp_path / "again")
    calls = {"n": 0}
    real = records.serialize_example

    def crash_in_third_shard(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 9:  # shards hold 2 meshes x 2 views: dies inside the third shard
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "serialize_example", crash_in_third_shard)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(out, _config(), workers=1, progress=False)
    monkeypatch.setattr(records, "serialize_example", real)
    finished = sorted(f for f in os.listdir(out) if f.endswith(".tfrecord"))
    assert finished == ["train-00000-of-00005.tfrecord", "train-00001-of-00005.tfrecord"]  # no half shard
    assert any(".tmp-" in f for f in os.listdir(out))  # what a killed writer leaves behind
    with pytest.raises(ValueError, match="incomplete"):
        records.make_dataset(out, "train")
    stamps = {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in finished}

    build_dataset(out, _config(), workers=1, progress=False)
    assert {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in finished} == stamps  # not rewritten
    assert not any(".tmp-" in f for f in os.listdir(out))
    # deterministic: byte-identical to the dataset made in one go (with 2 workers, through the CLI)
    for name in sorted(f for f in os.listdir(tiny) if f.endswith((".tfrecord", ".json"))):
        with open(os.path.join(tiny, name), "rb") as a, open(os.path.join(out, name), "rb") as b:
            assert a.read() == b.read(), name
    with pytest.raises(ValueError, match="another configuration"):
        build_dataset(out, _config(seed=1), workers=1, progress=False)


def _export(path, mesh):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mesh.export(path)


def test_folder_sources(tmp_path):
    # real meshes (+Y up, front +Z): 2 airplanes, 1 bed
    for rel in ("airplane/crrcsim_allegro.ply", "airplane/" + sorted(os.listdir(f"{SHARED}/airplane"))[1],
                "bed/" + sorted(os.listdir(f"{SHARED}/bed"))[0]):
        _export(str(tmp_path / "shared" / rel), trimesh.load(f"{SHARED}/{rel}", force="mesh"))
    # ModelNet40 layout with one malformed file; ShapeNet v1 + v2 layout
    for split, seeds in (("train", (0, 1)), ("test", (2,))):
        for s in seeds:
            _export(str(tmp_path / "mn" / "chair" / split / f"chair_{s}.off"), make_shape("chair", s))
            _export(str(tmp_path / "mn" / "mug" / split / f"mug_{s}.off"), make_shape("mug", s))
    bad = tmp_path / "mn" / "mug" / "test" / "mug_bad.off"
    bad.write_text("OFF\n3 1 0\n0 0 0\n")
    _export(str(tmp_path / "sn" / "03001627" / "c1" / "model.obj"), make_shape("chair", 5))
    _export(str(tmp_path / "sn" / "03797390" / "m1" / "models" / "model_normalized.obj"), make_shape("mug", 5))

    cfg = dict(categories=None, meshes_per_category=None, views_per_mesh=2, sphere_bandwidth=8, image_size=32)
    m = build_dataset(str(tmp_path / "out_shared"), _config(source=str(tmp_path / "shared"), test_fraction=0.5, **cfg),
                      workers=1, progress=False)
    assert m["layout"] == "folders" and m["categories"] == ["airplane", "bed"] and m["skipped"] == []
    assert m["counts"] == {"train": 4, "test": 2}
    ex = _read_all(str(tmp_path / "out_shared"), "test", features=("sphere", "rotation", "mesh_id", "mask"))
    mesh = load_mesh(os.path.join(str(tmp_path / "shared"), ex["mesh_id"][0].decode()))
    np.testing.assert_allclose(ex["sphere"][0], sphere_map(rotate_mesh(mesh, ex["rotation"][0].astype(float)), 8),
                               atol=1e-5)

    with pytest.raises(ValueError, match="mug_bad.off.*cannot read mesh"):
        build_dataset(str(tmp_path / "out_fail"), _config(source=str(tmp_path / "mn"), **cfg), workers=1,
                      progress=False)
    m = build_dataset(str(tmp_path / "out_skip"), _config(source=str(tmp_path / "mn"), on_error="skip", **cfg),
                      workers=1, progress=False)
    assert m["layout"] == "modelnet40" and m["counts"] == {"train": 8, "test": 4}
    assert len(m["skipped"]) == 1 and m["skipped"][0]["file"] == str(bad)
    assert "cannot read mesh" in m["skipped"][0]["reason"]
    assert records.read_manifest(str(tmp_path / "out_skip"))["skipped"] == m["skipped"]

    m = build_dataset(str(tmp_path / "out_sn"), _config(source=str(tmp_path / "sn"), **cfg), workers=1,
                      progress=False)
    assert m["layout"] == "shapenet" and m["categories"] == ["chair", "mug"]
    assert m["counts"] == {"train": 4, "test": 0} and m["pairs"] == {}  # one model per class: all train


def test_caps_count_valid_meshes_and_every_file_is_recorded(tmp_path, capfd, malformed_meshes):
    """A cap of 2 per category is filled past 3 bad files; all malformed files are listed with their reasons."""
    root = tmp_path / "mn"
    junk = malformed_meshes.write(root / "junk" / "train")  # no usable mesh: the category is left out
    malformed = malformed_meshes.files()
    (root / "chair" / "train").mkdir(parents=True)
    for i, name in enumerate(("empty.off", "garbage.off", "huge_coordinates.off")):  # sorted before the good ones
        (root / "chair" / "train" / f"a_bad{i}_{name}").write_bytes(malformed[name][0])
    for i in range(3):
        _export(str(root / "chair" / "train" / f"b_good{i}.off"), make_shape("chair", i))
    _export(str(root / "chair" / "test" / "good.off"), make_shape("chair", 9))
    cfg = _config(source=str(root), categories=None, meshes_per_category={"train": 2, "test": 1}, views_per_mesh=1,
                  on_error="skip")
    m = build_dataset(str(tmp_path / "out"), cfg, workers=2, progress=False)
    assert m["categories"] == ["chair"] and m["counts"] == {"train": 2, "test": 1}
    assert [mesh["mesh_id"] for mesh in m["splits"]["train"]["meshes"]] == ["chair/train/b_good0.off",
                                                                            "chair/train/b_good1.off"]
    files = {f["mesh_id"]: f for f in m["files"]}
    assert len(m["files"]) == len(junk) + 7  # every file of the source, once
    assert [f["status"] for f in m["files"] if f["category"] == "chair"] == ["used"] + ["skipped"] * 3 + [
        "used"] * 2 + ["capped"]  # test/good.off first: files are sorted by mesh id
    assert files["chair/train/b_good2.off"]["reason"] == "not considered: cap of 2 valid train meshes per category " \
        "reached"
    for path, reason in junk.items():
        entry = files[os.path.relpath(path, root)]
        assert entry["status"] == "skipped" and re.search(f"{re.escape(path)}: .*{reason}", entry["reason"])
    assert m["skipped"] == [{"file": f["file"], "reason": f["reason"]} for f in m["files"] if f["status"] == "skipped"]
    assert "Warning" not in capfd.readouterr().err  # workers print no numpy overflow warnings
    with pytest.raises(ValueError, match=r"4 bad mesh file\(s\) \(use --on-error skip"):
        build_dataset(str(tmp_path / "fail"), {**cfg, "on_error": "fail"}, workers=2, progress=False)
    with pytest.raises(ValueError, match=r"no usable meshes in .*21 files considered, 21 bad; .*empty file"):
        build_dataset(str(tmp_path / "none"), _config(source=str(root / "junk"), categories=None,
                                                       meshes_per_category=None, on_error="skip"), workers=1,
                      progress=False)


def test_scale_augment_keeps_image_and_sphere_consistent(tmp_path):
    out = str(tmp_path / "aug")
    m = build_dataset(out, _config(categories=["table"], meshes_per_category={"train": 1, "test": 1},
                                   scale_augment=0.3), workers=1, progress=False)
    ex = _read_all(out, "train", features=("sphere", "rotation"))
    R, scales = view_parameters(make_data_module._view_seed(m["config"], "train", 0), 2, "2dof", 0.3)
    assert np.all(np.abs(scales - 1) <= 0.3) and np.abs(scales - 1).max() > 0.05
    np.testing.assert_allclose(ex["rotation"], R, atol=1e-7)
    source = m["splits"]["train"]["meshes"][0]["source"]
    base = make_shape("table", source["seed"])
    for v in range(2):
        scaled = normalize_mesh(rotate_mesh(base, np.diag(scales[v])))  # scaled in the object frame, renormalized
        np.testing.assert_allclose(ex["sphere"][v], sphere_map(rotate_mesh(scaled, R[v]), 8), atol=1e-5)
        assert not np.allclose(ex["sphere"][v], sphere_map(rotate_mesh(base, R[v]), 8), atol=1e-2)


@pytest.mark.parametrize("key, value, match", [
    ("color", "sepia", "color must be one of"), ("rotations", "1dof", "rotations must be one of"),
    ("views_per_mesh", 0, "views_per_mesh must be an integer >= 1"), ("scale_augment", 1.5, "scale_augment must"),
    ("sphere_bandwidth", 0, "bandwidth B must be a positive integer"), ("on_error", "ignore", "on_error must")])
def test_bad_config(tmp_path, key, value, match):
    with pytest.raises(ValueError, match=match):
        build_dataset(str(tmp_path / "bad"), _config(**{key: value}), workers=1, progress=False)
    assert not os.path.exists(tmp_path / "bad")  # checked before anything is written


def test_reader_errors(tiny, tmp_path):
    with pytest.raises(ValueError, match="has no manifest.json.*sphembed make-data"):
        records.make_dataset(str(tmp_path), "train")
    with pytest.raises(ValueError, match="split must be one of"):
        records.make_dataset(tiny, "validation")
    with pytest.raises(ValueError, match="unknown features"):
        records.make_dataset(tiny, "train", features=("image", "normals"))
    shutil.copytree(tiny, tmp_path / "copy")
    os.remove(tmp_path / "copy" / "test-00001-of-00003.tfrecord")
    with pytest.raises(ValueError, match="lacks 1 shard.*test-00001-of-00003.tfrecord"):
        records.make_dataset(str(tmp_path / "copy"), "test")
    assert cli_main(["make-data", "--source", "procedural", "--out", str(tmp_path / "copy")] + TINY) == 0  # rebuilds
    with open(os.path.join(tiny, "test-00001-of-00003.tfrecord"), "rb") as a:
        assert (tmp_path / "copy" / "test-00001-of-00003.tfrecord").read_bytes() == a.read()
