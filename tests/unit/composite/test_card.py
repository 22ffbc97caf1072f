"""Experience card: Adaptive Card 1.5, one add_bundle_bulk action per option, listings below."""

from __future__ import annotations

from composite.card import build_experience_card, template_message
from composite.options import build_options
from models.chat import Budget, CategoryListing, DiscoveredProduct, Entities


def listings() -> list[CategoryListing]:
    return [
        CategoryListing(
            category=c,
            products=[
                DiscoveredProduct(
                    product_id=f"{c}-{i}", name=f"{c.title()} {i}", category=c, price=10.0 * (i + 1)
                )
                for i in range(3)
            ],
        )
        for c in ("flowers", "dinner", "movie")
    ]


def actions(card: dict) -> list[dict]:
    out = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type", "").startswith("Action."):
                out.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return out


def test_card_structure() -> None:
    lst = listings()
    opts = build_options(lst, Budget(amount=100))
    card = build_experience_card("date_night", opts, lst, "Here you go")
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["body"][0]["text"] == "Your Date Night Bundle"
    acts = actions(card)
    assert len(acts) == len(opts) >= 2
    for act, opt in zip(acts, opts):
        assert act["type"] == "Action.Submit" and act["title"] == "Add this bundle"
        assert act["data"] == {
            "action": "add_bundle_bulk",
            "product_ids": opt.product_ids,
            "option_label": opt.label,
        }
    first = card["body"][2]["items"][0]["text"]
    assert first.startswith("Option A: ") and " \u2013 " in first and first.endswith(")")
    cats = [b for b in card["body"] if b.get("id", "").startswith("category-")]
    assert [c["id"] for c in cats] == ["category-flowers", "category-dinner", "category-movie"]


def test_card_without_options_has_no_actions() -> None:
    card = build_experience_card("date_night", [], listings())
    assert actions(card) == []


def test_template_mentions_experience_and_budget() -> None:
    e = Entities(budget=Budget(amount=100), date_text="Saturday", experience="date_night")
    from datetime import date

    e = e.model_copy(update={"date": date(2025, 11, 29)})
    msg = template_message("date_night", e, build_options(listings(), e.budget), listings())
    assert "date night" in msg and "$100" in msg and "Saturday" in msg
