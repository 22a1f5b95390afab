"""The console package's public names are the ones we mean to export."""

from __future__ import annotations

import obssched.console
import obssched.exceptions


def test_console_exports_what_it_means_to() -> None:
    """obssched.console's __all__ is exactly its public surface, and each name resolves."""
    assert sorted(obssched.console.__all__) == [
        "Console",
        "ConsoleSettingError",
        "ConsoleSettings",
        "RunHistory",
        "SpanBuffer",
        "attach_span_buffer",
        "build_console",
        "make_asgi_app",
        "make_wsgi_app",
        "mount_console",
    ]
    for name in obssched.console.__all__:
        assert getattr(obssched.console, name) is not None


def test_console_setting_errors_are_obssched_errors() -> None:
    """A bad setting raises an ObsschedError that is also a ValueError."""
    assert issubclass(obssched.console.ConsoleSettingError, obssched.exceptions.ObsschedError)
    assert issubclass(obssched.console.ConsoleSettingError, ValueError)
