"""`cnndsl serve`'s endpoints without a browser (Starlette's TestClient): what paths may be reached, saves
that refuse to overwrite a changed file, the bounds on requests and work, the analysis the page shows,
downloads, and refusals of other sites. tests/test_serve_browser.py drives the page itself."""

from __future__ import annotations

import shutil

import pytest
from conftest import ARCH

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.cli import main  # noqa: E402
from cnndsl.serve import create_app, workspace  # noqa: E402
from cnndsl.serve.app import MAX_BODY  # noqa: E402

LENET = (ARCH / "lenet5.cnn").read_text()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(ARCH / "lenet5.cnn", root / "lenet5.cnn")
    shutil.copytree(ARCH / "blocks", root / "blocks")
    shutil.copy(ARCH / "resnet18.cnn", root / "resnet18.cnn")
    (tmp_path / "secret.cnn").write_text("network secret {\n    input(1, 8, 8)\n}\n")
    return root


@pytest.fixture
def client(folder):
    return TestClient(create_app(folder))


def analyse(client, text: str, path: str = "lenet5.cnn", **extra) -> dict:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"id": 1, "path": path, "text": text, **extra})
        return ws.receive_json()


# --- paths -------------------------------------------------------------------------------------------


def test_the_listing_names_the_files_and_their_networks(client):
    listing = client.get("/api/files").json()
    files = {f["path"]: f["networks"] for f in listing["files"]}
    assert files == {"blocks/resnet.cnn": [], "lenet5.cnn": ["lenet5"], "resnet18.cnn": ["resnet18"]}
    assert "conv" in listing["lexicon"]["layers"] and "repeat" in listing["lexicon"]["keywords"]


@pytest.mark.parametrize(
    "path",
    ["../secret.cnn", "/etc/passwd", "blocks/../../secret.cnn", "lenet5.py", ".hidden.cnn", "a\\b.cnn", "",
     "x\x00.cnn"],
)  # fmt: skip
def test_paths_outside_the_folder_or_not_cnn_are_refused(client, folder, path):
    response = client.get("/api/file", params={"path": path})
    assert response.status_code in (400, 403) and "error" in response.json()
    saved = client.post("/api/save", json={"path": path, "text": "x", "token": None})
    assert saved.status_code in (400, 403)
    assert analyse(client, LENET, path=path)["refused"]
    assert (folder.parent / "secret.cnn").read_text().startswith("network secret")


def test_symbolic_links_out_of_the_folder_are_refused_and_not_listed(client, folder):
    (folder / "out.cnn").symlink_to(folder.parent / "secret.cnn")
    (folder / "outside").symlink_to(folder.parent, target_is_directory=True)
    (folder / "inside.cnn").symlink_to(folder / "lenet5.cnn")
    assert client.get("/api/file", params={"path": "out.cnn"}).status_code == 403
    assert client.post("/api/save", json={"path": "out.cnn", "text": "x", "token": None}).status_code == 403
    paths = [f["path"] for f in client.get("/api/files").json()["files"]]
    assert "out.cnn" not in paths and not any("secret" in p for p in paths) and "inside.cnn" in paths
    assert client.get("/api/file", params={"path": "inside.cnn"}).json()["text"] == LENET


# --- saving ------------------------------------------------------------------------------------------


def test_a_save_writes_the_file_and_is_refused_once_it_changed_on_disk(client, folder):
    loaded = client.get("/api/file", params={"path": "lenet5.cnn"}).json()
    edited = LENET.replace("lenet5", "lenet5b", 1)
    saved = client.post("/api/save", json={"path": "lenet5.cnn", "text": edited, "token": loaded["token"]})
    assert saved.status_code == 200 and (folder / "lenet5.cnn").read_text() == edited
    again = client.post("/api/save", json={"path": "lenet5.cnn", "text": LENET, "token": loaded["token"]})
    assert again.status_code == 409 and "changed on disk" in again.json()["error"]
    assert (folder / "lenet5.cnn").read_text() == edited  # the stale page wrote nothing
    third = client.post("/api/save", json={"path": "lenet5.cnn", "text": LENET, "token": saved.json()["token"]})
    assert third.status_code == 200 and (folder / "lenet5.cnn").read_text() == LENET
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_new_file_is_saved_only_where_it_can_be(client, folder):
    created = client.post("/api/save", json={"path": "new.cnn", "text": LENET, "token": None})
    assert created.status_code == 200 and (folder / "new.cnn").read_text() == LENET
    nowhere = client.post("/api/save", json={"path": "no/such/dir.cnn", "text": LENET, "token": None})
    assert nowhere.status_code == 409 and "does not exist" in nowhere.json()["error"]
    (folder / "dir.cnn").mkdir()
    assert client.post("/api/save", json={"path": "dir.cnn", "text": LENET, "token": None}).status_code == 409


