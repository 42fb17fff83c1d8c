"""Stage configs from presets and flags (`sphembed.presets.stage_config`, `config_from_args`): the flags override
the section, and the rules by which a section depends on itself or another one."""

import argparse

import pytest

from sphembed.presets import get_preset, stage_config, config_from_args


def test_flags_override_and_none_keeps_the_preset():
    args = argparse.Namespace(preset="demo", epochs=3, batch_size=None, strategy="mirrored", data="d")
    cfg = config_from_args(args, "sphcnn")
    assert cfg == {**get_preset("demo", "sphcnn"), "epochs": 3}  # strategy / data are not settings of the section
    with pytest.raises(ValueError, match="no settings"):
        stage_config("demo", "sphcnn", nope=1)
    with pytest.raises(ValueError, match="no entry"):
        stage_config("demo", "baselines", "nope")


def test_embedding_drops_the_other_architectures_sizes_unless_given():
    paper = stage_config("paper", "embedding")
    assert paper["architecture"] == "encoder-decoder" and paper["latent_dim"] == 1024
    lifted = stage_config("paper", "embedding", architecture="lifted")
    assert lifted["latent_dim"] is None and lifted["base_filters"] == 64  # a size both architectures take stays
    assert stage_config("paper", "embedding", architecture="lifted", latent_dim=8)["latent_dim"] == 8  # given


def test_regression_takes_the_embedding_encoder_and_synthesis_its_embedding_net():
    paper, embedding = stage_config("paper", "baselines", "regression"), get_preset("paper", "embedding")
    assert [paper[k] for k in ("latent_dim", "base_filters", "max_filters")] == [1024, 64, 256] == [
        embedding[k] for k in ("latent_dim", "base_filters", "max_filters")]
    assert stage_config("paper", "baselines", "regression", latent_dim=16)["latent_dim"] == 16
    assert stage_config("demo", "baselines", "regression")["latent_dim"] == 256  # the demo section's own
    synthesis = stage_config("demo", "synthesis", embedding_epochs=2)
    demo = get_preset("demo", "embedding")
    assert synthesis["embedding_config"]["lr_boundaries"] == pytest.approx(
        [b * 2 / demo["epochs"] for b in demo["lr_boundaries"]])
    assert synthesis["embedding_config"]["architecture"] == demo["architecture"]


def test_sentinels_of_data_and_keypointnet():
    assert stage_config("demo", "data", categories="all")["categories"] is None
    assert stage_config("demo", "data", categories=["car"])["categories"] == ["car"]
    assert stage_config("demo", "baselines", "keypointnet", image_size=0)["image_size"] is None
    assert stage_config("demo", "baselines", "keypointnet")["image_size"] == 32
