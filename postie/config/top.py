"""The whole configuration: one key per section.

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

from postie.config.durable import FinalizeConfig, StoreConfig, VerifyConfig
from postie.config.posting import (
    FilesConfig,
    LimitsConfig,
    NzbConfig,
    Par2Config,
    PostingConfig,
)
from postie.config.section import Section
from postie.config.servers import Role, ServerConfig
from postie.config.watching import DaemonConfig
from postie.errors import ConfigError


class Config(Section, frozen=True):
    servers: tuple[ServerConfig, ...] = ()
    posting: PostingConfig = PostingConfig()
    nzb: NzbConfig = NzbConfig()
    files: FilesConfig = FilesConfig()
    limits: LimitsConfig = LimitsConfig()
    store: StoreConfig = StoreConfig()
    verify: VerifyConfig = VerifyConfig()
    finalize: FinalizeConfig = FinalizeConfig()
    par2: Par2Config = Par2Config()
    daemon: DaemonConfig = DaemonConfig()

    @property
    def verify_servers(self) -> tuple[ServerConfig, ...]:
        return tuple(s for s in self.servers if s.role is Role.VERIFY)

    @property
    def upload_servers(self) -> tuple[ServerConfig, ...]:
        return tuple(s for s in self.servers if s.uploads)

    def check_postable(self) -> None:
        """Raise ConfigError unless the config can post."""
        if not self.servers:
            raise ConfigError("no server configured: give --host or a config file with servers")
        if not self.upload_servers:
            raise ConfigError("no server with role upload or both")
