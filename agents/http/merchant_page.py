"""``/stores/{store}``: the merchant's bundle page.

The HTML is a shell with no data, served without a key like the demo and config pages; the page's
script reads the store's latest bundle set and its live performance with the tab's key
(``Authorization: Bearer``), so what a merchant sees is what the key covers.

Its policy differs from the other pages' in one directive: ``img-src`` also allows https images,
because the catalog's product pictures live on the merchant's own CDN (Shopify's Image Src). They
are loaded directly, not proxied: no cookie or key goes with them (the key is a header on the
page's own fetches only), no referrer is sent, and plain-http addresses are not shown.
"""

from __future__ import annotations

from faust import web

from security import open_route

from ..app import app
from .auth import guarded
from .common import HttpError, check_id, error_response
from .config import PAGE_HEADERS, STATIC

MERCHANT_PAGE_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", "img-src 'self' data: https:"
    ),
}
assert "https:" in MERCHANT_PAGE_HEADERS["Content-Security-Policy"]  # the replace matched


@app.page("/stores/{store}")
@guarded(
    open_route("static HTML of the merchant page: no data; its API calls carry the store's key")
)
class MerchantPage(web.View):
    async def get(self, request: web.Request, store: str) -> web.Response:
        try:
            check_id("store", store)
        except HttpError as exc:
            return error_response(self, exc)
        return self.html(
            (STATIC / "merchant.html").read_text(encoding="utf-8"),
            headers=dict(MERCHANT_PAGE_HEADERS),
        )
