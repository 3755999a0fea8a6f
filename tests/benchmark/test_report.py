import json
import os
import re
import sys
from html import escape
from statistics import mean

import pytest
import torch
from run_folders import METRICS, SCRIPT, write_run

from captum_nlp_ext.benchmark import markdown_table, write_report
from captum_nlp_ext.benchmark._read import read_run, read_runs
from captum_nlp_ext.benchmark._summary import summarize_run
from captum_nlp_ext.cli import main
from captum_nlp_ext.metrics import summarize


def _defined(values):
    return [v for v in values if v is not None]


def test_summary_means_match_hand_computed(tmp_path):
    summary = summarize_run(read_run(write_run(tmp_path / "run")))
    rows = {r.method: r for r in summary.rows}
    assert [r.method for r in summary.rows] == ["nlgp", "lig", "random"]
    assert rows["nlgp"].metrics["comprehensiveness"].mean == pytest.approx(0.4)
    # The undefined sufficiency of example 1 is skipped, not counted as 0.
    assert rows["nlgp"].metrics["sufficiency"].mean == pytest.approx(0.15)
    assert rows["nlgp"].metrics["sufficiency"].n == 2
    assert rows["random"].metrics["deletion_auc"].mean == pytest.approx(0.65)
    for method, metrics in METRICS.items():
        for metric, values in metrics.items():
            result = rows[method].metrics[metric]
            assert result.n == len(_defined(values))
            assert result.mean == pytest.approx(mean(_defined(values)))
    assert rows["lig"].costs["seconds"].mean == pytest.approx(0.25)
    assert rows["nlgp"].costs["forward_rows"].mean == pytest.approx(130)
    assert rows["nlgp"].peak_memory_bytes == 5 * 2**20
    # Higher comprehensiveness is better; lower sufficiency and deletion area.
    assert summary.best == {
        "comprehensiveness": {"nlgp"},
        "sufficiency": {"nlgp"},
        "deletion_auc": {"nlgp"},
    }
    assert summary.expected == 3 and summary.partial
    assert [r.examples for r in summary.rows] == [3, 3, 2]


def test_page_table_shows_means_intervals_n_and_best(tmp_path):
    page = write_report(write_run(tmp_path / "run")).read_text()
    table = page[page.index('<table class="metrics">') :]
    table = table[: table.index("</table>")]
    rows = {re.match(r"<td>(\w+)</td>", r).group(1): r for r in table.split("<tr>")[2:]}
    values = torch.tensor([0.5, 0.3, 0.4], dtype=torch.float64)
    nlgp = summarize("comprehensiveness", values)
    assert (
        f"0.400 ★</span><br><span class='ci'>[{nlgp.ci_low:.3f}, "
        f"{nlgp.ci_high:.3f}] n=3" in rows["nlgp"]
    )
    assert "0.150 ★" in rows["nlgp"] and "n=2" in rows["nlgp"]
    assert "★" not in rows["lig"] and "★" not in rows["random"]
    assert "0.200" in rows["lig"] and "0.050" in rows["random"]
    assert (
        "<td>130.0</td>" in rows["nlgp"]
        and "5.0 MiB<br><span class='ci'>rss</span>" in rows["nlgp"]
    )
    assert "comprehensiveness</span> ↑" in table and "sufficiency</span> ↓" in table
    assert "examples per method: nlgp: 3, lig: 3, random: 2" in page


def test_page_escapes_every_text_and_loads_nothing(tmp_path):
    page = write_report(write_run(tmp_path / "run")).read_text()
    assert "<script" not in page.lower()
    assert escape(SCRIPT) in page
    assert (
        "&amp;</mark>" in page and "&#34;hi&#34;</mark>" in page
    )  # markupsafe's quote
    assert "test box &lt;b&gt;&amp;&lt;/b&gt;" in page
    assert "nlgp &lt;i&gt;described&lt;/i&gt;" in page
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert sources and all(s.startswith("data:") for s in sources)
    assert "Content-Security-Policy" in page


def test_page_has_figures_and_rationale(tmp_path):
    pytest.importorskip("matplotlib")
    page = write_report(write_run(tmp_path / "run")).read_text()
    assert page.count('src="data:image/png;base64,') == 2
    # Example 0 has a rationale: "fine" is boxed in the rationale row and in
    # every method's row.
    example = page[page.index("<h3>Example 0</h3>") : page.index("<h3>Example 1")]
    assert example.count('<mark class="rationale"') == 1 + len(METRICS)
    assert "human rationale" in example
    assert "label 1 · predicted 1 (p=0.900) · explained class 1" in example
    assert (
        "rationale"
        not in page[page.index("<h3>Example 1</h3>") :].split("<h2>Settings")[0]
    )


