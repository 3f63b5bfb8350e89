"""The CosyVoice 2 text front end against the official tokenizer and front-end code, on tiny
Qwen2-style tokenizers trained here."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import pickle
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from audiotok.errors import AudiotokError, BackendUnavailableError
from models.tts.cosyvoice2.lm_config import SpeechLMConfig
from models.tts.cosyvoice2.lm_config import debug as debug_lm
from models.tts.cosyvoice2.text import (
    COSYVOICE_SPECIAL_TOKENS,
    DEBUG_CORPUS,
    PRESETS,
    TextError,
    TextFrontend,
    TextFrontendConfig,
    debug,
    write_debug_tokenizer,
    write_qwen2_tokenizer_config,
)
from models.tts.generator import SynthesisError
from tests.models.cosyvoice_reference import reference_module
from tests.stand_ins import stand_ins, whisper_modules

# A corpus unlike the debug one, so that the parity does not rest on one vocabulary.
OTHER_CORPUS = [
    "Pack my box with five dozen liquor jugs. How vexingly quick daft zebras jump!",
    "A wizard's job is to vex chumps quickly in fog; the five boxing wizards jump quickly.",
    "Sphinx of black quartz, judge my vow: we'll see, they're here, I've won, you'd go.",
]

TEXTS = [
    "Hello world.",
    "The lighthouse keeper's granddaughter [laughter] wrote in the log.",
    "You are a helpful assistant.<|endofprompt|>Say it slowly, please.",
    "<strong>Stop</strong> [breath] now [quick_breath]!",
    "Numbers 12345 and 3.14, mixed\nlines\n\nand  double   spaces\t tab",
    "Café naïve résumé — “quoted” ‘text’ 😀 e\u0301",
    "中文混合English文本。",
    "<|im_start|>user<|im_end|> <|endoftext|>",
    "[vocalized-noise][lipsmack][mn][sigh][hissing]<laughter>ha</laughter>[cough][clucking]"
    "[accent][noise]",
]

LONG = " ".join(DEBUG_CORPUS.split())
PARAGRAPHS = [
    "Hello world",
    "Wait... what? No!! Really?!",
    'She said, "The lamp is clean." Then she left. "Is it?" he asked.',
    "He wrote “the end.” and stopped. Then?",
    LONG,
    LONG + " Ok.",
    LONG[:700] + " Short tail here, then the end",
    "First line.\nSecond line: with a colon; and a semicolon. Last",
    "  12 apples cost 3 dollars; 7 pears cost 45.  ",
    "Hi. . . . ok",
    "?!Starts with marks. Then words.",
    "Thank you [laughter]. <|endofprompt|> Right.",
    "Hello. ... World",
    "你好，世界。今天天气很好！我们去公园吧",
    "我有2个苹果 and 3 bananas. 好的",
    "（注意）【重要】这是`代码`——测试 - 结束，，",
    "面积是5m²，体积是3m³、",
    "中文\n换行 测试 some text here。“引号。”然后",
    "灯塔站在悬崖的边缘，每天晚上它的灯慢慢地转过水面。经过的水手都知道这盏灯的节奏：三次短闪，"
    "然后一次长闪。当看守人老得爬不动楼梯的时候，他的孙女接过了这份工作。她每天晚上都写日志。"
    "风从西边来，很大；看见两艘船；灯很干净。安静的夜晚她读关于星星、潮汐和天气的书。好。",
]


class _AsIs:
    """The official front end's external normalisers, absent: text passes through."""

    def normalize(self, text: str) -> str:
        return text

    def number_to_words(self, digits: str) -> str:
        return digits


