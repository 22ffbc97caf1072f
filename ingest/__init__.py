"""Broker-free parsing of order histories and catalogs, plus the publishers that use it.

Parsers take a path, bytes or CSV text and return data with exact row accounting
(``IngestReport``); only ``publisher`` and ``cli`` talk to Kafka.
"""

from .catalog import CATALOG_FORMATS, CatalogResult, parse_catalog
from .errors import IngestError
from .olist import OlistCatalog, build_olist_catalog, load_categories, trust_score
from .orders import ORDER_FORMATS, OrderStream, detect_orders_format, open_orders, read_orders
from .report import IngestReport

__all__ = [
    "CATALOG_FORMATS",
    "ORDER_FORMATS",
    "CatalogResult",
    "IngestError",
    "IngestReport",
    "OlistCatalog",
    "OrderStream",
    "build_olist_catalog",
    "detect_orders_format",
    "load_categories",
    "open_orders",
    "parse_catalog",
    "read_orders",
    "trust_score",
]
