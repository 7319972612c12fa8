"""``rnn-oracle audit --html PATH``: the self-contained page, parsed and in a real headless browser.

The pages are written through the command line for planted bugs: a course
folder whose ``lstm_backward`` swaps the o and g gate blocks of its weight
gradients (``--impl``), an LSTM that reads its f and o gates swapped in
forward and backward (``--spec tests.broken_specs:SPECS``), and a grader's
run over that folder and a correct one. Parsing checks what the page says
and that it names nothing on the network; the browser tests (Playwright
driving the system's Chromium, skipped where either is missing) check that it
loads without console errors or network requests, that every plot has a
size, and that the failing layer's row and plots are visible. Each browser
test saves a full-page screenshot to ``$RNN_ORACLE_ARTIFACTS`` (default: a
pytest temporary folder, printed in the test's output).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from oracle.cli import main
from tests.user_implementations import course_folder

pytest.importorskip("jinja2", reason="the HTML page needs rnn-oracle[report] (jinja2)")
pytest.importorskip("matplotlib", reason="the HTML page needs rnn-oracle[report] (matplotlib)")

ROOT = Path(__file__).resolve().parent.parent

#: impl's gate order is i, f, o, g: this lstm_backward returns its weight gradients with o and g traded.
GATE_SWAP = '''

def _swap_o_g(grad):
    i, f, o, g = np.split(grad, 4, axis=-1)
    return np.concatenate([i, f, g, o], axis=-1)


def lstm_backward(dh, cache):
    dx, dh0, dWx, dWh, db = _impl.lstm_backward(dh, cache)
    return dx, dh0, _swap_o_g(dWx), _swap_o_g(dWh), _swap_o_g(db)
'''

#: Attributes that make a browser fetch something.
FETCHING = {"src", "href", "xlink:href", "srcset", "poster", "data", "action", "formaction", "background"}


def gate_swap_folder(root: Path, name: str = "cs231n") -> Path:
    """A course folder that is right except for :data:`GATE_SWAP`."""
    folder = course_folder(root, "correct", name)
    with (folder / "rnn_layers.py").open("a", encoding="utf-8") as handle:
        handle.write(GATE_SWAP)
    return folder


class Page(HTMLParser):
    """Elements by id (tag, attributes, text inside), every attribute, every ``<style>`` text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, tuple[str, dict[str, str]]] = {}
        self.attributes: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in values.items()]
        if "id" in values:
            assert values["id"] not in self.by_id, f"duplicate id {values['id']!r}"
            self.by_id[values["id"]] = (tag, values)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


def write_page(capsys, path: Path, *argv: str) -> tuple[int, str, Page]:
    """``rnn-oracle audit *argv --html path``: exit status, the page's HTML, and the parsed page."""
    code = main(["audit", *argv, "--html", str(path)])
    capsys.readouterr()
    text = path.read_text(encoding="utf-8")
    return code, text, Page(text)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """The three pages, written once per module (each audit takes a few seconds)."""
    root = tmp_path_factory.mktemp("html-pages")
    gate_swap_folder(root / "swap")
    course_folder(root / "correct", "correct")
    common = ["--cases", "2", "--seed", "0"]
    runs = {
        "gate-swap": ["--impl", "swap/cs231n", "--layers", "affine,lstm", *common],
        "forward-swap": ["--spec", "tests.broken_specs:SPECS", "--layers", "affine,lstm_gates_swapped", *common],
        "grader": ["--impl", "correct/cs231n", "swap/cs231n", "--layers", "lstm", "--dtypes", "float64", *common],
    }
    here = Path.cwd()
    os.chdir(root)  # relative paths on the pages (and in the README's screenshot), as a user would type them
    try:
        for name, argv in runs.items():
            assert main(["audit", *argv, "--html", f"{name}.html"]) == 1, name
    finally:
        os.chdir(here)
    return {name: root / f"{name}.html" for name in runs}


def parsed(pages: dict[str, Path], name: str) -> tuple[str, Page]:
    text = pages[name].read_text(encoding="utf-8")
    return text, Page(text)


# --------------------------------------------------------------------------- the page's content


