"""Tests for postie.config: defaults, validation messages, secrets, loading and merging."""

from __future__ import annotations

import importlib
import pkgutil
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import postie.config
from postie.config import (
    DEFAULT_ARTICLE_SIZE,
    DEFAULT_SUBJECT,
    Config,
    Obfuscation,
    Role,
    ServerConfig,
    WatchRoot,
    dump,
    load_config,
    merge,
    parse_config,
    validate,
)
from postie.config.section import Section
from postie.errors import ConfigError
from postie.nntp import settings as nntp_settings
from postie.nntp.settings import ServerSettings

SECRET = "hunter2-S3cr3t"


def server(**fields: Any) -> dict[str, Any]:
    return {"host": "news.example.com", **fields}


def config_error(data: Any, source: str = "configuration") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source)
    return str(info.value)


# --- defaults ------------------------------------------------------------------------------


def test_defaults_of_an_empty_config() -> None:
    config = parse_config({})
    assert config.servers == ()
    assert config.posting.groups == ("alt.binaries.test",)
    assert config.posting.article_size == DEFAULT_ARTICLE_SIZE == 716_800
    assert config.posting.line_length == 128
    assert config.posting.subject == DEFAULT_SUBJECT
    assert config.posting.poster == "postie <postie@postie.invalid>"
    assert config.posting.message_id_domain == "postie.local"
    assert config.posting.obfuscation is Obfuscation.NONE
    assert config.posting.max_retries == 5
    assert config.posting.retry_delay == 1.0
    assert config.nzb.output is None
    assert config.nzb.per_file is False
    assert config.nzb.meta.title is None
    assert config.limits.buffer_bytes is None
    assert config.limits.encode_threads == 2


def test_none_is_the_empty_config() -> None:
    # An empty YAML file parses to None.
    assert parse_config(None) == parse_config({}) == Config()


def test_server_defaults() -> None:
    s = parse_config({"servers": [server()]}).servers[0]
    assert s.host == "news.example.com"
    assert s.port == 0
    assert s.ssl is False
    assert s.starttls is False
    assert s.verify_cert is True
    assert s.username is None
    assert s.password is None
    assert s.password_env is None
    assert s.max_connections == 8
    assert s.role is Role.BOTH
    assert (s.timeouts.connect, s.timeouts.reply, s.timeouts.post) == (10.0, 60.0, 120.0)
    assert s.idle_timeout == 60.0
    assert s.connect_retries == 3
    assert s.mode_reader == "auto"
    assert s.secret() is None


def test_config_is_frozen() -> None:
    config = parse_config({"servers": [server()]})
    with pytest.raises(AttributeError):
        config.servers[0].port = 1  # type: ignore[misc]


# --- unknown keys and bad values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"servers": [server(hots="x")]}, "servers.0.hots: unknown key"),
        ({"servers": [server(), server(prot=1)]}, "servers.1.prot: unknown key"),
        ({"posting": {"bogus": 1}}, "posting.bogus: unknown key"),
        ({"nzb": {"meta": {"titel": "x"}}}, "nzb.meta.titel: unknown key"),
        ({"servers": [server(timeouts={"conect": 1})]}, "servers.0.timeouts.conect: unknown key"),
        ({"sever": []}, "sever: unknown key"),
    ],
)
def test_unknown_key_is_rejected_with_its_path(data: dict[str, Any], expected: str) -> None:
    message = config_error(data)
    assert f"  {expected}" in message.splitlines(), message


# Every model reachable from Config, found by walking the fields, so that a new section (or
# one that slips off the strict base model) cannot be forgotten here.

# Values for the fields a model requires, so a minimal instance of it is valid.
REQUIRED: dict[tuple[type[Section], str], Any] = {
    (ServerConfig, "host"): "news.example.com",
    (WatchRoot, "path"): "/srv/watch",
}

Where = tuple[str | int, ...]  # a key path: field names, and 0 for the first item of a list


def _models_in(annotation: Any) -> Iterator[tuple[type[Section], Where]]:
    """The models an annotation holds, each with the steps into it (0 for a list item)."""
    if isinstance(annotation, type) and issubclass(annotation, Section):
        yield annotation, ()
        return
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    if typing.get_origin(annotation) in (tuple, list, set, frozenset):
        for arg in args:
            for model, where in _models_in(arg):
                yield model, (0, *where)
        return
    for arg in args:  # unions, Optional, Annotated, dict values
        yield from _models_in(arg)


