"""The pixsift command line: each command, its output, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pixsift.cli.main import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_index_search_stats_failures(
    runner: CliRunner, cli_args: list[str], picture_folder: Path
) -> None:
    (picture_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    result = runner.invoke(
        main, ["index", str(picture_folder), "--workers", "1", "--no-progress", *cli_args]
    )
    assert result.exit_code == 0, result.output
    assert (
        "added 16" in result.output and "failed 1" in result.output and "images/s" in result.output
    )

    library_only = cli_args[:2]
    result = runner.invoke(main, ["search", "a dog on the beach", "-k", "3", *library_only])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all(
        line.split()[1].startswith(str(picture_folder)) for line in lines
    )

    result = runner.invoke(
        main,
        ["search", "--image", str(picture_folder / "picture-0007.png"), "--json", *library_only],
    )
    hits = json.loads(result.stdout)
    best = hits[0]
    assert best["absolute_path"].endswith("picture-0007.png")
    assert best["score"] == pytest.approx(1, abs=2e-3)

    result = runner.invoke(main, ["stats", *library_only])
    assert "images:         16" in result.output and "pixsift-test-tiny" in result.output

    result = runner.invoke(main, ["failures", *library_only])
    assert "broken.jpg" in result.output

    result = runner.invoke(main, ["rebuild-index", *library_only])
    assert result.exit_code == 0 and "16 vectors" in result.output

    result = runner.invoke(main, ["db", "upgrade", *library_only])
    assert result.exit_code == 0 and "up to date" in result.output


def test_errors_are_one_line_without_traceback(
    runner: CliRunner, cli_args: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(main, ["index", str(tmp_path / "missing"), *cli_args])
    assert result.exit_code != 0
    assert "does not exist" in result.output and "Traceback" not in result.output

    result = runner.invoke(main, ["search", "cat", *cli_args[:2]])
    assert result.exit_code == 1 and "index a folder first" in result.output


def test_missing_checkpoint_file_says_what_to_pass(
    runner: CliRunner, tmp_path: Path, picture_folder: Path
) -> None:
    result = runner.invoke(
        main,
        [
            "index",
            str(picture_folder),
            "--library",
            str(tmp_path / "lib"),
            "--pretrained",
            str(tmp_path / "nope.safetensors"),
        ],
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output and "--pretrained" in result.output


def test_unavailable_published_weights_fail_fast_with_instructions(
    runner: CliRunner, tmp_path: Path, picture_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    result = runner.invoke(main, ["index", str(picture_folder), "--library", str(tmp_path / "lib")])
    assert result.exit_code == 1
    assert "cannot be downloaded" in result.output and "--pretrained" in result.output
    assert "Traceback" not in result.output


def test_combined_filtered_search_and_exports(
    runner: CliRunner, cli_args: list[str], picture_folder: Path
) -> None:
    runner.invoke(main, ["index", str(picture_folder), "--workers", "1", *cli_args])
    library_only = cli_args[:2]
    result = runner.invoke(
        main,
        ["search", "shapes", "--subtract", "0.5*circles", "--add", f"{picture_folder}/picture-0001.png",
         "--folder", "nested", "--format", "jpeg", "--mode", "semantic", "--json", *library_only],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 4 and all(hit["relative_path"].startswith("nested/") for hit in hits)
    result = runner.invoke(main, ["search", "picture", "--mode", "keyword", "--csv", *library_only])
    assert result.stdout.splitlines()[0].startswith("id,score,similarity,name,")
    result = runner.invoke(main, ["duplicates", "--threshold", "0.9999", *library_only])
    assert result.exit_code == 0 and "group" not in result.stdout
    result = runner.invoke(main, ["search", "x", "--orientation", "diagonal", *library_only])
    assert result.exit_code == 2 and "diagonal" in result.output
    result = runner.invoke(main, ["search", "x", "--gps-box", "1,2,3", *library_only])
    assert result.exit_code == 1 and "south,west,north,east" in result.output
