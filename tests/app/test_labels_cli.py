"""The labelling round trip through the `lookalike` command and a real server, local and in
Milvus mode: label a cluster, search and bulk with a filter, export, edit, import (naming
clusters); and each bad import refused whole, naming its rows, with nothing applied."""

from __future__ import annotations

import csv
import json

import pytest

from lookalike.app.cli import main
from lookalike.clients.bulk_output import read_rows


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def target(server_process) -> str:
    return server_process().target


def test_label_search_bulk_export_edit_import(label_target, image_folder, tmp_path, capsys):
    """The round trip on each store (label_target: local, and the real Milvus server)."""
    t = ("--target", label_target)
    assert run(capsys, "label", "add", "cats", "--cluster", "1", *t)[0] == 0
    code, out, _ = run(capsys, "count", "--label", "cats", *t)
    members = int(out)
    assert code == 0 and members > 0
    assert run(capsys, "cluster", "name", "1", "cats", *t)[1].startswith("cluster 1 named")
    assert run(capsys, "attr", "set", "price:number=12.5", "source=shop", "--label", "cats",
               *t)[1] == f"updated {members} images\n"
    some = json.loads(run(capsys, "browse", "--limit", "1", "--json", *t)[1])["id"]
    code, out, _ = run(capsys, "search", "--id", some, "-k", "50", "--label", "cats",
                       "--range", "price=10:", "--json", *t)
    answer = json.loads(out)
    assert len(answer["neighbors"]) == members - (1 if answer["cluster"] == 1 else 0)
    assert all(n["labels"] == ["cats"] and n["cluster_name"] == "cats"
               and n["attributes"] == {"price": 12.5, "source": "shop"}
               for n in answer["neighbors"])
    manifest = tmp_path / "q.txt"
    manifest.write_text("\n".join(str(p) for p in sorted(image_folder.glob("*.png"))[:4]))
    out_file = tmp_path / "r.jsonl"
    assert run(capsys, "bulk", str(manifest), "--out", str(out_file), "-k", "3", "-q",
               "--filter-no-label", "cats", *t)[0] == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    found = {n["id"] for r in rows for n in r["neighbors"]}
    code, out, _ = run(capsys, "browse", "--no-label", "cats", "--json", *t)
    assert found and found <= {json.loads(line)["id"] for line in out.splitlines()}
    for kind in ("jsonl", "csv"):  # neighbours carry their labels and cluster names
        labelled = tmp_path / f"cats.{kind}"
        assert run(capsys, "bulk", str(manifest), "--out", str(labelled), "-k", "3", "-q",
                   "--filter-label", "cats", *t)[0] == 0
        neighbours = [n for r in read_rows(labelled) for n in r["neighbors"]]
        assert len(neighbours) == 12 and all(
            (n["labels"], n["cluster_name"], n["attributes"]) == (
                ["cats"], "cats", {"price": 12.5, "source": "shop"}) for n in neighbours)

    exported = tmp_path / "labels.csv"
    assert run(capsys, "labels", "export", "--out", str(exported), *t)[0] == 0
    table = list(csv.DictReader(exported.open(newline="")))
    assert len(table) == 48 and sum(r["labels"] == "cats" for r in table) == members
    assert {r["cluster_name"] for r in table if r["labels"]} == {"cats"}
    table[0]["labels"] = "x;y"  # edit two rows, as a spreadsheet would
    table[1]["attr.price:number"] = "99"
    with exported.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    code, out, _ = run(capsys, "labels", "import", str(exported), *t)
    assert code == 0 and "changed 2 images" in out and "46 already" in out
    assert run(capsys, "count", "--label", "x", "--label", "y", *t)[1] == "1\n"
    assert run(capsys, "count", "--range", "price=99:99", *t)[1] == "1\n"
    again = tmp_path / "again.jsonl"
    assert run(capsys, "labels", "export", "--out", str(again), *t)[0] == 0
    assert run(capsys, "labels", "import", str(again), *t)[1].startswith("changed 0 images")


