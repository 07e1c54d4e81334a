"""The config's own rules, each at its boundary: what is accepted, and for what is
refused the one line a user sees (``  key.path: reason`` under ``invalid configuration
in SOURCE:``), word for word. ``test_config.py`` holds the rest of postie.config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest

from postie.config import (
    Config,
    FinalizeConfig,
    Invalid,
    PostingConfig,
    SecretStr,
    ServerConfig,
    dump,
    parse_config,
    replace,
    validate,
)
from postie.config.section import Section
from postie.errors import ConfigError

HEAD = "invalid configuration in configuration:"


def refused(data: Any) -> list[str]:
    """The lines of the error ``data`` gets, after the first (which names the source)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    head, *lines = str(caught.value).splitlines()
    assert head == HEAD
    return lines


def server(**fields: Any) -> dict[str, Any]:
    return {"host": "news.example.com", **fields}


# --- posting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "groups",
    [
        ["alt.binaries.test"],
        ["alt.binaries.X-Files", "a.b.c", "alt.binaries.test"],  # any other character
        ["x"],
    ],
)
def test_newsgroup_names_are_taken(groups: list[str]) -> None:
    assert parse_config({"posting": {"groups": groups}}).posting.groups == tuple(groups)


@pytest.mark.parametrize(
    ("groups", "line"),
    [
        ([], "posting.groups: at least one newsgroup is needed"),
        ([""], "posting.groups: not a newsgroup name: ''"),
        (["a.b", "a b"], "posting.groups: not a newsgroup name: 'a b'"),
        (["a.b,c.d"], "posting.groups: not a newsgroup name: 'a.b,c.d'"),
        (["a\tb"], "posting.groups: not a newsgroup name: 'a\\tb'"),
        (["a\rb"], "posting.groups: not a newsgroup name: 'a\\rb'"),
        (["a\nb"], "posting.groups: not a newsgroup name: 'a\\nb'"),
        ([1, 2], "posting.groups.0: Expected `str`, got `int`"),
        ("alt.binaries.test", "posting.groups: Expected `array`, got `str`"),
    ],
)
def test_a_bad_newsgroup_list_is_one_line(groups: Any, line: str) -> None:
    assert refused({"posting": {"groups": groups}}) == [f"  {line}"]


@pytest.mark.parametrize(
    "subject",
    [
        "{name}",
        # each field formatted as what it is: numbers as numbers, the name as text
        "[{index:03d}/{count:03d}] {name:>20.10} ({part:d}/{parts:d}) {size:,d}",
        "{{literal braces}} {name!r}",
        "",
    ],
)
def test_subject_templates_are_taken(subject: str) -> None:
    assert parse_config({"posting": {"subject": subject}}).posting.subject == subject


FIELDS = "fields: index count name part parts size"


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("{nope}", f"bad subject template ('nope'); {FIELDS}"),
        (
            "{0}",
            "bad subject template (Replacement index 0 out of range for positional args"
            f" tuple); {FIELDS}",
        ),
        (
            "{name:d}",
            f"bad subject template (Unknown format code 'd' for object of type 'str'); {FIELDS}",
        ),
        ("{index[0]}", f"bad subject template ('int' object is not subscriptable); {FIELDS}"),
        ("a\nb", "subject cannot contain line breaks"),
        ("a\rb", "subject cannot contain line breaks"),
        ("a\r\nb", "subject cannot contain line breaks"),
    ],
)
def test_a_bad_subject_is_one_line(subject: str, reason: str) -> None:
    assert refused({"posting": {"subject": subject}}) == [f"  posting.subject: {reason}"]


@pytest.mark.parametrize("domain", ["postie.local", "NEWS.Example.COM", "x", "X.example"])
def test_message_id_domains_are_taken(domain: str) -> None:
    config = parse_config({"posting": {"message_id_domain": domain}})
    assert config.posting.message_id_domain == domain


@pytest.mark.parametrize("domain", ["", "a@b", "<a>", "a>", "a b", "a\tb", "a\rb", "a\nb"])
def test_a_bad_message_id_domain_is_one_line(domain: str) -> None:
    assert refused({"posting": {"message_id_domain": domain}}) == [
        f"  posting.message_id_domain: not a domain for Message-IDs: {domain!r}"
    ]