def test_without_matplotlib_the_page_renders_and_says_so(tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.colors"):
        monkeypatch.setitem(sys.modules, name, None)
    page = write_report(write_run(tmp_path / "run")).read_text()
    assert "<img" not in page and "pip install matplotlib" in page
    assert page.count('<div class="example">') == 3


def test_max_examples_limits_the_examples_shown(tmp_path):
    run = write_run(tmp_path / "run")
    page = write_report(run, tmp_path / "out" / "r.html", max_examples=1).read_text()
    assert page.count('<div class="example">') == 1
    assert "1 of 3 examples (max_examples=1)" in page
    assert write_report(run, max_examples=0).read_text().count("<h3>Example") == 0
    with pytest.raises(ValueError, match="max_examples"):
        write_report(run, max_examples=-1)


def test_partial_run_missing_method_and_torn_line_render(tmp_path):
    run = write_run(tmp_path / "run", methods=["nlgp", "lig", "random", "lime"])
    (run / "results.jsonl").write_text(
        (run / "results.jsonl").read_text() + '{"example": 2, "method": "li'
    )
    page = write_report(run).read_text()
    assert "nlgp: 3, lig: 3, random: 2, lime: 0" in page
    assert "cut off" in page
    lime = page[page.index("<tr><td>lime</td>") :].split("</tr>")[0]
    assert "<td>0</td>" in lime and "–" in lime
    assert page.count("<i>not computed</i>") == 3 + 1  # lime x3, random x1
    table = markdown_table(run)
    assert "| lime | 0 | – | – | – | – | – | – |" in table


def test_a_broken_line_inside_results_is_an_error(tmp_path):
    run = write_run(tmp_path / "run")
    lines = (run / "results.jsonl").read_text().splitlines()
    lines.insert(1, "{not json")
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 2"):
        write_report(run)


def test_run_without_results_renders(tmp_path):
    run = write_run(tmp_path / "run")
    (run / "results.jsonl").unlink()
    page = write_report(run).read_text()
    assert "nlgp: 0, lig: 0, random: 0" in page and "0 of 0 examples" in page


def test_missing_folder_and_unknown_schema_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run.json"):
        write_report(tmp_path / "nowhere")
    run = write_run(tmp_path / "run")
    settings = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**settings, "schema": 2}))
    with pytest.raises(ValueError, match="schema 2"):
        markdown_table(run)


def test_markdown_table(tmp_path):
    lines = markdown_table(write_run(tmp_path / "run")).splitlines()
    assert lines[0] == (
        "| method | examples | comprehensiveness ↑ | sufficiency ↓ | deletion_auc ↓ "
        "| s / example | model passes / example | peak memory |"
    )
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    assert len(lines) == 2 + len(METRICS)
    nlgp = summarize("comprehensiveness", torch.tensor([0.5, 0.3, 0.4]))
    assert lines[2].startswith(
        f"| nlgp | 3 | **0.400** [{nlgp.ci_low:.3f}, {nlgp.ci_high:.3f}] | "
        "**0.150** [0.100, 0.200] n=2 |"
    )
    assert lines[2].endswith("| 0.5 | 130.0 | 5.0 MiB |")
    cells = [c.strip() for c in lines[4].strip("|").split("|")]
    assert cells[:2] == ["random", "2"] and cells[2].startswith("0.050 [")
    assert all("**" not in c for c in cells)


def test_cli_report_writes_page_and_markdown(tmp_path, capsys):
    run = write_run(tmp_path / "run")
    out, md = tmp_path / "page.html", tmp_path / "md" / "table.md"
    code = main(
        ["report", str(run), "--out", str(out), "--markdown", str(md)]
        + ["--max-examples", "2"]
    )
    assert code == 0
    assert capsys.readouterr().out.split() == ["wrote", str(out), "wrote", str(md)]
    assert out.read_text().count('<div class="example">') == 2
    assert md.read_text() == markdown_table(run)
    main(["report", str(run)])
    assert (run / "report.html").is_file()


def _chromium():
    found = os.path.exists("/usr/bin/chromium") and os.path.exists(
        "/usr/bin/chromedriver"
    )
    if not found:
        if os.environ.get("CAPTUM_NLP_REQUIRE_BROWSER") == "1":
            pytest.fail("CAPTUM_NLP_REQUIRE_BROWSER=1 but chromium is missing")
        pytest.skip("chromium / chromedriver not installed")
    if os.environ.get("CAPTUM_NLP_REQUIRE_BROWSER") == "1":
        import selenium  # noqa: F401
    else:
        pytest.importorskip("selenium")


