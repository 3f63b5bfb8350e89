"""`audiotok bench`: tokenizers and codecs on rate, distortion and speed."""
