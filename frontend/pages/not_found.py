"""The page for an address the app does not have: the usual frame and navigation, and where to go instead."""

from __future__ import annotations

import reflex as rx

from frontend.layout import NAV, page_frame


def not_found_page() -> rx.Component:
    return page_frame(
        "Page not found",
        rx.callout(
            "There is no page at this address. It may have been mistyped, or the link that led here is out of date.",
            icon="map-pin-off",
            color_scheme="gray",
            id="not-found",
        ),
        rx.flex(
            rx.text("Go to", color_scheme="gray"),
            *(rx.link(label, href=href, weight="medium") for label, href in NAV),
            spacing="4",
            wrap="wrap",
            margin_top="var(--space-4)",
        ),
    )
