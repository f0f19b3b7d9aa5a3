"""`zoo hub push`: what would be uploaded, and the refusals (no real Hub is reachable here)."""

from __future__ import annotations

import json

from zoo.cli import main as cli_main
from zoo.testing.hub_fixture import make_card, register_hubtest, seeded_state

SECRET = "hf_zooPushSecretToken0123456789"


def _card(tmp_path, **config):
    card, sha = make_card(tmp_path / "cards", "hubtest_seg.toy", seeded_state(0), **config)
    return card, sha


def _record_sha(card, sha):
    config = json.loads((card / "config.json").read_text())
    config["sha256"] = sha
    (card / "config.json").write_text(json.dumps(config))


def test_dry_run_lists_the_folder_that_would_be_uploaded(tmp_path, capsys):
    card, sha = _card(tmp_path)
    _record_sha(card, sha)
    (card / ".DS_Store").write_text("junk")
    (card / "recipe.yaml").write_text("epochs: 1\n")
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/hubtest_seg.toy",
                     "--hubcards", str(tmp_path / "cards"), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"hubtest_seg.toy -> acme/hubtest_seg.toy (model.safetensors sha256 {sha})" in out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == ["README.md", "config.json", "model.safetensors", "recipe.yaml"]  # hidden files stay home
    assert "nothing uploaded" in out


def test_refuses_weights_that_differ_from_the_card_sha256(tmp_path, capsys):
    card, sha = _card(tmp_path)
    _record_sha(card, "0" * 64)
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/x", "--hubcards", str(tmp_path / "cards"),
                     "--dry-run"])
    err = capsys.readouterr().err
    assert code == 3
    assert "refusing to push" in err and sha in err and "0" * 64 in err


def test_refuses_weights_that_differ_from_the_registered_sha256(tmp_path, capsys):
    card, sha = _card(tmp_path)
    _record_sha(card, sha)
    register_hubtest({"toy": dict(hf_hub_id="zoo-tests/hubtest_seg.toy", sha256="f" * 64, num_classes=3)})
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/x", "--hubcards", str(tmp_path / "cards"),
                     "--dry-run"])
    err = capsys.readouterr().err
    assert code == 3 and "registered PretrainedCfg" in err and "f" * 64 in err


def test_refuses_a_card_with_no_recorded_sha256(tmp_path, capsys):
    _card(tmp_path)
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/x", "--hubcards", str(tmp_path / "cards"),
                     "--dry-run"])
    assert code == 3 and "no sha256 is recorded" in capsys.readouterr().err


def test_refuses_a_corrupt_weights_file_even_if_its_hash_is_recorded(tmp_path, capsys):
    from zoo.hub import sha256_of

    card, _ = _card(tmp_path)
    weights = card / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    _record_sha(card, sha256_of(weights))
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/x", "--hubcards", str(tmp_path / "cards"),
                     "--dry-run"])
    assert code == 3 and "truncated" in capsys.readouterr().err


def test_bad_repo_id_and_missing_card(tmp_path, capsys):
    assert cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "no-slash", "--dry-run"]) == 2
    (tmp_path / "unet.shapes").mkdir()
    assert cli_main(["hub", "push", "unte.shapes", "--repo-id", "acme/x", "--hubcards", str(tmp_path),
                     "--dry-run"]) == 2  # a name that is not there: usage, with the closest card names
    err = capsys.readouterr().err
    assert "zoo hub push: error: " in err and "no such hub card folder" in err and "Did you mean: unet.shapes?" in err


def test_a_card_in_the_current_folders_hubcards_is_pointed_at(tmp_path, monkeypatch, capsys):
    """Without --hubcards the default is the zoo's own folder; a plugin author's card is in ./hubcards."""
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hubcards" / "acme_net.toy").mkdir(parents=True)
    assert cli_main(["hub", "push", "acme_net.toy", "--repo-id", "acme/acme_net.toy", "--dry-run"]) == 2
    assert "hubcards/acme_net.toy is here: pass --hubcards hubcards." in capsys.readouterr().err


def test_a_failing_upload_is_a_hub_error_without_the_token(hub, tmp_path, monkeypatch, capsys):
    # olah is read-only: the create_repo call is refused, as an unreachable or forbidden Hub would be.
    monkeypatch.setenv("HF_TOKEN", SECRET)
    card, sha = _card(tmp_path)
    _record_sha(card, sha)
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/hubtest_seg.toy",
                     "--hubcards", str(tmp_path / "cards")])
    captured = capsys.readouterr()
    assert code == 3 and "push of hubtest_seg.toy to acme/hubtest_seg.toy failed" in captured.err
    assert SECRET not in captured.err + captured.out


def test_a_card_config_that_is_not_an_object_is_refused_naming_it(tmp_path, capsys):
    card = tmp_path / "unet.shapes"
    card.mkdir()
    (card / "config.json").write_text("[1, 2]")
    assert cli_main(["hub", "push", "unet.shapes", "--repo-id", "acme/x", "--hubcards", str(tmp_path),
                     "--dry-run"]) == 3
    err = capsys.readouterr().err
    assert "config.json: a model config must be a JSON object, got list" in err and "Traceback" not in err