@pytest.mark.parametrize("poster", ["a@b", "Name <user@example.com>", "XX@XX"])
def test_posters_are_taken(poster: str) -> None:
    assert parse_config({"posting": {"poster": poster}}).posting.poster == poster


@pytest.mark.parametrize("poster", ["no address", "", "a@b\r", "a@b\n", "a <a@b>\r\nX-Evil: 1"])
def test_a_bad_poster_is_one_line(poster: str) -> None:
    assert refused({"posting": {"poster": poster}}) == [
        "  posting.poster: poster must be an address like 'name <user@example.com>'"
    ]


# --- PAR2 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slice_size", "taken"),
    [(4, True), (8, True), (1024, True), (5, False), (6, False), (10, False), (20, True)],
)
def test_the_par2_block_size_is_a_multiple_of_4(slice_size: int, taken: bool) -> None:
    data = {"par2": {"slice_size": slice_size}}
    if taken:
        assert parse_config(data).par2.slice_size == slice_size
    else:
        assert refused(data) == [
            f"  par2.slice_size: the PAR2 block size must be a multiple of 4, not {slice_size}"
        ]


def test_the_par2_redundancy_is_checked_unless_it_is_the_default() -> None:
    assert parse_config({"par2": {"redundancy": "10%"}}).par2.redundancy == "10%"
    assert parse_config({"par2": {"redundancy": "5%"}}).par2.redundancy == "5%"
    assert parse_config({"par2": {"redundancy": "200"}}).par2.redundancy == "200"
    assert refused({"par2": {"redundancy": "lots"}}) == [
        "  par2.redundancy: invalid redundancy 'lots': expected a percentage such as '10%'"
        " or a recovery block count such as '200'"
    ]


# --- store and finalize ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postie@db.example:5432/postie",
        "postgres://postie@db.example/postie",
        "PostgreSQL://postie@db.example/postie",  # the scheme in any case
        "POSTGRES://db.example/postie",
        "sqlite:///var/lib/postie.db",
        "SQLITE:///var/lib/postie.db",
    ],
)
def test_store_urls_are_taken(url: str) -> None:
    assert parse_config({"store": {"url": url}}).store.url == url


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql:/h/db", "/var/lib/postie.db", ""])
def test_a_bad_store_url_is_one_line(url: str) -> None:
    assert refused({"store": {"url": url}}) == [
        "  store.url: a URL: postgresql://user@host:port/database (PostgreSQL) or sqlite:///path"
    ]


def test_a_store_url_and_path_together_are_one_line() -> None:
    assert refused({"store": {"url": "postgresql://h/db", "path": "/x.db"}}) == [
        "  store: store.url and store.path both name a store: keep one"
    ]
    assert parse_config({"store": {"path": "/x.db"}}).store.path == Path("/x.db")


@pytest.mark.parametrize(
    "command",
    [
        [],  # no hook
        ["notify-send"],  # the program alone
        ["/usr/bin/hook", "{nzb}", "--name={name}", "{source}", "{id}", "{{literal}}"],
        ["hook", ""],  # an empty argument after the program is an argument
    ],
)
def test_hook_commands_are_taken(command: list[str]) -> None:
    config = parse_config({"finalize": {"hook": {"command": command}}})
    assert config.finalize.hook.command == tuple(command)


PLACEHOLDERS = "fields: {nzb} {name} {source} {id}"


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (["", "{nzb}"], "the program (first item) cannot be empty"),
        ([""], "the program (first item) cannot be empty"),
        (["hook", "{nope}"], f"bad placeholder in '{{nope}}' ('nope'); {PLACEHOLDERS}"),
        (
            ["hook", "--id={0}"],
            "bad placeholder in '--id={0}' (Format string contains positional fields);"
            f" {PLACEHOLDERS}",
        ),
        (
            ["{", "x"],
            f"bad placeholder in '{{' (Single '{{' encountered in format string); {PLACEHOLDERS}",
        ),
    ],
)
def test_a_bad_hook_command_is_one_line(command: list[str], reason: str) -> None:
    assert refused({"finalize": {"hook": {"command": command}}}) == [
        f"  finalize.hook.command: {reason}"
    ]


