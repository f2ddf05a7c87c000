"""`publisher subscribers list`, `export` and `import` as a script and a person use them."""

from __future__ import annotations

import json

from tests.conftest import Site, run_publisher


def test_list_prints_plain_rows_pages_by_id_and_searches(site: Site) -> None:
    people = site.root / "people.csv"
    people.write_text(
        "email,name,digests\n"
        "ann@example.org,Ann Lovelace,daily\n"
        "bob@example.org,Bob Annan,culture\n"
        "annie@example.net,Annie Hall,daily culture\n"
        "cy@example.org,,daily\n",
        encoding="utf-8",
    )
    assert run_publisher(site.root, "subscribers", "import", "people.csv").returncode == 0
    listed = run_publisher(site.root, "subscribers", "list").stdout.splitlines()
    assert listed == [
        "1\tann@example.org\tAnn Lovelace\tconfirmed\tdaily",
        "2\tbob@example.org\tBob Annan\tconfirmed\tculture",
        "3\tannie@example.net\tAnnie Hall\tconfirmed\tculture daily",
        "4\tcy@example.org\t\tconfirmed\tdaily",
    ]
    page = run_publisher(site.root, "subscribers", "list", "--after", "1", "--limit", "2")
    assert [line.split("\t")[0] for line in page.stdout.splitlines()] == ["2", "3"]
    daily = run_publisher(site.root, "subscribers", "list", "--digest", "daily", "--after", "1")
    assert [line.split("\t")[0] for line in daily.stdout.splitlines()] == ["3", "4"]
    found = run_publisher(site.root, "subscribers", "list", "--search", "ann")
    # Addresses first, in address order, then names: Bob Annan's address does not match.
    assert [line.split("\t")[1] for line in found.stdout.splitlines()] == [
        "ann@example.org",
        "annie@example.net",
        "bob@example.org",
    ]
    refused = run_publisher(site.root, "subscribers", "list", "--search", "a", "--after", "2")
    assert refused.returncode == 2
    assert "--after pages a listing in id order" in refused.stderr


def test_export_as_json_lines_and_filtered(site: Site) -> None:
    for address in ("a@example.org", "b@example.org"):
        assert run_publisher(site.root, "subscribers", "add", address).returncode == 0
    run_publisher(site.root, "subscribers", "remove", "b@example.org")
    lines = run_publisher(site.root, "subscribers", "export", "--format", "json").stdout
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [(row["email"], row["status"], row["digests"]) for row in rows] == [
        ("a@example.org", "confirmed", ["culture", "daily"]),
        ("b@example.org", "unsubscribed", ["culture", "daily"]),
    ]
    left = run_publisher(site.root, "subscribers", "export", "--status", "unsubscribed")
    assert left.stdout.splitlines()[1:] == [left.stdout.splitlines()[1]]
    assert left.stdout.splitlines()[1].startswith("b@example.org,,culture daily,unsubscribed,")