def test_a_missing_hubcards_folder_names_both_ways_to_give_it(tmp_path, capsys):
    assert cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/x", "--hubcards", str(tmp_path / "none"),
                     "--dry-run"]) == 3
    assert (f"no hub-cards folder {tmp_path / 'none'} (pass --hubcards DIR, or set ZOO_HUBCARDS_DIR, to the folder "
            "holding the <arch>.<tag>/ card folders)") in capsys.readouterr().err


def test_an_upload_sends_exactly_the_listed_files_to_the_repo_it_creates(tmp_path, monkeypatch, capsys):
    """No writable Hub is reachable here (olah is read-only), so huggingface_hub's HfApi is replaced
    by one that records its calls: what push asks the Hub to do is what is checked."""
    from types import SimpleNamespace

    import huggingface_hub

    calls = []

    class RecordingApi:
        def __init__(self, endpoint=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return SimpleNamespace(commit_url="https://hub.example/acme/hubtest_seg.toy/commit/1")

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    card, sha = _card(tmp_path)
    _record_sha(card, sha)
    (card / ".DS_Store").write_text("junk")
    (card / "__pycache__").mkdir()
    (card / "__pycache__" / "x.pyc").write_text("junk")
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/hubtest_seg.toy",
                     "--hubcards", str(tmp_path / "cards"), "--private"])
    assert code == 0
    assert "pushed: https://hub.example/acme/hubtest_seg.toy/commit/1" in capsys.readouterr().out
    (create, repo_id, create_kwargs), (upload, upload_kwargs) = calls
    assert create == "create_repo" and repo_id == "acme/hubtest_seg.toy"
    assert create_kwargs["private"] is True and create_kwargs["exist_ok"] is True
    assert upload_kwargs["folder_path"] == str(card) and upload_kwargs["repo_id"] == "acme/hubtest_seg.toy"
    # what the dry run lists, and nothing else: hidden files and __pycache__ stay home
    assert upload_kwargs["allow_patterns"] == ["README.md", "config.json", "model.safetensors"]
    assert sha[:12] in upload_kwargs["commit_message"]


def test_a_registered_tag_decides_which_file_and_repo_a_push_is_checked_against(tmp_path, capsys):
    """zoo.create downloads the registered PretrainedCfg's filename from its hf_hub_id, whatever the
    card's config.json says: push checks that file, and warns when pushed elsewhere."""
    from zoo.registry import reset_registry

    card, sha = _card(tmp_path, hf_hub_id="acme/hubtest_seg.toy")
    _record_sha(card, sha)
    register_hubtest({"toy": dict(hf_hub_id="zoo-tests/hubtest_seg.toy", sha256=sha, num_classes=3)})
    push = ["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/hubtest_seg.toy", "--hubcards",
            str(tmp_path / "cards"), "--dry-run"]
    assert cli_main(push) == 0
    assert "hubtest_seg.toy loads its weights from zoo-tests/hubtest_seg.toy" in capsys.readouterr().err
    reset_registry()
    register_hubtest({"toy": dict(hf_hub_id="zoo-tests/hubtest_seg.toy", sha256=sha, num_classes=3,
                                  filename="weights.safetensors")})
    assert cli_main(push) == 3
    assert f"{card}: the weights file weights.safetensors is missing" in capsys.readouterr().err


def test_push_plan_raises_a_checksum_error_for_weights_that_differ_from_their_record(tmp_path):
    """For Python callers: a sha256 mismatch is a ChecksumError (a WeightsError), like a tampered download."""
    import pytest

    from zoo.cli.hub import push_plan
    from zoo.errors import ChecksumError

    card, _ = _card(tmp_path)
    _record_sha(card, "0" * 64)
    with pytest.raises(ChecksumError, match="refusing to push hubtest_seg.toy"):
        push_plan("hubtest_seg.toy", tmp_path / "cards")


def test_a_hub_failure_that_quotes_the_token_is_reported_without_it(tmp_path, monkeypatch, capsys):
    """olah's refusal never quotes the token; a Hub error may (a proxy echoing the request, a client's
    debug text). HfApi is replaced by one failing that way."""
    import huggingface_hub

    class LeakyApi:
        def __init__(self, endpoint=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            raise RuntimeError(f"401 Unauthorized: Authorization: Bearer {SECRET}")

    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setattr(huggingface_hub, "HfApi", LeakyApi)
    card, sha = _card(tmp_path)
    _record_sha(card, sha)
    code = cli_main(["hub", "push", "hubtest_seg.toy", "--repo-id", "acme/hubtest_seg.toy",
                     "--hubcards", str(tmp_path / "cards")])
    err = capsys.readouterr().err
    assert code == 3 and "RuntimeError: 401 Unauthorized: Authorization: Bearer ***" in err and SECRET not in err
