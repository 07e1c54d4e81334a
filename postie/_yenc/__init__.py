"""The native encoder's sources: ``pool.c`` (threads that read and yEnc-encode without the
GIL) and the vendored rapidyenc it calls (``rapidyenc/``, see ``README.md`` here). Built by
``setup.py`` into ``postie._yenc._pool`` when a compiler is at hand; ``postie.runtime.encoder``
falls back to sabctools without it."""