def test_gate_swap_page_shows_the_failing_layer_its_ratio_plot_and_its_gate_heatmap(pages):
    text, page = parsed(pages, "gate-swap")
    for dtype in ("float64", "float32"):
        tag, row = page.by_id[f"layer-lstm-{dtype}"]
        assert tag == "tr" and row.get("class") == "fail"
        assert page.by_id[f"layer-affine-{dtype}"][1].get("class") is None  # the right layer is not marked
        assert page.by_id[f"heatmap-lstm-{dtype}"][0] == "svg"
        assert f"failures-lstm-{dtype}" in page.by_id and f"failures-affine-{dtype}" not in page.by_id
        for quantity in ("Wx", "Wh", "b"):
            assert f"failure-lstm-{dtype}-grad_{quantity}" in page.by_id
    assert page.by_id["ratio-plot"][0] == "svg"
    # The heatmap's caption names the swapped gates, measured from the localization, and no others.
    captions = re.findall(r'<span class="failing-gates">([^<]*)</span>', text)
    assert captions == ["grad Wx o, g; grad Wh o, g; grad b o, g"] * 2
    assert "impl&#39;s backward is wrong" in text or "impl's backward is wrong" in text
    assert "rnn-oracle audit --layers lstm --dtypes float64 --seed 0 --cases 1 --impl swap/cs231n" in text
    assert re.search(r"\d+ of \d+ checks passed \(\d+ FAILED\)", text)
    for setting in ("cases", "seed", "device", "float32_matmul_precision", "torch"):
        assert f"<td>{setting}</td>" in text, setting
    # With one --impl target the page also has its verdicts as a one-row grid.
    assert "grid" in page.by_id and 'class="cell f-wrong_value"' in text


def test_forward_gate_swap_page_has_a_per_step_plot_with_the_failing_steps(pages):
    _, page = parsed(pages, "forward-swap")
    assert page.by_id["steps-lstm_gates_swapped-float64-output_h"][0] == "svg"
    assert page.by_id["heatmap-lstm_gates_swapped-float32"][0] == "svg"
    assert page.by_id["layer-lstm_gates_swapped-float64"][1]["class"] == "fail"


def test_grader_page_has_a_grid_of_targets_by_functions_with_cells_linking_to_their_evidence(pages):
    text, page = parsed(pages, "grader")
    assert page.by_id["grid"][0] == "table"
    cells = re.findall(r'<td class="cell f-(\w+)" title="[^"]*"><a href="#([^"]+)">', text)
    assert len(cells) == 4  # 2 targets x (lstm_forward, lstm_backward)
    for _, target in cells:
        assert target in page.by_id, target  # every cell links to an element of the page
    assert [finding for finding, _ in cells] == ["pass", "pass", "pass", "wrong_value"]
    evidence_row = page.by_id[cells[3][1]]
    assert evidence_row[0] == "tr" and evidence_row[1]["class"] == "fail"
    assert "1 of 2 targets passed every check" in text
    assert "grad Wx" in text  # the evidence of the failing cell is on the page


def test_pages_name_nothing_on_the_network(pages):
    for name in pages:
        text, page = parsed(pages, name)
        assert not {"script", "link", "iframe", "img", "object", "embed", "base"} & set(page.tags), name
        for tag, attribute, value in page.attributes:
            if attribute in FETCHING:  # in-page links, and the heatmaps' pixels inlined as data: URIs
                assert value.startswith(("#", "data:image/png;base64,")), (name, tag, attribute, value[:80])
            if attribute == "style":
                assert "url(" not in value.replace("url(#", ""), (name, tag, value)
        styles = " ".join(page.styles)
        assert "@import" not in styles and "url(" not in styles.replace("url(#", ""), name
        # Namespace names (xmlns="http://www.w3.org/2000/svg") are identifiers, never fetched; nothing else may be.
        without_namespaces = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", text)
        assert not re.findall(r"(?:https?|ftp)://|//[\w.-]+\.\w+/", without_namespaces), name


def test_page_is_deterministic_apart_from_the_timings(pages, tmp_path, capsys):
    argv = ["--spec", "tests.broken_specs:SPECS", "--layers", "affine,lstm_gates_swapped", "--cases", "2",
            "--seed", "0"]
    _, again, _ = write_page(capsys, tmp_path / "again.html", *argv)
    timings = re.compile(r"\d+\.\d+ s\b|<td>\d+\.\d\d</td>")
    first = pages["forward-swap"].read_text(encoding="utf-8").replace("forward-swap.html", "PAGE")
    assert timings.sub("", again.replace(str(tmp_path / "again.html"), "PAGE")) == timings.sub("", first)