def test_deleting_or_moving_the_originals_one_at_a_time() -> None:
    assert parse_config({"finalize": {"delete_originals": True}}).finalize.delete_originals
    moved = parse_config({"finalize": {"move_originals": "/srv/posted"}})
    assert moved.finalize.move_originals == Path("/srv/posted")
    assert refused({"finalize": {"delete_originals": True, "move_originals": "/srv/posted"}}) == [
        "  finalize: delete_originals and move_originals: choose one"
    ]


# --- servers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"ssl": True, "starttls": True}, "ssl (implicit TLS) and starttls cannot both be on"),
        (
            {"username": "u", "password": "p", "password_env": "P"},
            "give password or password_env, not both",
        ),
        ({"password": "p"}, "a password needs a username"),
        ({"password_env": "P"}, "a password needs a username"),
        ({"username": "", "password": "p"}, "a password needs a username"),
    ],
)
def test_a_servers_rules_across_keys_are_one_line(fields: dict[str, Any], reason: str) -> None:
    assert refused({"servers": [server(), server(**fields)]}) == [f"  servers.1: {reason}"]


def test_a_server_takes_one_of_its_keys_at_a_time() -> None:
    (s,) = parse_config({"servers": [server(ssl=True, password_env="")]}).servers
    assert (s.ssl, s.starttls, s.password_env) == (True, False, "")  # an empty name: none
    (s,) = parse_config({"servers": [server(starttls=True, username="u", password="p")]}).servers
    assert (s.starttls, s.username, s.secret()) == (True, "u", "p")


def test_the_postable_checks_say_what_is_missing() -> None:
    with pytest.raises(ConfigError) as caught:
        Config().check_postable()
    assert str(caught.value) == ("no server configured: give --host or a config file with servers")
    with pytest.raises(ConfigError) as caught:
        parse_config({"servers": [server(role="verify")]}).check_postable()
    assert str(caught.value) == "no server with role upload or both"


# --- reading plain data ----------------------------------------------------------------------


def test_numbers_and_booleans_may_be_quoted() -> None:
    """As a config file may quote them (``port: "563"``)."""
    (s,) = parse_config({"servers": [server(port="563", ssl="true", max_connections="4")]}).servers
    assert (s.port, s.ssl, s.max_connections) == (563, True, 4)
    assert parse_config({"verify": {"delay": "2.5"}}).verify.delay == 2.5


def test_text_expected_names_the_type_given_never_the_value() -> None:
    assert refused({"nzb": {"output": 5}}) == ["  nzb.output: Expected `str`, got `int`"]
    assert refused({"servers": [server(username="u", password=987654321)]}) == [
        "  servers.0.password: Expected `str`, got `int`"
    ]
    assert refused({"store": {"path": ["a"]}}) == ["  store.path: Expected `str`, got `list`"]


def test_a_missing_key_and_an_unknown_one_are_each_a_line() -> None:
    assert refused({"servers": [{"port": 119, "hots": "x"}]}) == [
        "  servers.0.hots: unknown key",
        "  servers.0.host: required key missing",
    ]


def test_a_mapping_where_a_list_of_sections_goes_is_a_type_error() -> None:
    assert refused({"servers": {"name": "x"}}) == ["  servers: Expected `array`, got `object`"]
    assert refused({"daemon": {"watch": {"path": "/srv"}}}) == [
        "  daemon.watch: Expected `array`, got `object`"
    ]


def test_a_value_quoting_msgspecs_path_marker_is_not_taken_for_a_path() -> None:
    """msgspec ends its message with `` - at `$.path` ``; a value that holds those words
    (quoted in the reason) is the reason's."""
    value = "x - at `$.y"
    assert refused({"posting": {"obfuscation": value}}) == [
        f"  posting.obfuscation: Invalid enum value '{value}'"
    ]
    assert refused({"servers": [server(role="a - at `$.b` - at `$.c`")]}) == [
        "  servers.0.role: Invalid enum value 'a - at `$.b` - at `$.c`'"
    ]


