"""Configuration: YAML in, a validated frozen model out.

Every key is documented in ``config.example.yaml``. Unknown keys and bad values
are rejected with the key path and the reason. Passwords are ``SecretStr``: they
never show in ``repr``, logs or errors; ``password_env`` reads one from the
environment instead of the file.

The sections are ``msgspec.Struct``s (see ``section``). Code elsewhere reads plain data
into a section with ``validate``, writes one out with ``dump`` and changes one with
``replace`` (``loading``).

The models live beside this module, grouped by what they configure: ``servers``,
``posting`` (articles, NZB, files, limits, PAR2), ``transfers`` (store, verification,
finalize), ``daemon`` (watch roots, HTTP); ``top`` holds the whole ``Config`` and
``loading`` reads it. Every public name is here.

No ``from __future__ import annotations`` in the model modules: msgspec would have to
evaluate every field's annotation from its text when it first reads a config; written
as objects, they are ready for it.
"""

from postie.config.durable import FinalizeConfig, HookConfig, StoreConfig, VerifyConfig
from postie.config.loading import dump, load_config, merge, parse_config, replace, validate
from postie.config.posting import (
    DEFAULT_ARTICLE_SIZE,
    DEFAULT_REDUNDANCY,
    DEFAULT_SUBJECT,
    FilesConfig,
    LimitsConfig,
    NzbConfig,
    NzbMeta,
    Obfuscation,
    Par2Config,
    PostingConfig,
)
from postie.config.section import Invalid, SecretStr
from postie.config.servers import Role, ServerConfig, Timeouts
from postie.config.top import Config
from postie.config.watching import DaemonConfig, HttpConfig, WatchRoot
from postie.nntp.settings import ModeReader as ModeReader  # its home is the NNTP layer

__all__ = [
    "DEFAULT_ARTICLE_SIZE",
    "DEFAULT_REDUNDANCY",
    "DEFAULT_SUBJECT",
    "Config",
    "DaemonConfig",
    "FilesConfig",
    "FinalizeConfig",
    "HookConfig",
    "HttpConfig",
    "Invalid",
    "LimitsConfig",
    "ModeReader",
    "NzbConfig",
    "NzbMeta",
    "Obfuscation",
    "Par2Config",
    "PostingConfig",
    "Role",
    "SecretStr",
    "ServerConfig",
    "StoreConfig",
    "Timeouts",
    "VerifyConfig",
    "WatchRoot",
    "dump",
    "load_config",
    "merge",
    "parse_config",
    "replace",
    "validate",
]
