from __future__ import annotations

import pytest

from audiotok.errors import TokenizerSpecError, UnknownTokenizerError
from audiotok.tokenizers import get_tokenizer, known_specs, list_tokenizers
from audiotok.tokenizers.registry import parse_spec

EXPECTED_PRESETS = {
    "encodec-24khz@1.5kbps",
    "encodec-24khz@24kbps",
    "dac-16khz",
    "dac-24khz",
    "dac-44khz",
    "mimi@8",
    "xcodec2",
    "opus@6kbps",
    "opus@12kbps",
    "opus@24kbps",
    "mp3@32kbps",
    "aac@32kbps",
    "amrnb@12.2kbps",
    "g722",
    "mulaw",
    "codec2@3200",
    "codec2@1600",
    "codec2@700",
}


def test_known_specs_cover_the_documented_families() -> None:
    assert set(known_specs()) >= EXPECTED_PRESETS


def test_unknown_spec_lists_the_known_ones() -> None:
    with pytest.raises(UnknownTokenizerError) as info:
        get_tokenizer("wavtokenizer@40hz")
    message = str(info.value)
    assert "wavtokenizer@40hz" in message
    assert "opus@12kbps" in message and "encodec-24khz@6kbps" in message


def test_bad_option_of_a_known_family_names_the_spec() -> None:
    with pytest.raises(TokenizerSpecError, match="opus@7 parsecs"):
        get_tokenizer("opus@7 parsecs")


def test_parse_spec_splits_family_and_option() -> None:
    family, option = parse_spec("encodec-24khz@6kbps")
    assert (family.name, option) == ("encodec-24khz", "6kbps")
    family, option = parse_spec("g722")
    assert (family.name, option) == ("g722", None)


def test_list_tokenizers_reports_figures_and_availability() -> None:
    infos = {info.spec: info for info in list_tokenizers()}
    assert set(infos) >= EXPECTED_PRESETS
    encodec = infos["encodec-24khz@6kbps"]
    assert encodec.needs_weights and encodec.frame_rate == 75
    assert encodec.nominal_bitrate == pytest.approx(6000)
    assert encodec.default_weights == "facebook/encodec_24khz"
    mulaw = infos["mulaw"]
    assert not mulaw.needs_weights and mulaw.available and mulaw.default_weights is None
    assert mulaw.nominal_bitrate == pytest.approx(64000)
    for info in infos.values():
        # an unavailable entry always says why
        assert info.available or info.unavailable_reason