def test_a_bad_import_names_each_row_and_applies_nothing(target, tmp_path, capsys):
    t = ("--target", target)
    good = tmp_path / "good.csv"
    assert run(capsys, "labels", "export", "--out", str(good), *t)[0] == 0
    lines = good.read_text().splitlines()
    first_id = lines[1].split(",")[0]
    rows = [line.replace(",,", ",,ok", 1) for line in lines[1:]]  # a label on each row
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], *rows, f"{first_id},p,0,,dup", "ghost,p,0,,x",
                              f"{lines[2].split(',')[0]},p,0,,a\x01b", "torn,p,0"]))
    code, _, err = run(capsys, "labels", "import", str(bad), *t)
    assert code == 2 and "nothing was applied" in err
    assert "line 50: id " in err and "is also on line 2" in err
    assert "line 51: id 'ghost' is not in the collection" in err
    assert "line 52: " in err and "control character" in err
    assert "line 53: the last line has no line end" in err
    assert run(capsys, "count", "--label", "ok", *t)[1] == "0\n"
    nan = tmp_path / "nan.jsonl"
    nan.write_text(json.dumps({"id": first_id, "attributes": {"p": float("nan")}}) + "\n")
    code, _, err = run(capsys, "labels", "import", str(nan), *t)
    assert code == 2 and "line 1: " in err and "finite" in err


def test_add_takes_labels_and_attributes_from_the_manifest(target, image_folder, tmp_path,
                                                           capsys):
    t = ("--target", target)
    images = sorted(image_folder.glob("*.png"))[:3]
    manifest = tmp_path / "new.csv"
    manifest.write_text("path,id,labels,attr.source,attr.weight:number\n"
                        f"{images[0]},new-0,fresh;cat,shop,1.5\n"
                        f"{images[1]},new-1,fresh,,\n"
                        f"{images[2]},new-2,,,\n")
    code, out, _ = run(capsys, "add", str(manifest), *t)
    assert code == 0 and "added 3 images" in out
    assert run(capsys, "count", "--label", "fresh", *t)[1] == "2\n"
    code, out, _ = run(capsys, "browse", "--attr", "source=shop", "--range", "weight=1:2",
                       "--json", *t)
    [row] = [json.loads(line) for line in out.splitlines()]
    assert (row["id"], row["labels"]) == ("new-0", ["cat", "fresh"])
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,attr.w:number\n{images[0]},heavy\n")
    code, _, err = run(capsys, "add", str(bad), *t)
    assert code == 2 and "bad.csv:2: " in err and "'heavy' is not a number" in err


def test_update_commands_need_a_target_and_refuse_bad_values(target, capsys):
    t = ("--target", target)
    with pytest.raises(SystemExit, match="say which images"):
        main(["label", "add", "cats", *t])
    with pytest.raises(SystemExit, match="is not a number"):
        main(["attr", "set", "p:number=many", "--ids", "1", *t])
    assert run(capsys, "label", "add", "x", "--ids", "nobody", *t)[1:] == (
        "updated 0 images; not found: nobody\n", "")
    with pytest.raises(SystemExit):
        main(["search", "--id", "1", "--range", "p=oops", *t])
    code, _, err = run(capsys, "label", "add", "a" * 65, "--ids", "1", *t)
    assert code == 1 and "at most 64" in err
    code, _, err = run(capsys, "count", "--label", "a", "--no-label", "a", *t)
    assert code == 1 and "nothing can match" in err


def test_import_names_clusters_and_refuses_two_names_for_one(label_target, tmp_path, capsys):
    t = ("--target", label_target)
    exported = tmp_path / "names.csv"
    assert run(capsys, "labels", "export", "--out", str(exported), *t)[0] == 0
    table = list(csv.DictReader(exported.open(newline="")))
    zeros = [n for n, r in enumerate(table) if r["cluster"] == "0"]
    ones = [n for n, r in enumerate(table) if r["cluster"] == "1"]
    for n in zeros:
        table[n]["cluster_name"] = "zeros"
    table[ones[0]]["cluster_name"] = "ones"  # one row is enough; blank cells say nothing
    table[zeros[-1]]["cluster_name"] = "nils"
    table[zeros[0]]["labels"] = "named"

    def write() -> None:
        with exported.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)

    write()
    code, _, err = run(capsys, "labels", "import", str(exported), *t)
    assert code == 2 and "nothing was applied" in err
    assert (f"line {zeros[-1] + 2}: cluster 0 is named 'nils' here but 'zeros' on line "
            f"{zeros[0] + 2}") in err
    assert run(capsys, "count", "--label", "named", *t)[1] == "0\n"
    table[zeros[-1]]["cluster_name"] = "zeros"
    write()
    code, out, _ = run(capsys, "labels", "import", str(exported), *t)
    assert code == 0 and "changed 1 images and 2 cluster names at once" in out
    code, out, _ = run(capsys, "browse", "--cluster", "1", "--limit", "1", "--json", *t)
    assert json.loads(out)["cluster_name"] == "ones"
    assert run(capsys, "count", "--label", "named", *t)[1] == "1\n"