def _specless(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def _reference_modules() -> tuple[Any, Any, Any]:
    """(tokenizer, front end, front-end utils) modules of the official code."""
    inflect = _specless("inflect", engine=_AsIs)  # not installed; only its name is used
    with stand_ins({**whisper_modules(), "inflect": inflect}):
        return (
            reference_module("tokenizer.tokenizer"),
            reference_module("cli.frontend"),
            reference_module("utils.frontend_utils"),
        )


def _reference_frontend(folder: Path) -> Any:
    """The official ``CosyVoiceFrontEnd`` with only its text side: the Qwen tokenizer of
    ``folder`` and no ttsfrd / WeTextProcessing / inflect (as when they are not installed)."""
    tokenizer, frontend, _ = _reference_modules()
    front = object.__new__(frontend.CosyVoiceFrontEnd)
    front.tokenizer = tokenizer.QwenTokenizer(str(folder), skip_special_tokens=True)
    front.allowed_special = "all"
    front.use_ttsfrd = False
    front.zh_tn_model = front.en_tn_model = front.inflect_parser = _AsIs()
    return front


def _qwen2_dir(folder: Path, corpus: list[str], size: int, full_alphabet: bool = True) -> Path:
    """A Qwen2-style tokenizer directory in the official layout: byte-level BPE trained on
    ``corpus`` (every byte a token when ``full_alphabet``)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    from models.tts.cosyvoice2.text import _QWEN2_SPLIT

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet() if full_alphabet else []
    trainer = BpeTrainer(vocab_size=size, initial_alphabet=alphabet, show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.model.save(str(folder))
    write_qwen2_tokenizer_config(folder, len(tokenizer.get_vocab()))
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tokenizer directories: the debug one, another corpus in the official layout, and that
    one re-saved by transformers (``tokenizer.json`` layout)."""
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("tokenizers")
    other = _qwen2_dir(root / "other", OTHER_CORPUS, size=400)
    resaved = root / "resaved"
    AutoTokenizer.from_pretrained(str(other)).save_pretrained(str(resaved))
    return {"debug": write_debug_tokenizer(root / "debug"), "other": other, "resaved": resaved}


@pytest.fixture(scope="module")
def pair(folders: dict[str, Path]) -> tuple[Any, TextFrontend]:
    """(reference front end, ours) on the debug tokenizer."""
    return _reference_frontend(folders["debug"]), TextFrontend.from_dir(folders["debug"])


@pytest.mark.parametrize("name", ["debug", "other", "resaved"])
def test_ids_match_reference(folders: dict[str, Path], name: str) -> None:
    reference = _reference_frontend(folders[name]).tokenizer
    ours = TextFrontend.from_dir(folders[name])
    assert ours.vocab_size == len(reference.tokenizer)
    for token, token_id in ours.special_token_ids.items():
        assert token_id == reference.tokenizer.convert_tokens_to_ids(token), token
    for text in TEXTS:
        ids = reference.encode(text)
        assert ours.encode(text) == ids, text
        assert ours.decode(ids) == reference.decode(ids), text


def test_special_tokens_are_single_ids(pair: tuple[Any, TextFrontend]) -> None:
    _, ours = pair
    special = ours.special_token_ids
    assert list(special)[: len(COSYVOICE_SPECIAL_TOKENS)] == list(COSYVOICE_SPECIAL_TOKENS)
    for token, token_id in special.items():
        assert ours.encode(token) == [token_id]
    # appended after the BPE tokens and Qwen2's three specials, in the listed order
    added = [special[t] for t in COSYVOICE_SPECIAL_TOKENS[2:]]
    assert added == list(range(ours.vocab_size - len(added), ours.vocab_size))
    assert ours.decode(ours.encode("a [laughter] b<|endofprompt|>")) == "a  b"
    text = "a [laughter] b<|endofprompt|>"
    assert ours.decode(ours.encode(text), skip_special_tokens=False) == text


@pytest.mark.parametrize("paragraph", PARAGRAPHS, ids=range(len(PARAGRAPHS)))
def test_split_matches_reference(pair: tuple[Any, TextFrontend], paragraph: str) -> None:
    reference, ours = pair
    assert ours.split(paragraph) == reference.text_normalize(paragraph, split=True)
    assert ours.normalize(paragraph) == reference.text_normalize(paragraph, split=False)


def test_long_text_is_split_at_sentence_boundaries(pair: tuple[Any, TextFrontend]) -> None:
    _, ours = pair
    text = " ".join([LONG] * 3)
    pieces = ours.split(text)
    assert len(pieces) > 10
    assert "".join(pieces) == text  # no mark runs in it: nothing dropped
    marks = ours.config.sentence_marks
    assert all(piece.rstrip('"')[-1] in marks for piece in pieces)
    lengths = [len(ours.encode(piece)) for piece in pieces]
    assert max(lengths) <= ours.config.piece_token_limit


def test_over_long_sentence_is_cut_at_commas_then_words(pair: tuple[Any, TextFrontend]) -> None:
    _, ours = pair
    limit = ours.config.piece_token_limit
    clauses = ", ".join(["the keeper climbed the stairs"] * 40)
    words = " ".join(["lighthouse"] * 400)
    for sentence, cut in ((clauses, ","), (words, " ")):
        assert len(ours.encode(sentence)) > limit
        pieces = ours.split(sentence)
        assert len(pieces) > 1
        assert "".join(pieces) == sentence + "."
        assert all(len(ours.encode(p)) <= limit for p in pieces)
        assert all(p.rstrip().endswith(cut) or cut == " " for p in pieces[:-1])


def test_errors(pair: tuple[Any, TextFrontend]) -> None:
    _, ours = pair
    cases = [
        (ours.split, "", "empty_text"),
        (ours.split, "  \n\t ", "empty_text"),
        (ours.encode, "   ", "empty_text"),
        (ours.split, "... !? ;", "empty_text"),  # only punctuation: nothing to speak
        (ours.split, "q" * 500 + " and more.", "text_too_long"),
        (ours.split, "灯" * 300, "text_too_long"),
    ]
    for call, text, reason in cases:
        with pytest.raises(TextError) as caught:
            call(text)
        error = caught.value
        assert error.reason == reason and error.text == text
        assert isinstance(error, SynthesisError) and isinstance(error, AudiotokError)
        assert repr(text[:20]).rstrip("'") in str(error)
        again = pickle.loads(pickle.dumps(error))
        assert (again.reason, again.text, str(again)) == (reason, text, str(error))


def test_pieces_without_words_are_dropped(pair: tuple[Any, TextFrontend]) -> None:
    """The one place we part from the official splitter: it keeps a piece of punctuation with
    spaces in it (and the LM is asked to speak it)."""
    reference, ours = pair
    assert reference.text_normalize("... !? ;", split=True) == [" ! ;"]
    with pytest.raises(TextError, match="only punctuation"):
        ours.split("... !? ;")
    long = LONG[:700]
    assert reference.text_normalize(long + " ? !", split=True) == ours.split(long + " ? !")


def test_quote_after_a_leading_mark(pair: tuple[Any, TextFrontend]) -> None:
    """The official splitter fails here (it moves the quote onto a piece that does not exist);
    ours starts the first piece with it."""
    reference, ours = pair
    with pytest.raises(IndexError):
        reference.text_normalize('."Hi there." ok', split=True)
    assert ours.split('."Hi there." ok') == ['"Hi there." ok.']


def test_unencodable_text_names_the_characters(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # bytes never seen in training have no token: the byte-level BPE drops them
    ascii_only = [" ".join(OTHER_CORPUS)]
    lossy = TextFrontend.from_dir(_qwen2_dir(tmp_path / "lossy", ascii_only, 200, False))
    with pytest.raises(TextError, match="unencodable_text") as caught:
        lossy.encode("a naïve wizard, ☃")
    assert "'ï' (U+00EF)" in str(caught.value) and "'☃' (U+2603)" in str(caught.value)
    assert "'a'" not in str(caught.value) and "'w'" not in str(caught.value)
    # a tokenizer with an unknown token
    words = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    unknown = TextFrontend(PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]"))
    assert unknown.encode("hello world") == [1, 2]
    with pytest.raises(TextError, match=r"'☃' \(U\+2603\) map to the unknown token"):
        unknown.encode("hello ☃ world")


def test_end_of_text_is_not_unknown_when_it_is_the_unknown_token(tmp_path: Path) -> None:
    """Qwen2's tokenizer class makes its end of text the unknown token when the config does
    not say; the text may still hold that token on purpose."""
    folder = write_debug_tokenizer(tmp_path)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["unk_token"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    ours = TextFrontend.from_dir(folder)
    assert ours.tokenizer.unk_token == "<|endoftext|>"
    assert ours.encode("Hello<|endoftext|>")[-1] == ours.special_token_ids["<|endoftext|>"]


def test_spelled_numbers_match_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    class Words:
        def number_to_words(self, digits: str) -> str:
            return f"<{int(digits)}>"

    _, _, utils = _reference_modules()
    monkeypatch.setitem(sys.modules, "inflect", _specless("inflect", engine=Words))
    ours = debug(config=TextFrontendConfig(spell_out_numbers=True))
    for text in ("I have 12 cats and 3 dogs", "0042 is 7", "x1y22z333", "no digits"):
        assert ours.normalize(text) == utils.spell_out_number(text, Words())
    assert ours.normalize("中文12") == "中文12"  # Chinese text keeps its digits


def test_spelled_numbers_need_inflect() -> None:
    if importlib.util.find_spec("inflect") is not None:
        pytest.skip("inflect is installed")
    with pytest.raises(BackendUnavailableError, match="inflect"):
        debug(config=TextFrontendConfig(spell_out_numbers=True))


def test_debug_tokenizer_is_deterministic_and_fast(tmp_path: Path) -> None:
    debug()  # imports
    start = time.perf_counter()
    first = debug(tmp_path / "a")
    elapsed = time.perf_counter() - start
    second = debug(tmp_path / "b")
    assert elapsed < 2.0
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.vocab_size == second.vocab_size == 532
    assert first.vocab_size <= debug_lm().text_vocab  # the debug LM's embedding holds it
    assert first.encode(LONG) == second.encode(LONG)
    assert len(first.encode(LONG)) < len(LONG) / 2  # trained: words are a few tokens


def test_save_round_trip(pair: tuple[Any, TextFrontend], tmp_path: Path) -> None:
    _, ours = pair
    ours.save(tmp_path)
    again = TextFrontend.from_dir(tmp_path)
    assert again.vocab_size == ours.vocab_size
    assert again.special_token_ids == ours.special_token_ids
    for text in TEXTS:
        assert again.encode(text) == ours.encode(text)
    with pytest.raises(FileNotFoundError):
        TextFrontend.from_dir(tmp_path / "missing")


def test_config() -> None:
    config = PRESETS["cosyvoice2-0.5b"]()
    assert (config.max_piece_tokens, config.min_piece_tokens, config.merge_tokens) == (80, 60, 20)
    assert not config.comma_split and PRESETS["debug"]() == config
    changed = TextFrontendConfig(comma_split=True, piece_token_limit=300)
    assert TextFrontendConfig.from_dict(json.loads(json.dumps(changed.to_dict()))) == changed
    with pytest.raises(ValueError, match="unknown key"):
        TextFrontendConfig.from_dict({"max_tokens": 3})
    with pytest.raises(ValueError, match="min_piece_tokens"):
        TextFrontendConfig(min_piece_tokens=90)


def _tatoeba(shared: Path) -> dict[str, list[str]]:
    folder = shared / "text" / "tatoeba"
    if not folder.is_dir():
        pytest.skip(f"no Tatoeba sentences at {folder}")
    return {p.name: p.read_text(encoding="utf-8").splitlines() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_full_size_parity_on_tatoeba(tmp_path: Path) -> None:
    """A full vocabulary (byte-level BPE of 16k tokens on 12,000 sentences in 7 languages):
    ids and pieces of every sentence and of 20-sentence paragraphs equal the reference's (no
    piece limit: the reference has none; Hindi, Bengali and Urdu end sentences with marks it
    does not know, so their paragraphs are single sentences)."""
    from tests.conftest import shared_data_dir

    files = _tatoeba(shared_data_dir())
    sentences = [line for lines in files.values() for line in lines if line.strip()]
    folder = _qwen2_dir(tmp_path / "tatoeba", sentences, size=16000)
    reference = _reference_frontend(folder)
    unlimited = TextFrontendConfig(piece_token_limit=1_000_000)
    ours = TextFrontend.from_dir(folder, unlimited)
    assert ours.vocab_size == len(reference.tokenizer.tokenizer) > 8000
    for text in sentences:
        assert ours.encode(text) == reference.tokenizer.encode(text), text
    limited, paragraphs = TextFrontend.from_dir(folder), 0
    cut: dict[str, int] = {}
    for name, lines in files.items():
        for start in range(0, len(lines), 20):
            paragraph = " ".join(lines[start : start + 20])
            expected = reference.text_normalize(paragraph, split=True)
            assert ours.split(paragraph) == expected, paragraph[:80]
            paragraphs += 1
            if limited.split(paragraph) != expected:
                language = name.rsplit(".", 1)[-1]
                cut[language] = cut.get(language, 0) + 1
    print(f"{len(sentences)} sentences, {paragraphs} paragraphs; cut at the piece limit: {cut}")


@pytest.mark.slow
def test_official_tokenizer() -> None:
    """The official ``CosyVoice-BlankEN/`` (a CosyVoice2-0.5B download named by
    ``AUDIOTOK_COSYVOICE2_DIR``) against the reference."""
    import os

    root = os.environ.get("AUDIOTOK_COSYVOICE2_DIR")
    if not root or not (Path(root) / "CosyVoice-BlankEN").is_dir():
        pytest.skip("set AUDIOTOK_COSYVOICE2_DIR to a CosyVoice2-0.5B download")
    folder = Path(root) / "CosyVoice-BlankEN"
    reference, ours = _reference_frontend(folder), TextFrontend.from_dir(folder)
    assert ours.vocab_size == len(reference.tokenizer.tokenizer)
    assert ours.vocab_size <= SpeechLMConfig().text_vocab  # the LM's text embedding rows
    for text in TEXTS:
        assert ours.encode(text) == reference.tokenizer.encode(text), text
    for paragraph in PARAGRAPHS:
        assert ours.split(paragraph) == reference.text_normalize(paragraph, split=True)
