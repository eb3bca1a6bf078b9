"""``itr-bench prepare`` through the real command line."""

from itr_bench.cli import main
from itr_bench.commands import parse_option


def test_prepare_synthetic(tmp_path, capsys):
    code = main(["prepare", "synthetic", "--image-size", "24", "--cache-dir", str(tmp_path),
                 "-o", "train=10", "-o", "val=2", "-o", "test=3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "train: 10 images, 50 captions, 10 instances" in out
    assert len([p for p in tmp_path.iterdir() if (p / "meta.json").is_file()]) == 1


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["prepare", "flickr8k", "--root", str(tmp_path / "none"), "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "root folder does not exist" in err and "Traceback" not in err
    assert main(["prepare", "synthetic", "--cache-dir", str(tmp_path), "-o", "colour=red"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'colour'" in err


def test_parse_option():
    assert parse_option("val-size=8") == ("val_size", 8)
    assert parse_option("split=by-file") == ("split", "by-file")
    assert parse_option("split_sizes=[6,2,2]") == ("split_sizes", [6, 2, 2])