def _fields(model: type[Section]) -> dict[str, msgspec.structs.FieldInfo]:
    return {field.name: field for field in msgspec.structs.fields(model)}


def _reachable(model: type[Section], where: Where = ()) -> Iterator[tuple[Where, type[Section]]]:
    yield where, model
    for name, field in _fields(model).items():
        for sub, steps in _models_in(field.type):
            yield from _reachable(sub, (*where, name, *steps))


MODELS = list(_reachable(Config))


def _dotted(where: Where) -> str:
    return ".".join(str(step) for step in where)


def _minimal(model: type[Section]) -> dict[str, Any]:
    data = {}
    for name, field in _fields(model).items():
        if field.required:
            assert (model, name) in REQUIRED, f"add a value for {model.__name__}.{name}"
            data[name] = REQUIRED[model, name]
    return data


def _config_with(where: Where, extra: dict[str, Any]) -> dict[str, Any]:
    """A minimal valid config with ``extra`` merged into the model at ``where``."""
    top: dict[str, Any] = {}
    node: Any = top
    model: type[Section] = Config
    steps = list(where)
    while steps:
        name = steps.pop(0)
        assert isinstance(name, str)
        annotation = _fields(model)[name].type
        sub, index = next(_models_in(annotation))
        child = _minimal(sub)
        value: Any = child
        for _ in index:  # a list item: the first (and only) one
            value = [value]
        node[name] = value
        del steps[: len(index)]
        node, model = child, sub
    node.update(extra)
    return top


def _unknown_key(model: type[Section]) -> str:
    """A near miss of one of the model's keys (delete_originals -> delete_originalz)."""
    for name in _fields(model):
        typo = name[:-1] + "z"
        if typo not in _fields(model):
            return typo
    return "bogus"


def test_every_model_of_the_config_is_reached() -> None:
    """The walk finds every model defined in postie.config (any module of the package),
    lists and nested ones included; a model that only lends its keys to others (a base
    class) is checked through them."""
    package = postie.config
    modules = [package] + [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]
    defined = {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Section)
        and value.__module__ == module.__name__
        and _fields(value)
    }
    reached = {model for _, model in MODELS}
    bases = {b for model in reached for b in model.__mro__[1:]}  # shared keys, no section
    assert reached == defined - bases
    paths = {_dotted(where) for where, _ in MODELS}
    assert {"servers.0.timeouts", "daemon.watch.0", "finalize.hook", "nzb.meta"} <= paths


@pytest.mark.parametrize(("where", "model"), MODELS, ids=[_dotted(w) or "(top)" for w, _ in MODELS])
def test_every_section_rejects_an_unknown_key_with_its_full_path(
    where: Where, model: type[Section]
) -> None:
    """A misspelt key is an error naming its whole path in every section, list items too
    (``finalize: {delete_originalz: true}`` must not be silently ignored)."""
    parse_config(_config_with(where, {}))  # the minimal config itself is valid
    key = _unknown_key(model)
    message = config_error(_config_with(where, {key: True}))
    assert message.splitlines() == [
        "invalid configuration in configuration:",
        f"  {_dotted((*where, key))}: unknown key",
    ]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"servers": [server(port=70000)]}, "servers.0.port"),
        ({"servers": [server(port=-1)]}, "servers.0.port"),
        ({"servers": [server(port="http")]}, "servers.0.port"),
        ({"servers": [server(host="")]}, "servers.0.host"),
        ({"servers": [{"port": 119}]}, "servers.0.host"),
        ({"servers": [server(max_connections=0)]}, "servers.0.max_connections"),
        ({"servers": [server(role="download")]}, "servers.0.role"),
        ({"servers": [server(timeouts={"connect": 0})]}, "servers.0.timeouts.connect"),
        ({"posting": {"article_size": 1023}}, "posting.article_size"),
        ({"posting": {"article_size": 17 * 1024 * 1024}}, "posting.article_size"),
        ({"posting": {"line_length": 80}}, "posting.line_length"),
        ({"posting": {"groups": []}}, "posting.groups"),
        ({"posting": {"groups": ["alt.binaries.test", "alt bin"]}}, "posting.groups"),
        ({"posting": {"groups": ["a.b,c.d"]}}, "posting.groups"),
        ({"posting": {"groups": [""]}}, "posting.groups"),
        ({"posting": {"subject": "{nope}"}}, "posting.subject"),
        ({"posting": {"subject": "{0}"}}, "posting.subject"),
        ({"posting": {"subject": "unbalanced {"}}, "posting.subject"),
        ({"posting": {"subject": "a\r\nb"}}, "posting.subject"),
        ({"posting": {"poster": "no address"}}, "posting.poster"),
        ({"posting": {"poster": "a <a@b>\nX-Evil: 1"}}, "posting.poster"),
        ({"posting": {"message_id_domain": "a@b"}}, "posting.message_id_domain"),
        ({"posting": {"message_id_domain": ""}}, "posting.message_id_domain"),
        ({"posting": {"obfuscation": "partial"}}, "posting.obfuscation"),
        ({"limits": {"buffer_bytes": 1024}}, "limits.buffer_bytes"),
        ({"limits": {"encode_threads": 0}}, "limits.encode_threads"),
    ],
)
def test_bad_value_is_rejected_with_its_path(data: dict[str, Any], path: str) -> None:
    message = config_error(data)
    assert message.startswith("invalid configuration in configuration:")
    assert any(line.startswith(f"  {path}: ") for line in message.splitlines()), message


