from captum_nlp_ext.cli import main


def test_explain_sst2_writes_a_page(models_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "page.html"
    code = main(
        [
            "explain",
            "--n",
            "2",
            "--methods",
            "nlgp,lig",
            "--out",
            str(out),
            "--models-dir",
            str(models_dir),
            "--data-dir",
            str(data_dir),
            "--no-colour",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "it 's a charming and often affecting journey ." in printed
    assert "nlgp:" in printed and "lig:" in printed
    page = out.read_text()
    assert page.count("<tr>") == 1 + 2 * 2 and "charming" in page


def test_explain_given_text_escapes_html(models_dir, tmp_path):
    out = tmp_path / "page.html"
    main(
        [
            "explain",
            "--text",
            "a <script>alert(1)</script> great film",
            "--methods",
            "nlgp",
            "--models-dir",
            str(models_dir),
            "--out",
            str(out),
        ]
    )
    page = out.read_text()
    # the tokenizer splits "<script>" into the words "<", "script", ">"
    assert "<script" not in page
    assert ">&lt;</mark>" in page and ">script</mark>" in page


def _error(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and "Traceback" not in "\n".join(lines)
    return lines[-1]


def test_user_mistakes_end_in_one_line_and_status_2(
    models_dir, data_dir, tmp_path, capsys
):
    shared = ["--models-dir", str(models_dir), "--data-dir", str(data_dir)]
    cases = [
        (["explain", "--model", str(tmp_path / "nope")], "--model: no model folder"),
        (["explain", "--model", "nope", *shared], "--model: no model 'nope'"),
        (["explain", "--methods", "nlgp,bogus", *shared], "unknown method(s) 'bogus'"),
        (["explain", "--text", "fine", "--text", " ", *shared], "text 2 is empty"),
        (["explain", "--data-dir", str(tmp_path / "none")], "--data-dir: no folder"),
        (["explain", "--max-length", "9999", "--text", "ok", *shared], "--max-length"),
        (["report", str(tmp_path)], "is not a benchmark run folder"),
        (
            ["benchmark", "--dataset", "sst2", "--out", str(tmp_path / "r"),
             "--data-dir", str(tmp_path / "none"), "--models-dir", str(models_dir)],
            "--data-dir: no folder",
        ),
    ]  # fmt: skip
    for argv, expected in cases:
        assert main(argv) == 2, argv
        line = _error(capsys)
        assert line.startswith("captum-nlp: error: ") and expected in line, line


def test_argparse_mistakes_name_the_flag(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--n", "0"])
    assert exit_.value.code == 2
    assert "argument --n: must be >= 1; got 0" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    import pytest

    from captum_nlp_ext.cli._checks import CommandError

    with pytest.raises(CommandError, match="not a benchmark run folder"):
        main(["report", str(tmp_path), "--debug"])


def test_explain_speaks_on_stderr_and_names_classes(models_dir, capsys):
    text = "a gripping, funny film \x1b]0;pwned\x07 \x1b[31mred"
    argv = [
        "explain",
        "--text",
        text,
        "--methods",
        "nlgp",
        "--models-dir",
        str(models_dir),
    ]
    assert main(argv + ["--no-colour"]) == 0
    captured = capsys.readouterr()
    assert "loading the model minilm-sst2" in captured.err
    out = captured.out
    # id2label names the class; the comma is a word of its own
    assert "predicted positive (p=" in out and "gripping(" in out and " ,(" in out
    # control characters are shown escaped, never sent to the terminal
    assert "\x1b" not in out and "\x07" not in out and "\\x1b" in out
    assert main(argv + ["--no-colour", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_explain_reports_text_cut_to_max_length(
    models_dir, capsys, transformers_messages
):
    # Past the model's 512 positions: the cut is reported once, in our words,
    # not also as the tokenizer's "will result in indexing errors".
    text = " ".join(["good"] * 600)
    argv = ["explain", "--text", text, "--methods", "nlgp", "--max-length", "16"]
    assert main(argv + ["--models-dir", str(models_dir), "--no-colour"]) == 0
    assert "text 1: kept 14 of 600 words" in capsys.readouterr().err
    assert transformers_messages == []


def test_methods_help_lists_the_registered_names(capsys):
    import pytest

    from captum_nlp_ext.engine.methods import METHODS

    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in METHODS)
    assert "(default: nlgp,lig)" in help_text and "(default: 128" in help_text


def test_explain_warns_when_the_nlgp_fit_is_too_noisy(models_dir, capsys):
    import random

    words = "good bad dull fine film plot slow warm cold odd".split()
    text = " ".join(random.Random(0).choice(words) for _ in range(20))
    argv = ["explain", "--text", text, "--methods", "nlgp", "--no-colour"]
    argv += ["--models-dir", str(models_dir)]
    assert main(argv + ["--budget", "16"]) == 0
    err = capsys.readouterr().err
    assert "text 1: the nlgp fit is too noisy to rank its words" in err
    assert "--set nlgp.samples_per_unit=R" in err
    # a budget that fits the text: no warning
    assert main(argv + ["--budget", "16", "--set", "nlgp.samples_per_unit=8"]) == 0
    assert "too noisy" not in capsys.readouterr().err
    # and a setting the method does not have is named
    assert main(argv + ["--set", "nlgp.samples=3"]) == 2
    assert "unknown settings ['samples']" in capsys.readouterr().err


def test_a_bug_is_exit_1_with_the_way_to_its_traceback(monkeypatch, capsys):
    # A TypeError inside a command is a bug, not the user's mistake (exit 2).
    from captum_nlp_ext.cli import report

    def bug(args):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(report, "run", bug)  # bound when main builds the parser
    assert main(["report", "x"]) == 1
    line = _error(capsys)
    assert "TypeError: unsupported operand" in line and "--debug" in line