def test_report_in_headless_chromium(tmp_path):
    _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    page = write_report(write_run(tmp_path / "run"))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(page.as_uri())
        text = driver.find_element(By.TAG_NAME, "body").text
        images = driver.execute_script(
            "return Array.from(document.images, i => i.complete && i.naturalWidth)"
        )
        pwned = driver.execute_script("return typeof window.__pwned")
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    assert severe == []
    for method in METRICS:
        assert method in text
    assert SCRIPT in text and pwned == "undefined"
    assert len(images) == 2 and all(isinstance(w, int) and w > 0 for w in images)


def test_chromium_skip_is_a_failure_when_required(monkeypatch):
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setenv("CAPTUM_NLP_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing"):
        _chromium()
    monkeypatch.delenv("CAPTUM_NLP_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception):
        _chromium()


def test_folders_with_different_methods_report_as_one_run(tmp_path):
    whole = summarize_run(read_run(write_run(tmp_path / "whole")))
    first = write_run(tmp_path / "first", methods=["nlgp"])
    second = write_run(tmp_path / "second", methods=["lig", "random"])
    joined = summarize_run(read_runs([first, second]))
    assert [r.method for r in joined.rows] == [r.method for r in whole.rows]
    for together, alone in zip(joined.rows, whole.rows):
        assert together.examples == alone.examples
        for metric in whole.metrics:
            assert together.metrics[metric].mean == pytest.approx(
                alone.metrics[metric].mean
            )
    path = write_report([first, second])
    assert path == first / "report.html"
    assert markdown_table([first, second]) == markdown_table(tmp_path / "whole")


def test_folders_of_different_runs_are_refused(tmp_path):
    first = write_run(tmp_path / "first", methods=["nlgp"])
    second = write_run(tmp_path / "second", methods=["lig"])
    settings = json.loads((second / "run.json").read_text())
    settings["budget"] = 64
    (second / "run.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="budget"):
        read_runs([first, second])
    with pytest.raises(ValueError, match="run_dirs"):
        read_runs([])


def test_one_method_with_two_settings_is_refused(tmp_path):
    first = write_run(tmp_path / "first", methods=["nlgp"])
    second = write_run(tmp_path / "second", methods=["nlgp"])
    # the same settings: the later folder's records replace the earlier's
    assert len(read_runs([first, second]).records) == 3
    settings = json.loads((second / "run.json").read_text())
    settings["method_settings"]["nlgp"]["settings"]["n_samples"] = 64
    (second / "run.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="'nlgp' ran with different settings"):
        read_runs([first, second])


def test_unsigned_methods_are_marked_in_the_table(tmp_path):
    from captum_nlp_ext.engine.methods import METHODS

    # The registry says which scores carry no sign, per setting where one
    # turns a sign on (LAFA's `signed`, on in the registry by default).
    assert METHODS["lafa"].record()["signed"] is True
    assert METHODS["lafa"].record({"signed": False})["signed"] is False
    assert METHODS["saliency"].record()["signed"] is False
    assert METHODS["marc"].record()["signed"] is False
    assert METHODS["lime"].record()["signed"] is True
    assert METHODS["nlgp"].record()["signed"] is True
    folder = write_run(tmp_path / "run")
    run_file = folder / "run.json"
    settings = json.loads(run_file.read_text())
    settings["method_settings"]["lig"]["signed"] = False
    settings["method_settings"]["nlgp"]["signed"] = True
    run_file.write_text(json.dumps(settings))
    page = write_report(folder).read_text()
    table = page[page.index('<table class="metrics">') :]
    table = table[: table.index("</table>")]
    rows = {re.match(r"<td>(\w+)</td>", r).group(1): r for r in table.split("<tr>")[2:]}
    assert "<td>captum · unsigned</td>" in rows["lig"]
    assert "unsigned" not in rows["nlgp"] and "unsigned" not in rows["random"]


def test_noisy_fits_are_reported(tmp_path):
    folder = write_run(tmp_path / "run")
    lines = (folder / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record, value in zip(
        (r for r in records if r["method"] == "nlgp"), [0.1, 0.62, 0.3]
    ):
        record["convergence"] = value
    (folder / "results.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records)
    )
    page = write_report(folder).read_text()
    assert "nlgp: 1 of 3 fits are too noisy to rank their words" in page
    assert page.count("too noisy") == 1  # methods without estimates say nothing
