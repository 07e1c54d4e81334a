"""The store's interface, one ``Protocol`` per side; ``postie.store.api`` joins them as
``Store``."""
