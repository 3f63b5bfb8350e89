"""Speech generation: text (and a voice prompt) to speech, for TTS and translation.

`cosyvoice2`: the components of a CosyVoice 2-compatible generator that load the official
files; built so far: the speech-token LM (`SpeechLM`) and batched generation (`generate`).
"""
