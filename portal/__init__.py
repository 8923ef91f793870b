"""The reporting portal: a citizen app that seals reports, a reviewer app that opens them."""

from portal.app import create_citizen_app, create_reviewer_app

__all__ = ["create_citizen_app", "create_reviewer_app"]
