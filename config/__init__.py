"""Reading a process's configuration from the environment, once, at start-up.

Each process (``web``, ``projections``) has one loader that reads every settings model it needs
through ``config.env.EnvReader`` and raises one ``SettingsError`` naming every bad variable.
The models are pydantic-settings classes whose defaults are the documented ones; built directly
(in tests) they read nothing from the environment.
"""
