"""The subscriber queries at scale, on SQLite and PostgreSQL: counts kept in step with every
change, pages by id, searches by address prefix and name words, and the plans they run on."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import publisher.store.subscribers as subscribers_module
from publisher.audience.forgetting import forget_address
from publisher.audience.preferences import save_preferences
from publisher.audience.subscribers import (
    add_subscriber,
    confirm_subscriber,
    remove_subscriber,
    request_subscription,
)
from publisher.store.database import Store
from publisher.store.plans import plans_of
from publisher.store.schema import subscriber_counts, subscribers, subscriptions
from publisher.store.statuses import SubscriberStatus
from publisher.store.subscribers import (
    SubscriberFilter,
    SubscriberSearch,
    count_found,
    count_hard_bounces,
    every_status_count,
    fold_subscriber_counts,
    found_subscribers,
    search_subscribers,
    status_counts,
    streamed_subscribers,
    subscriber_page,
    subscribers_by_address_prefix,
    subscribers_by_id,
    subscribers_by_name_words,
)
from tests.conftest import SAMPLE_NOW

DIGESTS = ("daily", "culture")
SECRET = b"s" * 32


def counted_by_group_by(store: Store) -> dict[str, dict[str, int]]:
    """The counts the slow way, straight from the rows."""
    zero = dict.fromkeys(tuple(SubscriberStatus), 0)
    counts: dict[str, dict[str, int]] = {"": dict(zero)}
    with store.transaction() as connection:
        overall = sa.select(subscribers.c.status, sa.func.count()).group_by(subscribers.c.status)
        for status, count in connection.execute(overall):
            counts[""][status] = count
        per_digest = (
            sa.select(subscriptions.c.digest, subscribers.c.status, sa.func.count())
            .join(subscribers, subscribers.c.id == subscriptions.c.subscriber_id)
            .group_by(subscriptions.c.digest, subscribers.c.status)
        )
        for digest, status, count in connection.execute(per_digest):
            counts.setdefault(digest, dict(zero))[status] = count
    return counts


def kept_counts(store: Store) -> dict[str, dict[str, int]]:
    with store.transaction() as connection:
        kept = every_status_count(connection)
    # A digest whose every count went back to 0 may keep its row on SQLite.
    return {digest: counts for digest, counts in kept.items() if any(counts.values()) or not digest}


def test_counts_stay_in_step_with_every_kind_of_change(store: Store) -> None:
    now = SAMPLE_NOW
    ann, _ = add_subscriber(store, "ann@example.org", "Ann", DIGESTS, now)
    bob, _ = add_subscriber(store, "bob@example.org", "Bob", ("daily",), now)
    add_subscriber(store, "cat@example.org", "Cat", ("culture",), now)
    assert kept_counts(store) == counted_by_group_by(store)
    remove_subscriber(store, "bob@example.org", now)  # a status change with digests
    signup = request_subscription(store, "dan@example.org", "Dan", DIGESTS, now, timedelta(0))
    confirm_subscriber(store, signup.subscriber.id, now)
    save_preferences(store, ann.id, ["culture"], "Ann", None, now)  # digests replaced
    add_subscriber(
        store, "bob@example.org", "Bob", DIGESTS, now, resubscribe=True
    )  # back, two digests
    with store.transaction() as connection:
        count_hard_bounces(connection, [ann.id, ann.id], limit=2)  # bounced
    forget_address(store, SECRET, "cat@example.org", now)  # digests dropped, then forgotten
    assert kept_counts(store) == counted_by_group_by(store)
    with store.transaction() as connection:
        connection.execute(
            subscriptions.update()
            .where(subscriptions.c.digest == "culture")
            .values(digest="weekly")
        )
        connection.execute(subscribers.delete().where(subscribers.c.id == bob.id))
    assert kept_counts(store) == counted_by_group_by(store)
    with store.transaction() as connection:
        connection.execute(subscribers.delete())
    assert kept_counts(store) == {"": dict.fromkeys(tuple(SubscriberStatus), 0)}


def test_status_counts_of_one_digest_and_of_everyone(store: Store) -> None:
    for number in range(3):
        add_subscriber(store, f"d{number}@example.org", "", ("daily",), SAMPLE_NOW)
    add_subscriber(store, "c@example.org", "", ("culture",), SAMPLE_NOW)
    remove_subscriber(store, "d0@example.org", SAMPLE_NOW)
    with store.transaction() as connection:
        daily = status_counts(connection, "daily")
        everyone = status_counts(connection)
        nobody = status_counts(connection, "weekly")
    assert (daily["confirmed"], daily["unsubscribed"], daily["pending"]) == (2, 1, 0)
    assert (everyone["confirmed"], everyone["unsubscribed"]) == (3, 1)
    assert set(nobody.values()) == {0}


def test_folding_the_counts_keeps_them(store: Store) -> None:
    for number in range(5):
        add_subscriber(store, f"f{number}@example.org", "", DIGESTS, SAMPLE_NOW)
        remove_subscriber(store, f"f{number}@example.org", SAMPLE_NOW)
    before = kept_counts(store)
    with store.transaction() as connection:
        fold_subscriber_counts(connection)
        rows = connection.execute(sa.select(subscriber_counts.c.count)).scalars().all()
    assert kept_counts(store) == before == counted_by_group_by(store)
    # One per digest and status left ('', daily, culture x unsubscribed); SQLite keeps zeros.
    assert sorted(count for count in rows if count) == [5, 5, 5]
    if store.engine.dialect.name == "postgresql":
        assert len(rows) == 3


@pytest.fixture
def people(store: Store) -> Store:
    """Nine subscribers with names to search, three of them unsubscribed."""
    names = [
        "Ada Lovelace",
        "Grace Hopper",
        "Alan Turing",
        "Ada Byron",
        "Lovisa Berg",
        "Annabel Lee",
        "Anne Lovell",
        "Bo Ann",
        "",
    ]
    for number, name in enumerate(names):
        first = name.split()[0].lower() if name else "nobody"
        digests = ("daily",) if number % 2 else DIGESTS
        add_subscriber(store, f"{first}.{number}@example.org", name, digests, SAMPLE_NOW)
    for gone in ("grace.1@example.org", "ada.3@example.org", "bo.7@example.org"):
        remove_subscriber(store, gone, SAMPLE_NOW)
    return store


def test_pages_follow_ids_and_filters(people: Store) -> None:
    with people.transaction() as connection:
        first = subscriber_page(connection, limit=4)
        second = subscriber_page(connection, after=first[-1].id, limit=4)
        left = subscriber_page(connection, SubscriberFilter(status="unsubscribed"))
        culture = subscriber_page(connection, SubscriberFilter(digest="culture"), limit=100)
        both = subscriber_page(connection, SubscriberFilter("confirmed", "culture"), limit=100)
    ids = [row.id for row in first + second]
    assert ids == sorted(ids)
    assert len(set(ids)) == 8
    assert [row.email for row in left] == [
        "grace.1@example.org",
        "ada.3@example.org",
        "bo.7@example.org",
    ]
    assert all("culture" in row.digests for row in culture)
    assert len(culture) == 5
    assert [row.email for row in both] == [
        "ada.0@example.org",
        "alan.2@example.org",
        "lovisa.4@example.org",
        "anne.6@example.org",
        "nobody.8@example.org",
    ]
    assert first[0].digests == ("culture", "daily")


def test_address_prefix_search_ignores_case_and_pages_in_address_order(people: Store) -> None:
    with people.transaction() as connection:
        found = subscribers_by_address_prefix(connection, "AN")
        later = subscribers_by_address_prefix(connection, "an", after=found[0].address_key)
        exact = subscribers_by_address_prefix(connection, "ada.3@example.org")
        none = subscribers_by_address_prefix(connection, "zz")
    assert [row.email for row in found] == ["annabel.5@example.org", "anne.6@example.org"]
    assert [row.email for row in later] == ["anne.6@example.org"]
    assert [row.email for row in exact] == ["ada.3@example.org"]
    assert none == []


def test_name_search_matches_word_starts_in_any_order(people: Store) -> None:
    with people.transaction() as connection:
        lov = subscribers_by_name_words(connection, "lov")
        ada = subscribers_by_name_words(connection, "ADA")
        both = subscribers_by_name_words(connection, "lovelace ada")
        confirmed_ada = subscribers_by_name_words(
            connection, "ada", SubscriberFilter(status="confirmed")
        )
        nothing = subscribers_by_name_words(connection, "'\"*:&|!() -")
    assert [row.name for row in lov] == ["Ada Lovelace", "Lovisa Berg", "Anne Lovell"]
    assert [row.name for row in ada] == ["Ada Lovelace", "Ada Byron"]
    assert [row.name for row in both] == ["Ada Lovelace"]
    assert [row.name for row in confirmed_ada] == ["Ada Lovelace"]
    assert nothing == []


def test_search_looks_in_addresses_and_names(people: Store) -> None:
    with people.transaction() as connection:
        ann = search_subscribers(connection, "ann")
        by_address = search_subscribers(connection, "anne.6@")
        two_words = search_subscribers(connection, "anne lov")
        first = search_subscribers(connection, "ann", limit=1)
    # Annabel and Anne by address and name, Bo Ann by name only.
    assert [row.name for row in ann] == ["Annabel Lee", "Anne Lovell", "Bo Ann"]
    assert [row.name for row in by_address] == ["Anne Lovell"]
    assert [row.name for row in two_words] == ["Anne Lovell"]
    assert [row.name for row in first] == ["Annabel Lee"]


def test_a_search_box_finds_addresses_and_names_in_id_order_and_counts_them(
    people: Store,
) -> None:
    with people.read() as connection:
        ann = found_subscribers(connection, SubscriberSearch("ann"))
        ann_count = count_found(connection, SubscriberSearch("ann"))
        later = found_subscribers(connection, SubscriberSearch("ann"), after=ann[0].id)
        second = found_subscribers(connection, SubscriberSearch("ann"), limit=1, offset=1)
        left = found_subscribers(connection, SubscriberSearch("ann", status="unsubscribed"))
        culture = count_found(connection, SubscriberSearch(digest="culture"))
        confirmed_culture = count_found(connection, SubscriberSearch("", "confirmed", "culture"))
        everyone = count_found(connection, SubscriberSearch())
        whole_address = count_found(connection, SubscriberSearch("anne.6@example.org"))
        nothing = found_subscribers(connection, SubscriberSearch("'\"*:&|!() -"))
        by_id = subscribers_by_id(connection, [ann[1].id, 999_999])
    # Annabel and Anne by address and name, Bo Ann by name only; in id order.
    assert [row.name for row in ann] == ["Annabel Lee", "Anne Lovell", "Bo Ann"]
    assert ann_count == 3
    assert [row.name for row in later] == ["Anne Lovell", "Bo Ann"]
    assert [row.name for row in second] == ["Anne Lovell"]
    assert [row.name for row in left] == ["Bo Ann"]
    assert (culture, confirmed_culture, everyone, whole_address) == (5, 5, 9, 1)
    assert nothing == []
    assert [row.email for row in by_id] == ["anne.6@example.org"]
    assert by_id[0].confirmed_at is not None


@pytest.mark.parametrize("text", ["ann", "a", "an", "anne.6@"])
@pytest.mark.parametrize(
    "chosen",
    [
        SubscriberSearch(),
        SubscriberSearch(status="unsubscribed"),
        SubscriberSearch(digest="culture"),
    ],
)
def test_a_prefix_many_share_is_walked_in_id_order_with_the_same_pages_and_an_open_count(
    people: Store, monkeypatch: pytest.MonkeyPatch, text: str, chosen: SubscriberSearch
) -> None:
    wanted = SubscriberSearch(text, chosen.status, chosen.digest)

    def pages() -> list[list[int]]:
        with people.read() as connection:
            whole = [row.id for row in found_subscribers(connection, wanted, limit=100)]
            after = [
                row.id
                for row in found_subscribers(connection, wanted, after=whole[:1][0] if whole else 0)
            ]
            offset = [row.id for row in found_subscribers(connection, wanted, limit=2, offset=1)]
        return [whole, after, offset]

    from_indexes = pages()
    with people.read() as connection:
        exact = count_found(connection, wanted)
    # The same people's addresses counted as "many": every prefix is walked in id order.
    monkeypatch.setattr(subscribers_module, "WALK_IDS_AFTER", 0)
    monkeypatch.setattr(subscribers_module, "FOUND_COUNT_LIMIT", 0)
    with people.read() as connection:
        walked_count = count_found(connection, wanted)
    assert pages() == from_indexes
    assert from_indexes[0] == sorted(from_indexes[0])
    assert exact == len(from_indexes[0])
    assert walked_count == min(exact, 1)  # FOUND_COUNT_LIMIT + 1: "more than"


def test_a_filter_that_keeps_few_looks_a_shared_prefix_up_on_its_index_instead_of_walking(
    people: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "a" starts five addresses; three of the nine subscribers are unsubscribed.
    monkeypatch.setattr(subscribers_module, "WALK_IDS_AFTER", 2)
    with people.read() as connection:
        [everyone, _] = subscribers_module._search_sides(connection, SubscriberSearch("a"))
        [unsubscribed, _] = subscribers_module._search_sides(
            connection, SubscriberSearch("a", status="unsubscribed")
        )
        found = found_subscribers(connection, SubscriberSearch("a", status="unsubscribed"))
    assert everyone.walks_ids  # five share it, more than two
    assert not unsubscribed.walks_ids  # a third of the list kept: more than six to walk
    assert [row.email for row in found] == ["ada.3@example.org", "bo.7@example.org"]  # Bo Ann


def test_renamed_and_forgotten_names_leave_the_name_search(people: Store) -> None:
    [ada] = [row for row in _everyone(people) if row.name == "Ada Lovelace"]
    save_preferences(people, ada.id, ["daily"], "Augusta King", None, SAMPLE_NOW)
    forget_address(people, SECRET, "alan.2@example.org", SAMPLE_NOW)
    with people.transaction() as connection:
        assert [row.name for row in subscribers_by_name_words(connection, "lovelace")] == []
        assert [row.name for row in subscribers_by_name_words(connection, "augusta")] == [
            "Augusta King"
        ]
        assert subscribers_by_name_words(connection, "turing") == []


def test_a_forgotten_name_leaves_nothing_in_the_name_index(people: Store) -> None:
    forget_address(people, SECRET, "annabel.5@example.org", SAMPLE_NOW)
    with people.transaction() as connection:
        assert subscribers_by_name_words(connection, "annabel") == []
        if connection.dialect.name == "sqlite":  # an index of tables of its own to read
            blocks = connection.exec_driver_sql("SELECT block FROM subscriber_names_data")
            assert not any(b"annabel" in bytes(block) for (block,) in blocks)


def test_streamed_rows_are_every_row_once_with_its_digests(people: Store) -> None:
    with people.read() as connection:
        streamed = list(streamed_subscribers(connection, batch_size=2))
        unsubscribed = list(
            streamed_subscribers(connection, SubscriberFilter(status="unsubscribed"))
        )
    assert streamed == _everyone(people)
    assert len(streamed) == 9
    assert [row.digests for row in streamed[:2]] == [("culture", "daily"), ("daily",)]
    assert len(unsubscribed) == 3


def _everyone(store: Store) -> list[object]:
    with store.transaction() as connection:
        return list(subscriber_page(connection, limit=1000))


# Plans ---------------------------------------------------------------------------------------

LISTINGS = {
    "page": lambda c: subscriber_page(c, after=2),
    "status page": lambda c: subscriber_page(c, SubscriberFilter(status="unsubscribed")),
    "digest page": lambda c: subscriber_page(c, SubscriberFilter(digest="culture")),
    "address prefix": lambda c: subscribers_by_address_prefix(c, "ann"),
    "name words": lambda c: subscribers_by_name_words(c, "lov"),
    "search box": lambda c: found_subscribers(c, SubscriberSearch("ann")),
    "counts": lambda c: every_status_count(c),
}
# The index each listing's first statement runs on, as each database names it.
INDEXES = {
    "sqlite": {
        "page": "INTEGER PRIMARY KEY",
        "status page": "ix_subscribers_status_id",
        "digest page": "ix_subscriptions_digest",
        "address prefix": "sqlite_autoindex_subscribers_1",
        "name words": "VIRTUAL TABLE INDEX",
        "search box": "sqlite_autoindex_subscribers_1",
        "counts": "subscriber_counts",
    },
    "postgresql": {
        "page": "subscribers_pkey",
        "status page": "ix_subscribers_status_id",
        "digest page": "ix_subscriptions_digest",
        "address prefix": "subscribers_email_key_key",
        "name words": "ix_subscribers_name_words",
        "search box": "subscribers_email_key_key",
        "counts": "subscriber_counts",
    },
}


@pytest.mark.parametrize("listing", list(LISTINGS))
def test_each_listing_runs_on_an_index_never_on_a_scan_of_every_subscriber(
    people: Store, listing: str
) -> None:
    with people.transaction() as connection:
        dialect = connection.dialect.name
        if dialect == "postgresql":
            # Nine rows are cheaper to scan: ask for the plan a million rows would get.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        first, *_ = plans_of(connection, LISTINGS[listing])
    assert first.uses(INDEXES[dialect][listing]), "\n".join(first.steps)
    scans = [step for step in first.steps if "SCAN subscribers" in step or "Seq Scan" in step]
    if listing != "counts":
        assert scans == [], "\n".join(first.steps)
    assert not any("subscribers" in step for step in first.steps if listing == "counts")


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_search_run_again_and_again_is_planned_for_its_own_values_every_time(
    people: Store,
) -> None:
    # psycopg prepares a statement on its fifth run, and PostgreSQL may then plan it once for
    # any values: at a million subscribers that plan made a filtered search's count 62 ms, not 30.
    wanted = SubscriberSearch("ann", digest="culture")
    with people.read() as connection:
        counts = {count_found(connection, wanted) for _ in range(12)}
        prepared = connection.execute(
            sa.text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE :search"
            ),
            {"search": "%to_tsquery%"},
        ).all()
    assert counts == {1}  # of Annabel Lee, Anne Lovell and Bo Ann, Anne alone has culture
    assert prepared, "the search's statement is prepared"
    assert [generic for generic, _ in prepared] == [0] * len(prepared)
    assert sum(custom for _, custom in prepared) >= 12 - 5


COMMON_FIRST_NAMES = (
    "linda", "richard", "barbara", "susan", "joseph", "jessica", "sarah", "charles",
    "christopher", "nancy", "betty", "karen", "lisa", "daniel", "mark", "matthew", "anthony",
    "donald", "steven", "paul", "andrew", "joshua", "kenneth", "kevin", "brian", "george",
    "timothy", "ronald", "edward", "jason", "jeffrey", "ryan", "jacob", "gary", "nicholas",
    "eric", "jonathan", "stephen", "larry", "justin",
)  # fmt: skip


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_the_planner_knows_about_how_many_addresses_share_a_common_prefix(store: Store) -> None:
    # A search is planned for its values, from ANALYZE's histogram of the address key. With
    # PostgreSQL's default 100 buckets, "chri" (183 of these 12,340) was estimated at 1 row.
    with store.transaction() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO subscribers (email, email_key, name, status, token_nonce, created_at)"
                " SELECT address, address, first, 'confirmed', md5(address), now() FROM ("
                "  SELECT first || '.' || (n * 7919 % 100000) || '@example.org' AS address, first"
                "  FROM unnest(CAST(:firsts AS text[])) WITH ORDINALITY AS names(first, i),"
                "  generate_series(1, 150 + CAST(i AS integer) * 37 % 300) AS n) AS made"
            ),
            {"firsts": list(COMMON_FIRST_NAMES)},
        )
        connection.exec_driver_sql("ANALYZE subscribers")  # every row: under 30,000 sampled
        misjudged = {}
        for first in COMMON_FIRST_NAMES:
            bounds = {"low": first[:4], "high": first[:3] + chr(ord(first[3]) + 1)}
            in_range = "FROM subscribers WHERE email_key >= :low AND email_key < :high"
            real = connection.scalar(sa.text(f"SELECT count(*) {in_range}"), bounds)
            plan = connection.scalar(sa.text(f"EXPLAIN SELECT id {in_range}"), bounds)
            estimate = int(str(plan).split("rows=")[1].split()[0])
            if not real / 3 <= estimate <= real * 3:
                misjudged[first[:4]] = (real, estimate)
    assert misjudged == {}
