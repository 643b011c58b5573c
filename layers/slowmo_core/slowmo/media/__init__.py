"""Media I/O: probing, decoding, encoding and muxing through ffmpeg; chunk files on disk."""
