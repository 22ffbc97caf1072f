"""Test data for the composite package, imported as ``tests.unit.composite.composite_testdata``."""

from __future__ import annotations

import datetime as dt

from models.catalog import Partner, Product, Sponsorship
from models.chat import ChatTurn

# Monday 24 Nov 2025, noon UTC: "Saturday" -> 29 Nov, "tomorrow" -> 25 Nov.
NOW = dt.datetime(2025, 11, 24, 12, 0, tzinfo=dt.UTC)


def make_catalog() -> list[Product]:
    """Olist-shaped categories (flowers, food, dvds_blu_ray, ...) with varied prices/partners."""
    rows = {
        "flowers": [
            ("Red Roses Bouquet", 35.0),
            ("Tulip Bunch", 22.0),
            ("Sunflower Basket", 18.0),
            ("Orchid Pot", 55.0),
            ("Lily Arrangement", 40.0),
            ("Mini Daisies", 9.5),
        ],
        "food": [
            ("Italian Pasta Kit", 30.0),
            ("Sushi Set", 45.0),
            ("Cheese Board", 25.0),
            ("Vegetarian Lasagna", 28.0),
            ("Chocolate Fondue", 19.0),
        ],
        "food_drink": [("Gourmet Dinner Box", 60.0), ("Red Wine Duo", 38.0)],
        "dvds_blu_ray": [
            ("Romantic Comedy Blu-ray", 15.0),
            ("Classic Film DVD", 9.0),
            ("Jazz Concert DVD", 20.0),
            ("Action Movie Box", 32.0),
        ],
        "watches_gifts": [("Silver Watch", 120.0), ("Gift Card Holder", 12.0)],
        "housewares": [("Candle Set", 14.0)],
    }
    out = []
    n = 0
    for cat, items in rows.items():
        for title, price in items:
            n += 1
            out.append(
                Product(
                    product_id=f"{cat[:4]}-{n:02d}",
                    title=title,
                    category=cat,
                    price=price,
                    created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n),
                    partner=Partner(
                        partner_id=f"seller-{n % 4}",
                        name=f"Seller {n % 4}",
                        trust_score=0.4 + 0.15 * (n % 4),
                        commission_rate=0.05 * (n % 3),
                    ),
                    sponsorship=Sponsorship(active=True) if n % 5 == 0 else None,
                )
            )
    return out


def turn(i: int, text: str) -> ChatTurn:
    """The ``i``-th chat turn of one session of one store."""
    return ChatTurn(turn_id=f"t{i}", session_id="sess", store_id="store", text=text)
