"""Cross-cutting observability helpers with no dependency on the rest of the read model:
W3C trace context, JSON log lines and who may read ``/metrics``, used by the projector and
the API alike."""
