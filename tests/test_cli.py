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
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
