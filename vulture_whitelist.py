"""Names vulture (``[tool.vulture]`` in pyproject.toml, run by ``scripts/test``) reports as
unused at 80% confidence but that must stay, each with the reason. Not imported by anything.

Every one is a parameter of a method we override: the framework passes it by keyword, so it
can be neither removed nor renamed with a leading underscore. Each is named by a bare
expression, which vulture counts as a use (the file is never imported or run).
"""

# ruff: noqa: B018, F821
# mypy: ignore-errors

# config/env.py: pydantic-settings calls ``settings_customise_sources(settings_cls,
# init_settings=..., env_settings=..., dotenv_settings=..., file_secret_settings=...)``; we
# replace the environment source with our own and keep no dotenv or secrets-dir source.
env_settings
dotenv_settings
file_secret_settings

# web/graphql_http.py: Strawberry's ``AsyncBaseHTTPView.execute_single`` passes
# ``sub_response``; our override sets headers on the final response instead.
sub_response

# tests/unit/test_live_handlers.py: the fake WebSocket adapter implements Strawberry's
# ``AsyncWebSocketAdapter.iter_json(*, ignore_parsing_errors)``; the fake never parses.
ignore_parsing_errors