def test_the_file_named_on_the_command_line_opens_first(folder):
    listing = TestClient(create_app(folder, initial="resnet18.cnn")).get("/api/files").json()
    assert listing["initial"] == "resnet18.cnn"


# --- bounds ------------------------------------------------------------------------------------------


def test_requests_larger_than_the_bound_are_refused(client, folder):
    big = "#" * (workspace.MAX_TEXT + 1)
    response = client.post("/api/save", json={"path": "lenet5.cnn", "text": big, "token": None})
    assert response.status_code == 413
    huge = client.post("/api/save", content=b"x" * (MAX_BODY + 1), headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert "larger than" in analyse(client, big)["refused"]
    assert client.post("/api/save", content=b"[1]").status_code == 400
    assert client.post("/api/save", content=b"{not json").status_code == 400


def test_the_node_budget_holds_as_on_the_command_line(client):
    text = "network n {\n    input(3, 8, 8)\n    repeat 5000000 relu()\n}\n"
    result = analyse(client, text, path="big.cnn")
    assert [e["code"] for e in result["errors"]] == ["E403"] and "diagram" not in result
    assert result["errors"][0]["networks"] == ["big.cnn:n"]  # as `check --format json`, the file as the page names it
    # the page cannot pass --max-nodes or --import-path: its hints say what its user can do
    assert result["errors"][0]["hint"] == workspace.WEB_HINTS["--max-nodes"]
    assert "make the network smaller" in workspace.WEB_HINTS["--max-nodes"]
    text = 'import "../secret.cnn"\nnetwork n { input(3, 8, 8); relu() }\n'
    (error,) = analyse(client, text, path="imports.cnn")["errors"]
    assert error["code"] == "E400" and error["hint"] == workspace.WEB_HINTS["--import-path"]


def test_dot_runs_under_a_time_limit(client, monkeypatch):
    monkeypatch.setattr(workspace, "DOT_SECONDS", 1e-4)
    result = analyse(client, LENET)
    assert "longer than" in result["diagram_error"] and result["summary"]["params"] == cnndsl.loads(LENET).params


# --- the analysis --------------------------------------------------------------------------------------


def test_the_analysis_draws_the_network_and_links_nodes_to_statements(client):
    result = analyse(client, LENET)
    net = cnndsl.loads(LENET)
    assert result["network"] == "lenet5" and result["errors"] == []
    assert result["summary"]["params"] == net.params and result["diagram"].startswith("<svg")
    rows = dict(zip((r[1] for r in result["summary"]["rows"]), result["summary"]["at"]))
    assert all(rows[n.name] == [n.span.line, n.span.column] for n in net.nodes)
    for n in net.nodes:
        key = n.name.split(".")[0]
        if key in result["links"]:
            assert n.span.line in result["links"][key]["lines"]
    conv = next(n for n in net.nodes if n.op.kind == "conv")
    assert result["links"][conv.name]["at"] == [conv.span.line, conv.span.column]
    assert f"<title>{conv.name}</title>" in result["diagram"]


def test_a_collapsed_block_links_to_its_call(client, folder):
    text = (folder / "resnet18.cnn").read_text()
    result = analyse(client, text, path="resnet18.cnn", options={"detail": "blocks"})
    call = text.splitlines().index("        basic(128, stride=2)") + 1
    assert result["links"]["layer2.0"]["at"] == [call, 9]
    assert call in result["links"]["layer2.0"]["lines"]


def test_errors_carry_their_place_code_and_hint(client):
    text = LENET.replace("conv(", "conv2d(", 1)
    with pytest.raises(cnndsl.CnnDslError) as caught:
        cnndsl.loads(text)
    (e,) = analyse(client, text)["errors"]
    line = caught.value.line
    assert (e["code"], e["line"], e["column"], e["here"]) == (caught.value.code, line, caught.value.column, True)
    assert e["range"] == [line, caught.value.column, caught.value.column + len("conv2d")]
    assert e["hint"] == caught.value.hint and "diagram" not in analyse(client, text)


def test_warnings_are_shown_where_they_are(client):
    text = "network n {\n    input(32, 32, 3)\n    conv(8, 3)\n}\n"
    result = analyse(client, text, path="n.cnn")
    (w,) = result["warnings"]
    assert (w["severity"], w["line"], w["here"]) == ("warning", 2, True) and "channels" in w["message"]
    assert result["errors"] == [] and result["diagram"].startswith("<svg")


def test_the_controls_draw_as_render_draws(client, folder):
    from cnndsl.diagram import render

    text = (folder / "resnet18.cnn").read_text()
    net = cnndsl.load(folder / "resnet18.cnn")
    options = {"depth": 0, "expand": ["layer2.0"], "rf": True}
    result = analyse(client, text, path="resnet18.cnn", options=options)
    drawn = set(render(net, depth=0, expand=["layer2.0"], show_rf=True).drawn_as)
    assert set(result["links"]) == drawn and "layer2.0.conv1" in drawn and "layer3.0" in drawn
    assert "RF " in result["diagram"] and len(result["summary"]["rows"][0]) == 10  # with RF, jump, padding


def test_bad_options_are_a_message_not_a_failure(client):
    result = analyse(client, LENET, options={"expand": ["nowhere"], "depth": -3, "detail": "everything"})
    assert "no block instance is named 'nowhere'" in result["diagram_error"]
    assert result["summary"]["params"] == cnndsl.loads(LENET).params


def test_only_the_newest_text_is_analysed(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_text("not json")
        assert "JSON object" in ws.receive_json()["refused"]
        for i in range(1, 6):
            ws.send_json({"id": i, "path": "lenet5.cnn", "text": LENET})
        ids = []
        while not ids or ids[-1] != 5:
            ids.append(ws.receive_json()["id"])
    assert ids == sorted(ids) and len(ids) <= 5


# --- downloads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name", "within"),
    [("torch", "lenet5.py", b"(nn.Module)"), ("keras", "lenet5_keras.py", b"keras.Model("),
     ("svg", "lenet5.svg", b"<svg"), ("png", "lenet5.png", b"\x89PNG")],
)  # fmt: skip
def test_downloads(client, fmt, name, within):
    response = client.post("/api/download", json={"path": "lenet5.cnn", "text": LENET, "format": fmt})
    assert response.status_code == 200 and within in response.content[:2000]
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'


def test_an_onnx_download_is_the_network(client):
    onnx = pytest.importorskip("onnx")
    response = client.post("/api/download", json={"path": "lenet5.cnn", "text": LENET, "format": "onnx"})
    model = onnx.load_from_string(response.content)
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == cnndsl.loads(LENET).input_shape[0]


def test_a_download_of_broken_text_says_where_it_is_broken(client):
    response = client.post("/api/download", json={"path": "lenet5.cnn", "text": "network {", "format": "torch"})
    assert response.status_code == 422 and response.json()["error"].startswith("lenet5.cnn:1:")
    unknown = client.post("/api/download", json={"path": "lenet5.cnn", "text": LENET, "format": "exe"})
    assert unknown.status_code == 400


# --- other sites --------------------------------------------------------------------------------------


def test_requests_from_another_site_are_refused(folder):
    client = TestClient(create_app(folder))
    evil = {"Origin": "http://evil.example"}
    assert client.get("/api/file", params={"path": "lenet5.cnn"}, headers=evil).status_code == 403
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws", headers=evil) as ws:
        ws.receive_json()
    rebound = TestClient(create_app(folder, hosts=["127.0.0.1", "localhost"]))
    assert rebound.get("/api/files").status_code == 400  # Host: testserver, as a rebound DNS name would be
    local = TestClient(create_app(folder, hosts=["127.0.0.1"]), base_url="http://127.0.0.1:8000")
    assert local.get("/api/files", headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200


def test_the_page_and_its_scripts_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.lower()
    for name in ("app.js", "editor.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and "://cdn" not in asset.text


def test_the_command_refuses_what_it_cannot_serve(capsys, tmp_path):
    assert main(["serve", str(tmp_path / "nowhere")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
