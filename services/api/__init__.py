"""The HTTP face of the router, by role: predict, operations and admin routes.

services.app puts them together with the key check (`access`), the body limit
(`body_limit`) and the error answers (`errors`).
"""
