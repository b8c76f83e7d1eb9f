"""Cross-cutting observability helpers with no dependency on the rest of the read model:
W3C trace context and JSON log lines, used by the projector and the API alike."""