def test_bad_subject_field_names_the_field_and_the_allowed_ones() -> None:
    message = config_error({"posting": {"subject": "{nope} {name}"}})
    assert "nope" in message
    assert "index count name part parts size" in message


@pytest.mark.parametrize(
    "subject",
    [
        "{index[0]}",  # TypeError inside str.format
        "{name.nope}",  # AttributeError inside str.format
    ],
)
def test_every_bad_subject_template_is_a_config_error(subject: str) -> None:
    # A bad --subject must be reported as a ConfigError, not crash with a traceback.
    message = config_error({"posting": {"subject": subject}})
    assert "posting.subject" in message


@pytest.mark.parametrize(
    "subject", ["{name}", "{index}/{count} {name} ({part}/{parts}) {size}", "{size:,} {{x}}"]
)
def test_good_subject_templates_are_accepted(subject: str) -> None:
    assert parse_config({"posting": {"subject": subject}}).posting.subject == subject


def test_ssl_and_starttls_together_are_rejected() -> None:
    message = config_error({"servers": [server(ssl=True, starttls=True)]})
    assert "servers.0: " in message
    assert "starttls" in message


def test_password_without_username_is_rejected() -> None:
    message = config_error({"servers": [server(password=SECRET)]})
    assert "servers.0: " in message
    assert "username" in message
    assert SECRET not in message


def test_password_env_without_username_is_rejected() -> None:
    message = config_error({"servers": [server(password_env="POSTIE_PW")]})
    assert "servers.0: " in message
    assert "username" in message


def test_password_and_password_env_together_are_rejected() -> None:
    data = {"servers": [server(username="u", password=SECRET, password_env="POSTIE_PW")]}
    message = config_error(data)
    assert "password_env" in message
    assert SECRET not in message


def test_every_error_is_listed() -> None:
    message = config_error({"servers": [server(port=70000)], "posting": {"article_size": 1}})
    assert "servers.0.port" in message
    assert "posting.article_size" in message


# --- secrets --------------------------------------------------------------------------------


def test_password_never_shows_in_repr_str_or_dumps() -> None:
    config = parse_config({"servers": [server(username="u", password=SECRET)]})
    assert config.servers[0].secret() == SECRET
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert SECRET not in repr(config.servers[0])
    assert SECRET not in str(dump(config))
    with pytest.raises(TypeError):  # a dump keeps it wrapped: never written out by mistake
        msgspec.json.encode(dump(config))
    # the NNTP layer's record of a server hides it as well, given as a string or a callable
    for settings in (config.servers[0].settings(), ServerSettings("h", password=SECRET)):
        assert settings.secret() == SECRET
        assert SECRET not in repr(settings)
        assert SECRET not in str(settings)
        assert "password" not in repr(settings)
        assert "host=" in repr(settings)


@pytest.mark.parametrize(
    "bad",
    [
        {"port": 70000},
        {"hots": "x"},
        {"max_connections": 0},
        {"ssl": True, "starttls": True},
        {"password_env": "X"},  # password and password_env together
    ],
)
def test_password_never_shows_in_validation_errors(bad: dict[str, Any]) -> None:
    message = config_error({"servers": [server(username="u", password=SECRET, **bad)]})
    assert "servers.0" in message
    assert SECRET not in message


