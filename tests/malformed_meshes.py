"""The malformed mesh files of issue 16, with the reason `load_mesh` gives for each (the note's table)."""

import numpy as np
import trimesh

_TET_V = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n"
_TET_F = "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def malformed_files():
    """{file name: (content bytes, regex the ValueError message matches after the file name)}."""
    glb = trimesh.creation.box().export(file_type="glb")
    random_bytes = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    return {
        "empty.off": (b"", "empty file"),
        "header_only.off": (b"OFF\n", "cannot read mesh"),
        "truncated_vertices.off": (b"OFF\n4 4 0\n0 0 0\n1 0 0\n", "cannot read mesh"),
        "truncated_faces.off": (f"OFF\n4 4 0\n{_TET_V}3 0 1 2\n".encode(), "truncated OFF file"),
        "nan_vertex.off": (f"OFF\n4 4 0\n0 0 0\nnan 0 0\n0 1 0\n0 0 1\n{_TET_F}".encode(), "non-finite"),
        "inf_vertex.off": (f"OFF\n4 4 0\n0 0 0\ninf 0 0\n0 1 0\n0 0 1\n{_TET_F}".encode(), "non-finite"),
        "index_out_of_range.off": (f"OFF\n4 4 0\n{_TET_V}3 0 1 2\n3 0 1 9\n3 0 2 3\n3 1 2 3\n".encode(),
                                   "cannot read mesh.*outside the range"),
        "negative_index.off": (f"OFF\n4 4 0\n{_TET_V}3 0 1 2\n3 0 -1 3\n3 0 2 3\n3 1 2 3\n".encode(),
                               "cannot read mesh.*outside the range"),
        "no_faces.off": (f"OFF\n4 0 0\n{_TET_V}".encode(), "empty mesh"),
        "zero_counts.off": (b"OFF\n0 0 0\n", "empty mesh"),
        "wrong_counts.off": (f"OFF\n9 9 0\n{_TET_V}{_TET_F}".encode(), "cannot read mesh"),
        "huge_coordinates.off": (f"OFF\n4 4 0\n0 0 0\n1e300 0 0\n0 1e300 0\n0 0 1e300\n{_TET_F}".encode(),
                                 "overflowing coordinates after normalization"),
        "zero_area.off": (b"OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n", "degenerate"),
        "flat_line.off": (b"OFF\n4 2 0\n0 0 0\n1 0 0\n2 0 0\n3 0 0\n3 0 1 2\n3 1 2 3\n", "degenerate"),
        "garbage.off": (b"this is not a mesh at all\n", "cannot read mesh"),
        "garbage.obj": (b"hello world\nfoo bar\n", "empty mesh"),
        "bad_index.obj": (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n", "cannot read mesh"),
        "garbage_binary.stl": (random_bytes, "empty mesh"),
        "garbage_binary.ply": (b"ply\nformat binary_little_endian 1.0\n" + bytes(range(200)), "cannot read mesh"),
        "zero_size.glb": (b"", "empty file"),
        "truncated.glb": (glb[:60], "cannot read mesh"),
    }


def write_malformed(folder):
    """Writes every malformed file into `folder` (a pathlib.Path, created); returns {path: reason regex}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (content, reason) in malformed_files().items():
        (folder / name).write_bytes(content)
        out[str(folder / name)] = reason
    return out
