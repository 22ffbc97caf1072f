"""Built-in vocabulary of the composite flow: experience phrases, category keywords, Olist aliases.

Kept apart from the logic so the config page can show (and a PR can change) the words the
deterministic planner and the text search understand, without reading code.
"""

from __future__ import annotations

# Experience category -> real catalog categories that serve it. The right-hand names are the
# English Olist categories of ``product_category_name_translation.csv`` (checked against the
# product counts of ``olist_products_dataset.csv``: flowers 14, food 82, food_drink 104,
# drinks 81, la_cuisine 10, dvds_blu_ray 48, cds_dvds_musicals 1, watches_gifts 1329, ...).
# ``PlatformConfig.category_aliases`` overrides a key entirely when it names it.
DEFAULT_CATEGORY_ALIASES: dict[str, list[str]] = {
    "flowers": ["flowers"],
    "dinner": ["food", "food_drink", "la_cuisine"],
    "movie": ["dvds_blu_ray", "cds_dvds_musicals", "music"],
    "cake": ["food", "food_drink", "small_appliances_home_oven_and_coffee"],
    "gift": ["watches_gifts", "cool_stuff", "perfumery"],
    "decorations": ["party_supplies", "christmas_supplies", "furniture_decor"],
    "jewelry": ["watches_gifts", "fashion_bags_accessories"],
    "food": ["food", "food_drink", "la_cuisine"],
    "drinks": ["drinks", "food_drink"],
    "blanket": ["bed_bath_table", "home_confort", "home_comfort_2"],
    "snacks": ["food", "food_drink"],
    "bath": ["bed_bath_table", "health_beauty"],
    "candles": ["furniture_decor", "housewares"],
    "skincare": ["health_beauty", "perfumery"],
}

# Words that point a free-text search (titles, tags, descriptions of Shopify-like catalogs)
# at an experience category when no catalog category name matches.
CATEGORY_KEYWORDS: dict[str, list[str]] = {
    "flowers": ["flower", "rose", "bouquet", "tulip", "floral", "sunflower", "orchid", "lily"],
    "dinner": ["dinner", "meal", "restaurant", "pasta", "sushi", "italian", "food", "cuisine"],
    "movie": ["movie", "film", "cinema", "dvd", "blu", "ray", "comedy", "ticket"],
    "cake": ["cake", "cupcake", "dessert", "bakery", "chocolate"],
    "gift": ["gift", "present", "watch", "perfume"],
    "decorations": ["decoration", "balloon", "banner", "party", "decor"],
    "jewelry": ["jewelry", "jewellery", "necklace", "ring", "bracelet", "earring", "watch"],
    "food": ["food", "snack", "sandwich", "cheese", "fruit"],
    "drinks": ["drink", "wine", "juice", "soda", "beverage", "champagne", "beer"],
    "blanket": ["blanket", "throw", "towel", "quilt"],
    "snacks": ["snack", "popcorn", "chips", "candy", "chocolate"],
    "bath": ["bath", "towel", "bathrobe", "soap"],
    "candles": ["candle", "aroma", "scented"],
    "skincare": ["skincare", "cream", "lotion", "serum", "mask"],
}

# Phrase patterns (regex, matched case-insensitively on word boundaries) -> experience key.
# Longer / more specific phrases first: "movie night" must not be read as a date night.
EXPERIENCE_PATTERNS: list[tuple[str, str]] = [
    (r"movie[- ]night|film night|netflix night", "movie_night"),
    (r"spa[- ]day|pamper(ing)? day|self[- ]care day", "spa_day"),
    (
        r"date[- ]night|romantic (evening|night|dinner)|(a|our|my|first) date\b(?! (is|was|would|will))",
        "date_night",
    ),
    (r"anniversary", "anniversary"),
    (r"birthday|b-?day|bday", "birthday"),
    (r"picnic", "picnic"),
]

# Categories whose choice depends on what the party eats: ask about dietary needs for these.
FOOD_CATEGORIES: frozenset[str] = frozenset({"dinner", "cake", "food", "snacks", "drinks"})

# Experiences where the head count changes what to buy.
GROUP_EXPERIENCES: frozenset[str] = frozenset({"birthday", "picnic", "movie_night"})

# Complement suggested when probing a single-category discover ("Would you like to add flowers?").
COMPLEMENTS: dict[str, str] = {
    "flowers": "a card or chocolates",
    "gift": "flowers",
    "jewelry": "flowers",
    "cake": "decorations",
    "dinner": "flowers",
    "movie": "snacks",
}

# Words that make a message a single-category ask ("show me roses" -> flowers). Narrower than
# CATEGORY_KEYWORDS on purpose: "party of 6" or "watch a movie" must not read as a category.
DETECT_WORDS: dict[str, list[str]] = {
    "flowers": ["flower", "rose", "bouquet", "tulip", "orchid", "sunflower"],
    "gift": ["gift", "present"],
    "jewelry": ["jewelry", "jewellery", "necklace", "bracelet", "earring"],
    "cake": ["cake", "cupcake"],
    "drinks": ["wine", "champagne", "drinks"],
    "candles": ["candle"],
    "skincare": ["skincare"],
}
