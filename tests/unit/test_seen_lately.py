"""What a process remembers of the arrivals it wrote (``storage.people.SeenLately``)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.events import Actor, ConversationKind, ConversationRef, Directory, Platform
from storage.people import Person, PersonKey, SeenLately

DIRECT = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="D1", kind=ConversationKind.DIRECT
)


def test_an_arrival_is_fresh_for_the_refresh_time_only() -> None:
    clock = [100.0]
    lately = SeenLately(refresh=60.0, now=lambda: clock[0])
    arrival = SeenLately.arrival(DIRECT, Actor(id="U1", name="Alice"))
    assert not lately.fresh(arrival)
    lately.written(arrival)
    clock[0] += 59.9
    assert lately.fresh(arrival)
    clock[0] += 0.1
    assert not lately.fresh(arrival)


def test_another_conversation_or_name_is_another_arrival() -> None:
    lately = SeenLately()
    lately.written(SeenLately.arrival(DIRECT, Actor(id="U1", name="Alice")))
    channel = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
    )
    assert not lately.fresh(SeenLately.arrival(channel, Actor(id="U1", name="Alice")))
    assert not lately.fresh(SeenLately.arrival(DIRECT, Actor(id="U1", name="Alice S")))
    assert not lately.fresh(
        SeenLately.arrival(DIRECT, Actor(id="U1", name="Alice", timezone="Europe/London"))
    )


def test_forgetting_a_person_forgets_all_their_arrivals_and_no_one_elses() -> None:
    lately = SeenLately()
    alice = SeenLately.arrival(DIRECT, Actor(id="U1", name="Alice"))
    bob = SeenLately.arrival(DIRECT, Actor(id="U2", name="Bob"))
    lately.written(alice)
    lately.written(bob)
    lately.forget(PersonKey("slack", "T1", "U1"))
    assert not lately.fresh(alice)
    assert lately.fresh(bob)


def test_only_the_most_recent_arrivals_are_kept() -> None:
    lately = SeenLately(most=2)
    arrivals = [SeenLately.arrival(DIRECT, Actor(id=f"U{n}")) for n in range(3)]
    for arrival in arrivals:
        lately.written(arrival)
    assert [lately.fresh(a) for a in arrivals] == [False, True, True]


def _person(user: str, email: str) -> Person:
    return Person(
        key=PersonKey("teams", "T1", user),
        display_name=user,
        timezone=None,
        direct_conversation=None,
        service_url=None,
        first_seen=datetime(2026, 12, 1, tzinfo=UTC),
        last_seen=datetime(2026, 12, 1, tzinfo=UTC),
        directory=Directory.of(email=email),
    )


def test_a_person_read_is_known_for_the_refresh_time_until_they_change_here() -> None:
    clock = [100.0]
    lately = SeenLately(refresh=60.0, now=lambda: clock[0])
    alice, bob = _person("A", "alice@nhs.net"), _person("B", "bob@nhs.net")
    assert lately.known(alice.key) is None
    lately.knew(alice)
    lately.knew(bob)
    clock[0] += 59.9
    assert lately.known(alice.key) == alice
    lately.forget(alice.key)
    assert lately.known(alice.key) is None
    assert lately.known(bob.key) == bob
    clock[0] += 0.1
    assert lately.known(bob.key) is None


def test_only_the_people_read_most_recently_are_known() -> None:
    lately = SeenLately(most=2)
    people = [_person(f"U{n}", f"u{n}@nhs.net") for n in range(3)]
    for person in people:
        lately.knew(person)
    assert [lately.known(p.key) for p in people] == [None, people[1], people[2]]
