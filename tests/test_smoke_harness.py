from sqlalchemy import Engine, inspect


def test_migrated_database_has_the_schema(engine: Engine) -> None:
    assert {"workspace", "user_account", "membership", "setup_token", "web_session"} <= set(
        inspect(engine).get_table_names()
    )
