"""`cnndsl serve` driven in a real headless browser (Debian's chromium and chromedriver, through Selenium):
the page over a copy of architectures/, as a person would use it. Edits change the parameter count and the
diagram, an error is underlined where the compiler says it is, a diagram node selects its statement and
the cursor picks the nodes of its statement, saves write the file or are refused when it changed, and the
download buttons save the server's outputs for the text being edited.

    CNNDSL_SCREENSHOT=docs/images/serve.png pytest tests/test_serve_browser.py   # also rewrites the README's picture
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ARCH, ROOT

import cnndsl
from cnndsl.errors import CnnDslError

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver")
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):  # `make system-deps` installs them
    pytest.skip("Debian's chromium and chromium-driver are not installed", allow_module_level=True)

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

LAYER1 = "repeat 3 basic(64)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "architectures"
    shutil.copytree(ARCH, path)
    return path


@pytest.fixture(scope="module")
def server(folder):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cnndsl", "serve", str(folder), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"cnndsl serve did not start: {process.communicate()[1].decode()[-2000:]}") from None
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/"
    process.terminate()
    _, stderr = process.communicate(timeout=10)
    assert b"Traceback" not in stderr, stderr.decode()[-3000:]


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_window_size(1600, 1000)
    # the download buttons save into `downloads`, without asking (nor holding back .py files as dangerous)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def wait(driver, condition, seconds: float = 60):  # the machine may be busy
    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(lambda d: condition())


def settled(driver) -> bool:
    """The page shows the analysis of the last text it sent."""
    body = driver.find_element(By.TAG_NAME, "body")
    sent = body.get_attribute("data-sent")
    return sent is not None and sent == body.get_attribute("data-shown") and body.get_attribute("data-pending") is None


def replace(driver, old: str, new: str) -> None:
    """Type `new` over the first `old` in the editor, as a person would: select it, then type."""
    ta = driver.find_element(By.ID, "source")
    start = ta.get_property("value").index(old)
    driver.execute_script("arguments[0].focus(); arguments[0].setSelectionRange(arguments[1], arguments[2]);",
                          ta, start, start + len(old))  # fmt: skip
    ta.send_keys(new)


def selection(driver) -> str:
    """The text selected in the editor."""
    return driver.execute_script("const t = document.getElementById('source'); "
                                 "return t.value.slice(t.selectionStart, t.selectionEnd);")  # fmt: skip


def totals(driver) -> str:
    return driver.find_element(By.ID, "totals").text


def diagram_text(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#diagram svg").get_attribute("textContent")


def node(driver, key: str):
    for g in driver.find_elements(By.CSS_SELECTOR, "#diagram g.node"):
        if g.get_attribute("data-key") == key:
            return g
    raise AssertionError(f"no diagram node {key}")


def test_the_playground(server, browser, folder):
    d = browser
    d.get(server)
    wait(d, lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    d.find_element(By.CSS_SELECTOR, '#files .file[data-path="resnet34.cnn"]').click()
    wait(d, lambda: d.find_element(By.ID, "filename").text == "resnet34.cnn" and settled(d))
    original = (folder / "resnet34.cnn").read_text()
    assert d.find_element(By.ID, "source").get_property("value") == original
    assert f"{cnndsl.load(folder / 'resnet34.cnn').params:,} params" in totals(d)  # 21,797,672
    # every block collapsed (what the default opens may change); the control redraws at once
    Select(d.find_element(By.ID, "detail")).select_by_value("blocks")
    wait(d, lambda: settled(d) and "layer1.0.conv1" not in diagram_text(d))
    before = diagram_text(d)
    assert "basic(64) ×3" in before

    # layer1 loses a block: the count and the drawing follow as soon as the text is typed
    replace(d, LAYER1, "repeat 2 basic(64)")
    edited = original.replace(LAYER1, "repeat 2 basic(64)")
    expected = cnndsl.loads(edited, path=str(folder / "resnet34.cnn")).params
    wait(d, lambda: f"{expected:,} params" in totals(d))
    after = diagram_text(d)
    assert "basic(64) ×2" in after and "basic(64) ×3" not in after
    assert "stale" not in d.find_element(By.ID, "diagram").get_attribute("class")

    # an error: underlined at the compiler's line and column, with its code; the diagram is kept, greyed
    replace(d, "maxpool(3,", "maxpol(3,")
    broken = edited.replace("maxpool(3,", "maxpol(3,")
    with pytest.raises(CnnDslError) as caught:
        cnndsl.loads(broken, path=str(folder / "resnet34.cnn"))
    e = caught.value
    wait(d, lambda: settled(d) and d.find_elements(By.CSS_SELECTOR, "#highlight .squiggle"))
    underlined = d.find_element(By.CSS_SELECTOR, "#highlight .squiggle")
    assert underlined.get_attribute("data-code") == e.code
    line_text = broken.splitlines()[e.line - 1]
    assert underlined.text == "maxpol" and line_text[e.column - 1 :].startswith("maxpol")
    assert d.find_element(By.CSS_SELECTOR, "#gutter .bad").text == str(e.line)
    assert "stale" in d.find_element(By.ID, "diagram").get_attribute("class")
    assert "basic(64) ×2" in diagram_text(d)  # the last good drawing
    listed = d.find_element(By.CSS_SELECTOR, "#errors li").text
    assert f"error[{e.code}]" in listed and f"resnet34.cnn:{e.line}:{e.column}" in listed
    ActionChains(d).move_to_element(underlined).perform()  # hover: the message and the hint
    tooltip = d.find_element(By.ID, "tooltip")
    wait(d, lambda: tooltip.is_displayed())
    assert f"error[{e.code}]: {e.message}" in tooltip.text and (e.hint or "") in tooltip.text

    replace(d, "maxpol(3,", "maxpool(3,")
    wait(d, lambda: settled(d) and "stale" not in d.find_element(By.ID, "diagram").get_attribute("class"))
    assert not d.find_elements(By.CSS_SELECTOR, "#highlight .squiggle")

    # a diagram node selects its statement in the editor; the cursor on a statement picks its nodes
    node(d, "maxpool").click()
    ta = d.find_element(By.ID, "source")
    assert selection(d) == "maxpool: maxpool(3, strides=2, padding=1)"
    assert "picked" in node(d, "maxpool").get_attribute("class")
    fc = edited.index("fc: dense")
    d.execute_script("arguments[0].setSelectionRange(arguments[1], arguments[1]);", ta, fc)
    ta.send_keys("\ue012")  # an arrow key: the cursor moves as a person moves it
    wait(d, lambda: "picked" in node(d, "fc").get_attribute("class"))
    assert "picked" not in node(d, "maxpool").get_attribute("class")
    d.find_element(By.XPATH, "//div[@id='summary']//td[text()='bn1']").click()  # a row of the summary, too
    assert selection(d) == "bn1: batchnorm()"
    if os.environ.get("CNNDSL_SCREENSHOT"):  # the README's picture: the default drawing, a block picked
        Select(d.find_element(By.ID, "detail")).select_by_value("")
        wait(d, lambda: settled(d))
        node(d, "layer3.0").click()
        time.sleep(0.3)
        d.save_screenshot(os.environ["CNNDSL_SCREENSHOT"])

    # save: written to disk; refused once the file changed underneath
    d.find_element(By.ID, "save").click()
    wait(d, lambda: d.find_element(By.ID, "status").text == "saved resnet34.cnn")
    assert (folder / "resnet34.cnn").read_text() == edited
    changed = edited + "# changed by someone else\n"
    (folder / "resnet34.cnn").write_text(changed)
    replace(d, "repeat 2 basic(64)", "repeat 4 basic(64)")
    d.find_element(By.ID, "save").click()
    wait(d, lambda: "changed on disk" in d.find_element(By.ID, "status").text)
    assert (folder / "resnet34.cnn").read_text() == changed
    d.find_element(By.ID, "reload").click()  # the file as it is now, once the unsaved text may go
    wait(d, lambda: d.switch_to.alert).accept()
    wait(d, lambda: d.find_element(By.ID, "source").get_property("value") == changed)


def downloaded(folder: Path, name: str) -> bytes:
    """The file the browser saved as `name`: Chromium writes a `.crdownload` file and gives it the name once whole."""
    path = folder / name
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{name} was not downloaded: {sorted(p.name for p in folder.iterdir())}"
        time.sleep(0.05)
    return path.read_bytes()


def test_the_download_buttons(server, browser, folder, downloads):
    """Each button saves what the server makes of the text in the editor, unsaved edits included."""
    import onnx

    from cnndsl.serve.workspace import Options, Workspace

    d = browser
    d.get(server)
    wait(d, lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    d.find_element(By.CSS_SELECTOR, '#files .file[data-path="lenet5.cnn"]').click()
    wait(d, lambda: d.find_element(By.ID, "filename").text == "lenet5.cnn" and settled(d))
    replace(d, "classes = 10", "classes = 7")
    text = d.find_element(By.ID, "source").get_property("value")
    wait(d, lambda: settled(d) and f"{cnndsl.loads(text).params:,} params" in totals(d))  # 61,451
    assert "classes = 7" in text and "classes = 7" not in (folder / "lenet5.cnn").read_text()
    buttons = {b.get_attribute("data-format"): b for b in d.find_elements(By.CSS_SELECTOR, "#downloads button")}
    assert list(buttons) == ["torch", "keras", "onnx", "svg", "png"]
    names = {"torch": "lenet5.py", "keras": "lenet5_keras.py", "onnx": "lenet5.onnx", "svg": "lenet5.svg",
             "png": "lenet5.png"}  # fmt: skip
    got = {}
    for fmt, button in buttons.items():
        button.click()
        got[fmt] = downloaded(downloads, names[fmt])
    served = Workspace(folder)  # the server's own answer for this text, byte for byte
    for fmt in ("torch", "keras", "onnx"):
        assert got[fmt] == served.download("lenet5.cnn", text, "lenet5", fmt, Options())[0], fmt
    assert (
        "def __init__(self, classes: int = 7)" in got["torch"].decode()
        and "def build(classes=7)" in got["keras"].decode()
    )
    model = onnx.load_from_string(got["onnx"])
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim][1:] == [7]
    assert b"<svg" in got["svg"] and b"C5" in got["svg"] and got["png"].startswith(b"\x89PNG\r\n\x1a\n")


EDGES = [
    "let width = 64  # a constant", "def half(c) = c // 2", 'denselayer{i + 1}: dense_layer(growth)',
    '"0": conv(64, 3x3, strides=2)', "shortcut proj", "batchnorm(epsilon=1e-5, momentum=.1)", "if depth >= 2 {",
    "for i in range(3) { relu() }", "conv(c, ?, use_bias=true)", "x == y != z", "concat { branch1: identity() }",
    "conv(64, 3) ; $",
]  # fmt: skip


def pygments_pieces(line: str) -> list[list[str]]:
    """A line as cnndsl.highlight's Pygments lexer splits it: [text, short token name] (whitespace left out)."""
    from pygments.token import STANDARD_TYPES

    from cnndsl.highlight import CnnLexer

    out = []
    for token, text in CnnLexer().get_tokens(line):
        while token not in STANDARD_TYPES:
            token = token.parent
        if text.strip():
            out.append([text, STANDARD_TYPES[token]])
    return out


def test_the_editor_highlights_as_the_pygments_lexer(server, browser):
    pytest.importorskip("pygments")
    d = browser
    if not d.current_url.startswith(server):
        d.get(server)
    wait(d, lambda: d.execute_script("return Boolean(window.cnnEditor)"))
    lines = [*{line for p in sorted(ARCH.rglob("*.cnn")) for line in p.read_text().splitlines()}, *EDGES]
    lines.sort()
    pieces = d.execute_script(
        "return arguments[0].map((line) => tokenize(window.cnnEditor.rules, line).filter(([t]) => t.trim()));", lines
    )
    assert len(pieces) == len(lines) > 300
    for line, got in zip(lines, pieces):
        assert got == pygments_pieces(line), line