def test_validate_names_the_configuration_and_the_top_level() -> None:
    with pytest.raises(ConfigError) as caught:
        validate(ServerConfig, server(ssl=True, starttls=True))
    assert str(caught.value) == (
        "invalid configuration in configuration:\n"
        "  (top level): ssl (implicit TLS) and starttls cannot both be on"
    )
    with pytest.raises(ConfigError) as caught:
        validate(PostingConfig, {"groups": [], "article_size": 1}, "the job's options")
    assert str(caught.value).splitlines() == [
        "invalid configuration in the job's options:",
        "  groups: at least one newsgroup is needed",
        "  article_size: Expected `int` >= 1024",
    ]


class Inner(Section, frozen=True):
    size: Annotated[int, msgspec.Meta(ge=1)] = 1


class Outer(Section, frozen=True):
    """Shapes no section of postie's config has yet: an optional section, and a list of
    sections under bounds of its own."""

    maybe: Inner | None = None
    many: Annotated[tuple[Inner, ...], msgspec.Meta(max_length=3)] = ()


def test_validate_finds_each_problem_in_optional_and_annotated_sections() -> None:
    outer = validate(Outer, {"maybe": {"size": 2}, "many": [{"size": 3}]})
    assert outer == Outer(Inner(2), (Inner(3),))
    assert validate(Outer, {"maybe": None}).maybe is None
    with pytest.raises(ConfigError) as caught:
        validate(Outer, {"maybe": {"size": 0, "sise": 1}, "many": [{}, {"size": 0}, {"x": 1}]})
    assert str(caught.value).splitlines() == [
        "invalid configuration in configuration:",
        "  maybe.size: Expected `int` >= 1",
        "  maybe.sise: unknown key",
        "  many.1.size: Expected `int` >= 1",
        "  many.2.x: unknown key",
    ]
    with pytest.raises(ConfigError) as caught:
        validate(Outer, {"many": [{}, {}, {}, {}]})
    assert str(caught.value).splitlines()[1:] == ["  many: Expected `array` of length <= 3"]


# --- sections in code ------------------------------------------------------------------------


def test_replace_changes_keys_and_checks_the_rules() -> None:
    posting = PostingConfig()
    changed = replace(posting, article_size=2048, groups=("a.b",))
    assert (changed.article_size, changed.groups) == (2048, ("a.b",))
    assert posting.article_size != 2048  # a copy
    with pytest.raises(Invalid) as caught:
        replace(posting, groups=(), poster="nobody")
    assert caught.value.problems == {
        "groups": "at least one newsgroup is needed",
        "poster": "poster must be an address like 'name <user@example.com>'",
    }
    assert str(caught.value) == (
        "groups: at least one newsgroup is needed; poster: poster must be an address like"
        " 'name <user@example.com>'"
    )
    with pytest.raises(ValueError, match=r"^delete_originals and move_originals: choose one$"):
        replace(FinalizeConfig(), delete_originals=True, move_originals=Path("/x"))


def test_dump_includes_and_excludes_keys() -> None:
    posting = PostingConfig()
    assert dump(posting, include={"groups", "max_retries"}) == {
        "groups": ["alt.binaries.test"],
        "max_retries": 5,
    }
    assert dump(posting, include={"groups", "max_retries"}, exclude={"groups"}) == {
        "max_retries": 5
    }
    assert set(dump(posting, exclude={"groups"})) == set(posting.__struct_fields__) - {"groups"}


def test_a_secret_is_never_shown_and_compares_by_its_value() -> None:
    secret = SecretStr("hunter2")
    assert repr(secret) == "SecretStr('**********')"
    assert str(secret) == "**********"
    assert f"{secret}" == "**********"
    assert secret.get_secret_value() == "hunter2"
    assert secret == SecretStr("hunter2")
    assert secret != SecretStr("hunter3")
    assert secret != "hunter2"  # not the text itself
    assert hash(secret) == hash(SecretStr("hunter2"))
    assert len({secret, SecretStr("hunter2"), SecretStr("other")}) == 2