def test_html_without_the_report_extra_exits_2_before_auditing_and_says_what_to_install(capsys, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setattr("oracle.cli.REPORT_LIBRARIES", ("jinja2", "rnn_oracle_no_such_module"))
    code = main(["audit", "--layers", "affine", "--cases", "1", "--html", str(tmp_path / "page.html")])
    err = capsys.readouterr().err
    assert code == 2
    assert "rnn_oracle_no_such_module" in err and "install rnn-oracle[report]" in err
    assert "[1/" not in err and not (tmp_path / "page.html").exists()  # refused before any audit ran


def test_unwritable_html_path_exits_2_before_auditing(capsys, tmp_path):
    code = main(["audit", "--layers", "affine", "--cases", "1", "--html", str(tmp_path / "missing" / "page.html")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write --html" in err and "[1/" not in err


def test_audit_and_impl_without_html_never_import_the_report_libraries(tmp_path):
    folder = course_folder(tmp_path, "correct")
    script = (
        "import sys\n"
        "from oracle.cli import main\n"
        "main(['audit', '--layers', 'affine', '--cases', '1'])\n"
        f"main(['audit', '--impl', {str(folder)!r}, '--layers', 'affine', '--cases', '1'])\n"
        "import impl\n"
        "print(sorted(name for name in ('jinja2', 'matplotlib') if name in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert completed.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- in a real browser


def unavailable(reason: str) -> None:
    """Skip, or fail where ``RNN_ORACLE_REQUIRE_BROWSER`` is set (CI, which installs the browser)."""
    if os.environ.get("RNN_ORACLE_REQUIRE_BROWSER"):
        pytest.fail(f"{reason}, and RNN_ORACLE_REQUIRE_BROWSER is set")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Playwright's Chromium API on the system's Chromium (Playwright's own download is never used)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        unavailable("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        unavailable("playwright is not installed (it is in rnn-oracle[test])")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """Where screenshots go: ``$RNN_ORACLE_ARTIFACTS`` when set, else a pytest temporary folder."""
    folder = Path(os.environ.get("RNN_ORACLE_ARTIFACTS") or tmp_path_factory.mktemp("html-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, path: Path):
    """Load ``path`` with every non-file request blocked; return the page, console errors and requests seen."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    errors: list[str] = []

    def only_the_file(route) -> None:
        requests.append(route.request.url)
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


def check_in_browser(browser, path: Path, artifacts: Path, visible: list[str]) -> None:
    """Load the page; no console errors, no request but the page itself, every plot sized, ``visible`` shown."""
    page, errors, requests = open_page(browser, path)
    try:
        plots = page.evaluate("Array.from(document.querySelectorAll('svg')).map(svg => {"
                              "const box = svg.getBoundingClientRect(); return [svg.id, box.width, box.height]; })")
        assert errors == [] and requests == [path.as_uri()]
        assert plots == [[name, width, height] for name, width, height in plots if width > 0 and height > 0]
        assert len(plots) == Page(path.read_text(encoding="utf-8")).tags.count("svg")
        for selector in visible:
            element = page.locator(selector)
            element.scroll_into_view_if_needed()
            assert element.is_visible(), selector
            box = element.bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0, selector
        shot, top = artifacts / f"{path.stem}.png", artifacts / f"{path.stem}-top.png"
        page.screenshot(path=str(shot), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 1900})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(top))  # the first screen, as docs/html_report.png shows it
        print(f"screenshots: {shot}, {top}")
        assert shot.stat().st_size > 0 and top.stat().st_size > 0
    finally:
        page.context.close()


def test_gate_swap_page_in_a_browser(browser, pages, artifacts):
    check_in_browser(browser, pages["gate-swap"], artifacts,
                     ["#layer-lstm-float64", "#ratio-plot", "#heatmap-lstm-float64", "#heatmap-lstm-float32",
                      "#failure-lstm-float64-grad_Wx"])


def test_forward_gate_swap_page_in_a_browser(browser, pages, artifacts):
    check_in_browser(browser, pages["forward-swap"], artifacts,
                     ["#layer-lstm_gates_swapped-float32", "#steps-lstm_gates_swapped-float64-output_h",
                      "#heatmap-lstm_gates_swapped-float64"])


def test_grader_page_in_a_browser(browser, pages, artifacts):
    check_in_browser(browser, pages["grader"], artifacts, ["#grid", "#target-1"])