def test_password_of_the_wrong_type_does_not_show_in_the_error() -> None:
    message = config_error({"servers": [server(username="u", password=987654321)]})
    assert "servers.0.password" in message
    assert "987654321" not in message


def test_password_never_shows_in_a_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "postie.yaml"
    path.write_text(
        f"servers:\n  - host: news.example.com\n    username: u\n    password: {SECRET}: x\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "line 4" in str(info.value)
    assert SECRET not in str(info.value)


def test_password_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTIE_TEST_PW", SECRET)
    config = parse_config({"servers": [server(username="u", password_env="POSTIE_TEST_PW")]})
    assert config.servers[0].secret() == SECRET
    assert SECRET not in repr(config)
    monkeypatch.setenv("POSTIE_TEST_PW", "changed")
    assert config.servers[0].secret() == "changed"  # read when needed, not at load time


def test_password_env_missing_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTIE_TEST_MISSING", raising=False)
    data = {"servers": [server(name="main", username="u", password_env="POSTIE_TEST_MISSING")]}
    config = parse_config(data)
    with pytest.raises(ConfigError, match="POSTIE_TEST_MISSING") as info:
        config.servers[0].secret()
    assert "main" in str(info.value)


# --- what the NNTP layer gets ---------------------------------------------------------------


def test_settings_carry_what_the_nntp_layer_uses() -> None:
    s = validate(
        ServerConfig,
        server(
            name="main",
            ssl=True,
            verify_cert=False,
            username="u",
            password=SECRET,
            max_connections=20,
            timeouts={"connect": 1.5, "reply": 2.5, "post": 3.5},
            idle_timeout=4.5,
            connect_retries=7,
            mode_reader="never",
            pipelining=False,
        ),
    ).settings()
    assert s == ServerSettings(
        host="news.example.com",
        port=563,
        ssl=True,
        starttls=False,
        verify_cert=False,
        username="u",
        password=s.password,
        connect_timeout=1.5,
        reply_timeout=2.5,
        post_timeout=3.5,
        idle_timeout=4.5,
        connect_retries=7,
        mode_reader=nntp_settings.ModeReader.NEVER,
        pipelining=False,
        max_connections=20,
        label="main",
    )
    assert s.secret() == SECRET
    assert SECRET not in repr(s)


def test_settings_of_defaults() -> None:
    """Defaults, and STARTTLS handed on (dropping it would send the login in clear)."""
    s = validate(ServerConfig, server(starttls=True)).settings()
    assert (s.starttls, s.ssl, s.verify_cert) == (True, False, True)
    assert (s.port, s.label, s.username, s.password, s.secret()) == (
        119,
        "news.example.com:119",
        None,
        None,
        None,
    )
    assert s.mode_reader is nntp_settings.ModeReader.AUTO


def test_settings_read_password_env_when_asked_and_never_show_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POSTIE_TEST_PW", raising=False)
    data = server(name="main", username="u", password_env="POSTIE_TEST_PW")
    s = parse_config({"servers": [data]}).servers[0].settings()  # no variable yet: fine
    monkeypatch.setenv("POSTIE_TEST_PW", SECRET)
    assert s.secret() == SECRET
    assert SECRET not in repr(s)
    assert SECRET not in str(s)
    monkeypatch.setenv("POSTIE_TEST_PW", "changed")
    assert s.secret() == "changed"
    monkeypatch.delenv("POSTIE_TEST_PW")
    with pytest.raises(
        ConfigError, match="server main: environment variable POSTIE_TEST_PW is not set"
    ):
        s.secret()


def test_mode_reader_lives_in_the_nntp_layer() -> None:
    import postie.config

    assert postie.config.ModeReader is nntp_settings.ModeReader
    assert validate(ServerConfig, server(mode_reader="always")).mode_reader is (
        nntp_settings.ModeReader.ALWAYS
    )


# --- load_config ---------------------------------------------------------------------------


def test_load_config_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "postie.yaml"
    path.write_text(
        "servers:\n"
        "  - host: news.example.com\n"
        "    ssl: true\n"
        "    username: me\n"
        f"    password: {SECRET}\n"
        "    role: upload\n"
        "posting:\n"
        "  groups: [alt.binaries.test, alt.binaries.misc]\n"
        "  article_size: 500000\n"
        "  obfuscation: full\n"
        "nzb:\n"
        "  output: out/x.nzb\n"
        "  meta: {title: Holiday}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    s = config.servers[0]
    assert (s.host, s.ssl, s.username, s.role) == ("news.example.com", True, "me", Role.UPLOAD)
    assert s.secret() == SECRET
    assert config.posting.groups == ("alt.binaries.test", "alt.binaries.misc")
    assert config.posting.article_size == 500_000
    assert config.posting.obfuscation is Obfuscation.FULL
    assert config.nzb.output == Path("out/x.nzb")
    assert config.nzb.meta.title == "Holiday"


def test_load_config_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert load_config(path) == Config()


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_load_config_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("posting: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_load_config_invalid_yaml_names_line_column_and_problem(tmp_path: Path) -> None:
    """A YAML syntax error names where (1-based line and column) and what, nothing more."""
    path = tmp_path / "bad.yaml"
    path.write_text("posting:\n  groups: [a\n  poster: x: y\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path} is not valid YAML at line 3, column 9: expected ',' or ']', but got ':'"
    )


def test_load_config_yaml_error_without_a_place(tmp_path: Path) -> None:
    """A character YAML cannot read at all (no mark, no problem text) is a syntax error."""
    path = tmp_path / "bad.yaml"
    path.write_text("posting:\n  poster: a\x01b\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path} is not valid YAML: syntax error"


def test_parse_config_names_the_configuration_by_default() -> None:
    """Without a source, errors say "configuration"."""
    with pytest.raises(ConfigError) as info:
        parse_config({"bogus": 1})
    assert str(info.value).splitlines()[0] == "invalid configuration in configuration:"


def test_http_api_key_from_the_file_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The status endpoint's key: api_key as given, else the variable api_key_env names
    (None while it is unset), else none."""
    assert parse_config({}).daemon.http.key() is None
    given = parse_config({"daemon": {"http": {"api_key": SECRET}}})
    assert given.daemon.http.key() == SECRET
    from_env = parse_config({"daemon": {"http": {"api_key_env": "POSTIE_TEST_KEY"}}})
    monkeypatch.delenv("POSTIE_TEST_KEY", raising=False)
    assert from_env.daemon.http.key() is None
    monkeypatch.setenv("POSTIE_TEST_KEY", "k3y")
    assert from_env.daemon.http.key() == "k3y"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_load_config_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"posting:\n  poster: caf\xe9 <a@b>\n")
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_load_config_validation_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "postie.yaml"
    path.write_text("servers:\n  - host: h\n    hots: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"invalid configuration in {path}:")
    assert "servers.0.hots: unknown key" in message


# --- merge ---------------------------------------------------------------------------------


def test_merge_overrides_dotted_keys() -> None:
    base = parse_config({"servers": [server()], "posting": {"groups": ["alt.binaries.a"]}})
    merged = merge(
        base,
        {
            "posting.article_size": 400_000,
            "posting.groups": ["alt.binaries.b", "alt.binaries.c"],
            "posting.obfuscation": "full",
            "nzb.meta.title": "T",
            "nzb.per_file": True,
        },
    )
    assert merged.posting.article_size == 400_000
    assert merged.posting.groups == ("alt.binaries.b", "alt.binaries.c")
    assert merged.posting.obfuscation is Obfuscation.FULL
    assert merged.nzb.meta.title == "T"
    assert merged.nzb.per_file is True
    # Untouched values are kept, and the original is unchanged.
    assert merged.servers == base.servers
    assert merged.posting.poster == base.posting.poster
    assert base.posting.article_size == DEFAULT_ARTICLE_SIZE
    assert base.posting.groups == ("alt.binaries.a",)
    assert base.nzb.meta.title is None


def test_merge_replaces_the_server_list() -> None:
    base = parse_config({"servers": [server(), server(host="other")]})
    merged = merge(base, {"servers": [{"host": "flag.example.com", "port": 8119}]})
    assert [(s.host, s.port) for s in merged.servers] == [("flag.example.com", 8119)]


def test_merge_keeps_passwords() -> None:
    base = parse_config({"servers": [server(username="u", password=SECRET)]})
    merged = merge(base, {"posting.article_size": 300_000})
    assert merged.servers[0].secret() == SECRET
    # Also when the servers come back as dumped models (as the CLI does).
    fields = dump(base.servers[0])
    fields["port"] = 8119
    merged = merge(base, {"servers": [fields]})
    assert merged.servers[0].secret() == SECRET
    assert merged.servers[0].port == 8119


def test_merge_revalidates() -> None:
    base = parse_config({})
    with pytest.raises(ConfigError) as info:
        merge(base, {"posting.article_size": 10})
    message = str(info.value)
    assert message.startswith("invalid configuration in command line:")
    assert "posting.article_size" in message


def test_merge_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"posting\.bogus: unknown key"):
        merge(parse_config({}), {"posting.bogus": 1})


def test_merge_revalidates_cross_field_rules() -> None:
    base = parse_config({"servers": [server(ssl=True)]})
    fields = dump(base.servers[0])
    fields["starttls"] = True
    with pytest.raises(ConfigError, match=r"servers\.0"):
        merge(base, {"servers": [fields]})


# --- derived values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "port"),
    [
        ({}, 119),
        ({"ssl": True}, 563),
        ({"starttls": True}, 119),
        ({"port": 8119}, 8119),
        ({"port": 443, "ssl": True}, 443),
    ],
)
def test_effective_port(fields: dict[str, Any], port: int) -> None:
    s = validate(ServerConfig, server(**fields))
    assert s.effective_port == port
    assert s.label == f"news.example.com:{port}"


def test_label_prefers_the_name() -> None:
    assert validate(ServerConfig, server(name="main")).label == "main"


def test_check_postable_needs_a_server() -> None:
    with pytest.raises(ConfigError, match="no server configured"):
        parse_config({}).check_postable()


def test_check_postable_needs_an_upload_server() -> None:
    config = parse_config({"servers": [server(role="verify")]})
    assert config.upload_servers == ()
    with pytest.raises(ConfigError, match="no server with role upload or both"):
        config.check_postable()


def test_upload_servers_and_check_postable() -> None:
    config = parse_config(
        {
            "servers": [
                server(name="v", role="verify"),
                server(name="u", role="upload"),
                server(name="b", role="both"),
            ]
        }
    )
    assert [s.name for s in config.upload_servers] == ["u", "b"]
    config.check_postable()  # does not raise


def test_overlapping_watch_roots_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"daemon\.watch: .*watch roots overlap: /a and /a/b"):
        parse_config({"daemon": {"watch": [{"path": "/a"}, {"path": "/a/b"}]}})
    parse_config({"daemon": {"watch": [{"path": "/a"}, {"path": "/ab"}]}})


def test_a_daemon_instance_name_is_a_label_without_spaces() -> None:
    assert parse_config({"daemon": {"instance": "nas-1.home"}}).daemon.instance == "nas-1.home"
    assert parse_config({}).daemon.instance is None  # postie daemon: <short host>-<pid>
    said = config_error({"daemon": {"instance": "nas 1"}})
    assert "daemon.instance: 'nas 1' is not an instance name: 1 to 64 letters" in said
    assert "daemon.defer_for" in config_error({"daemon": {"defer_for": 0}})


def test_store_url_takes_a_postgresql_or_sqlite_url() -> None:
    url = "postgresql://postie@db.example:5432/postie"
    assert parse_config({"store": {"url": url}}).store.url == url
    assert parse_config({"store": {"url": "sqlite:///var/lib/p.db"}}).store.url is not None


@pytest.mark.parametrize(
    ("store", "said"),
    [
        ({"url": "mysql://u:s3cret@h/db"}, "store.url: a URL: postgresql://"),
        ({"url": "postgresql://h/db", "path": "/x.db"}, "store.url and store.path both"),
    ],
    ids=["unknown-scheme", "url-and-path"],
)
def test_a_bad_store_url_is_named_and_its_password_never_shown(
    store: dict[str, Any], said: str
) -> None:
    with pytest.raises(ConfigError, match=said) as caught:
        parse_config({"store": store})
    assert "s3cret" not in str(caught.value)


def test_a_store_on_a_server_keeps_manifests_and_par2_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from postie.par2.make import par2_workdir
    from postie.transfers.prepared import manifest_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    config = parse_config({})
    assert manifest_dir(config, None) == tmp_path / "postie" / "manifests"
    assert par2_workdir(config.par2, None) == tmp_path / "postie" / "par2"
    assert manifest_dir(config, tmp_path / "db" / "p.db") == tmp_path / "db" / "manifests"
