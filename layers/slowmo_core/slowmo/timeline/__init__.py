"""The timeline: when every output frame is, in pure arithmetic (no pixels, no I/O)."""
