"""The probe-or-fetch table (docs/design.md, Composite flow) on the deterministic planner, plus
experience/category detection."""

from __future__ import annotations

from composite.planner import apply_decision, detect_experience, plan
from models.chat import SessionState
from models.config import PlatformConfig
from tests.unit.composite.composite_testdata import NOW

CFG = PlatformConfig()


def fresh() -> SessionState:
    return SessionState(session_id="s1", store_id="st1")


def step(state: SessionState, text: str):
    d = plan(state, text, CFG, NOW)
    return d, apply_decision(state, d, NOW)


def test_generic_message_probes_and_does_not_discover() -> None:
    for text in ("date night", "plan a date night", "Plan a date night!"):
        d = plan(fresh(), text, CFG, NOW)
        assert d.action == "probe" and d.intent == "discover_composite"
        assert d.experience == "date_night"
        joined = " ".join(d.questions).lower()
        assert "date" in joined and "dietary" in joined and "budget" in joined
        assert 2 <= len(d.questions) <= 4


def test_answer_after_probe_is_merged_then_fetch() -> None:
    d1, s1 = step(fresh(), "plan a date night")
    assert d1.action == "probe" and s1.probes_asked == 1
    d2, s2 = step(s1, "Saturday $100 vegetarian")
    assert d2.action == "fetch" and d2.intent == "discover_composite"
    assert d2.categories == ["flowers", "dinner", "movie"]
    e = s2.entities
    assert e.experience == "date_night" and e.budget.amount == 100 and e.dietary == ["vegetarian"]
    assert e.date is not None and e.date.isoformat() == "2025-11-29"


def test_details_in_first_message_fetch_immediately() -> None:
    d = plan(fresh(), "date night Saturday $100 vegetarian", CFG, NOW)
    assert d.action == "fetch" and d.questions == []


def test_just_show_me_options_fetches_immediately() -> None:
    _, s1 = step(fresh(), "plan a date night")
    d, _ = step(s1, "just show me options")
    assert d.action == "fetch" and d.experience == "date_night"
    d0 = plan(fresh(), "date night, just show me options", CFG, NOW)
    assert d0.action == "fetch"


def test_probe_only_once() -> None:
    _, s1 = step(fresh(), "plan a date night")
    d, _ = step(s1, "hmm not sure")
    assert d.action == "fetch"


def test_questions_only_ask_for_what_is_missing() -> None:
    d = plan(fresh(), "birthday party", CFG, NOW)
    assert d.experience == "birthday" and d.action == "probe"
    qs = " ".join(d.questions).lower()
    assert "how many" in qs and "budget" in qs  # cake -> dietary, group -> head count
    _, s = step(fresh(), "plan a date night")
    s = s.model_copy(update={"probes_asked": 0})
    d2 = plan(
        s.model_copy(update={"entities": s.entities.model_copy(update={"dietary": []})}),
        "date night",
        CFG,
        NOW,
    )
    assert d2.action == "probe"


def test_single_category_discover() -> None:
    d = plan(fresh(), "show me flowers", CFG, NOW)
    assert (d.action, d.intent, d.categories) == ("fetch", "discover", ["flowers"])
    d2 = plan(fresh(), "I'm looking for a gift", CFG, NOW)
    assert d2.action == "probe" and d2.intent == "discover"
    qs = " ".join(d2.questions).lower()
    assert "preferences" in qs and "occasion" in qs and "budget" in qs and "add flowers" in qs
    _, s = step(fresh(), "I'm looking for a gift")
    d3, _s3 = step(s, "$50, her birthday")
    # 'birthday' names an experience: the shopper moved on to planning a birthday
    assert d3.intent == "discover_composite" or d3.categories == ["gift"]


def test_single_category_follow_up_keeps_category() -> None:
    _, s = step(fresh(), "I want roses")
    assert s.last_intent == "discover:flowers"
    d, _ = step(s, "$40 please")
    assert (d.action, d.intent, d.categories) == ("fetch", "discover", ["flowers"])


def test_smalltalk_without_experience() -> None:
    d = plan(fresh(), "hello there", CFG, NOW)
    assert d.action == "message" and d.intent == "smalltalk" and "date night" in d.message


def test_switching_experience_resets_plan_but_keeps_diet() -> None:
    _, s = step(fresh(), "date night saturday $100 vegan")
    d, s2 = step(s, "actually plan a picnic")
    assert d.experience == "picnic" and d.action == "probe"
    assert s2.entities.budget is None and s2.entities.dietary == ["vegan"]


def test_configurable_experiences() -> None:
    cfg = PlatformConfig(experiences={"game_night": ["snacks", "drinks", "games"]})
    d = plan(fresh(), "let's do a game night", cfg, NOW)
    assert d.experience == "game_night" and d.categories == ["snacks", "drinks", "games"]
    assert (
        detect_experience("movie night with popcorn", PlatformConfig().experiences) == "movie_night"
    )
    assert detect_experience("a romantic evening", PlatformConfig().experiences) == "date_night"
