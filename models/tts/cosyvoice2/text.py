"""`TextFrontend`: CosyVoice 2's text side, from a line of text to the LM's text token ids.

Three steps, as the official front end does them when no external text normaliser (ttsfrd,
WeTextProcessing / wetext) is installed:

1. Light normalisation (`TextFrontend.normalize`). Text with any CJK ideograph takes the Chinese
   path: newlines dropped, spaces kept only between two ASCII characters, ``²``/``³`` spelled
   out, ``.`` -> ``。``, `` - `` -> ``，``, full-width brackets and backquotes removed, a
   trailing run of commas made a full stop. Anything else is left as it is: digits stay digits
   (the official code spells them with ``inflect``, a package we do not depend on; turn it on
   with ``spell_out_numbers``).
2. Sentence pieces (`TextFrontend.split`): cut after each sentence mark (a closing quote stays
   with its sentence; a run of marks keeps only its first), then consecutive sentences grouped
   into pieces of about ``max_piece_tokens`` tokens (characters for Chinese); a short tail
   joins the piece before it; pieces of only punctuation and whitespace are dropped (the
   official code keeps those with whitespace, e.g. ``" ."``). The LM speaks one piece at a
   time. A piece longer than ``piece_token_limit`` (one very long sentence: the official code
   passes it on whole) is cut again at commas, then between words.
3. Token ids (`TextFrontend.encode`): the model's Qwen2 byte-level BPE tokenizer
   (``CosyVoice-BlankEN/``) with CosyVoice's special tokens added (``<|endofprompt|>``,
   ``[laughter]``, ``[breath]``, ...), which the text may contain verbatim.

`debug` builds a tiny real tokenizer (byte-level BPE trained on a fixed English text, in
milliseconds and offline) for tests and random-weight models.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from audiotok.errors import BackendUnavailableError
from models.tts.generator import SynthesisError

# CosyVoice's additions to the Qwen2 vocabulary, in the order that fixes their ids (the first
# two already exist in Qwen2's own vocabulary and keep their ids).
COSYVOICE_SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endofprompt|>",
    "[breath]",
    "<strong>",
    "</strong>",
    "[noise]",
    "[laughter]",
    "[cough]",
    "[clucking]",
    "[accent]",
    "[quick_breath]",
    "<laughter>",
    "</laughter>",
    "[hissing]",
    "[sigh]",
    "[vocalized-noise]",
    "[lipsmack]",
    "[mn]",
)
END_OF_TEXT = "<|endoftext|>"

_CJK_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")
_CHINESE_REPLACEMENTS = (("²", "平方"), ("³", "立方"), (".", "。"), (" - ", "，"))
_CHINESE_REMOVED = ("（", "）", "【", "】", "`")
_CHINESE_DASH = ("——", " ")
_TRAILING_COMMAS = re.compile(r"[，,、]+$")
_WORD = re.compile(r"\s*\S+\s*")
_PREVIEW_CHARS = 60


class TextError(SynthesisError):
    """Text that cannot become LM input; ``reason`` is one of `REASONS`.

    Attributes:
        text: the input (whole), for the caller's records.
    """

    REASONS = ("empty_text", "unencodable_text", "text_too_long")

    def __init__(self, reason: str, text: str, detail: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown TextError reason {reason!r}")
        preview = text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "..."
        super().__init__(reason, f"text {preview!r}: {detail}")
        self.text = text
        self.cause = detail

    def __reduce__(self) -> tuple[type[TextError], tuple[str, str, str]]:
        # batch runners pickle errors; the default would call cls(message)
        return type(self), (self.reason, self.text, self.cause)


@dataclass(frozen=True)
class TextFrontendConfig:
    """Every setting of the text front end (the official values as defaults).

    Attributes:
        special_tokens: added to the tokenizer as special tokens, in this order.
        eos_token, pad_token: the tokenizer's end/padding token (Qwen2's end of text).
        max_piece_tokens: a piece grows by whole sentences up to this length ...
        min_piece_tokens: ... unless it is still no longer than this (then it takes the next
            sentence whatever its length).
        merge_tokens: a last piece shorter than this joins the piece before it.
        comma_split: commas end sentences too.
        sentence_marks: what ends a sentence in non-Chinese text; ``terminal_mark`` is added
            when the text does not end with one.
        chinese_sentence_marks, chinese_terminal_mark: the same for Chinese text (whose
            lengths are counted in characters, not tokens).
        comma_marks: the marks ``comma_split`` adds (and where an over-long piece is cut first).
        closing_quotes: a quote right after a sentence mark belongs to that sentence.
        piece_token_limit: the longest piece the LM is given (same unit as the lengths above);
            a longer one is cut at commas, then between words; a single word longer than this
            is an error (``text_too_long``).
        spell_out_numbers: digits to English words with ``inflect`` (non-Chinese text), as the
            official front end does; needs the package.
    """

    special_tokens: tuple[str, ...] = COSYVOICE_SPECIAL_TOKENS
    eos_token: str = END_OF_TEXT
    pad_token: str = END_OF_TEXT
    max_piece_tokens: int = 80
    min_piece_tokens: int = 60
    merge_tokens: int = 20
    comma_split: bool = False
    sentence_marks: tuple[str, ...] = tuple(".?!;:")
    terminal_mark: str = "."
    chinese_sentence_marks: tuple[str, ...] = tuple("。？！；：、.?!;")
    chinese_terminal_mark: str = "。"
    comma_marks: tuple[str, ...] = tuple("，,")
    closing_quotes: tuple[str, ...] = ('"', "”")
    piece_token_limit: int = 200
    spell_out_numbers: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.min_piece_tokens <= self.max_piece_tokens <= self.piece_token_limit:
            raise ValueError(
                "text front end config: need 0 < min_piece_tokens <= max_piece_tokens <= "
                f"piece_token_limit, got {self.min_piece_tokens}, {self.max_piece_tokens}, "
                f"{self.piece_token_limit}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextFrontendConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"text front end config: unknown key(s) {', '.join(unknown)}")
        # JSON gives lists where the dataclass keeps tuples (hashable, frozen)
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)


def cosyvoice2_0_5b() -> TextFrontendConfig:
    """The official CosyVoice2-0.5B front end."""
    return TextFrontendConfig()


def debug_config() -> TextFrontendConfig:
    """The official settings: the debug model differs in its tokenizer (`debug`), not here."""
    return TextFrontendConfig()


PRESETS: dict[str, Callable[[], TextFrontendConfig]] = {
    "cosyvoice2-0.5b": cosyvoice2_0_5b,
    "debug": debug_config,
}


class TextFrontend:
    """Normalises, splits and tokenizes text for the CosyVoice 2 LM.

    Args:
        tokenizer: a transformers tokenizer (fast); CosyVoice's special tokens are added to it
            (in place) unless already there.
        config: the settings.
    """

    def __init__(self, tokenizer: Any, config: TextFrontendConfig | None = None) -> None:
        self.config = config or TextFrontendConfig()
        self.tokenizer = tokenizer
        tokenizer.add_special_tokens(
            {
                "eos_token": self.config.eos_token,
                "pad_token": self.config.pad_token,
                "additional_special_tokens": list(self.config.special_tokens),
            }
        )
        self._number_words: Callable[[str], str] | None = (
            _inflect_number_words() if self.config.spell_out_numbers else None
        )

    @classmethod
    def from_dir(cls, path: str | Path, config: TextFrontendConfig | None = None) -> TextFrontend:
        """From a tokenizer directory: the official ``CosyVoice-BlankEN/`` (``vocab.json``,
        ``merges.txt``, ``tokenizer_config.json``) or one written by `save`."""
        from transformers import AutoTokenizer

        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"text tokenizer directory {folder} does not exist")
        return cls(AutoTokenizer.from_pretrained(str(folder)), config)

    def save(self, path: str | Path) -> None:
        """Writes the tokenizer (special tokens included) for `from_dir`."""
        self.tokenizer.save_pretrained(str(path))

    @property
    def vocab_size(self) -> int:
        """Ids the tokenizer can give, added special tokens included (the LM's text embedding
        needs at least this many rows)."""
        return len(self.tokenizer)

    @property
    def special_token_ids(self) -> dict[str, int]:
        """Each of ``config.special_tokens`` and the end-of-text token, with its id."""
        names = (*self.config.special_tokens, self.config.eos_token)
        return {name: int(self.tokenizer.convert_tokens_to_ids(name)) for name in names}

    # -- tokens -----------------------------------------------------------------------------

    def token_ids(self, text: str) -> list[int]:
        """The tokenizer's ids for ``text``, unchecked (what sentence lengths are counted in)."""
        return [int(i) for i in self.tokenizer([text])["input_ids"][0]]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (one piece, or a prompt's transcript), checked.

        Raises:
            TextError: ``empty_text`` (nothing but whitespace) or ``unencodable_text`` (some
                characters have no token, or do not survive the round trip through the ids).
        """
        if not text.strip():
            raise TextError("empty_text", text, "nothing to say")
        self._check_encodable(text)
        return self.token_ids(text)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """The text of ``ids`` (special tokens left out by default, as the official code)."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def _check_encodable(self, text: str) -> None:
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
        unknown = self._unknown_spans(text, ids, offsets)
        decoded = self.tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        lost = _lost_characters(self._normalized(text), decoded)
        missing = unknown or lost
        if missing:
            named = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in dict.fromkeys(missing))
            how = "map to the unknown token" if unknown else "are lost in the round trip"
            raise TextError("unencodable_text", text, f"characters {named} {how}")

    def _unknown_spans(self, text: str, ids: list[int], offsets: list[tuple[int, int]]) -> str:
        unk_id, unk = self.tokenizer.unk_token_id, self.tokenizer.unk_token
        if unk_id is None:
            return ""
        # Qwen2's unknown token is its end of text: only text that is not that token itself
        spans = [text[a:b] for i, (a, b) in zip(ids, offsets, strict=True) if i == unk_id]
        return "".join(span for span in spans if span != unk)

    def _normalized(self, text: str) -> str:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        normalizer = backend.normalizer if backend is not None else None
        return text if normalizer is None else str(normalizer.normalize_str(text))

    # -- normalisation and pieces -----------------------------------------------------------

    def normalize(self, text: str) -> str:
        """``text`` as the LM should read it, not split (for a prompt's transcript).

        Raises:
            TextError: ``empty_text``.
        """
        stripped = text.strip()
        if not stripped:
            raise TextError("empty_text", text, "nothing to say")
        if is_chinese(stripped):
            return _normalize_chinese(stripped)
        return self._spell_numbers(stripped)

    def split(self, text: str) -> list[str]:
        """The pieces the LM speaks one at a time, normalised (each ends with its sentence's
        mark; spaces between sentences stay at the start of the next one).

        Raises:
            TextError: ``empty_text`` (nothing but whitespace and punctuation),
                ``text_too_long`` (a single word longer than ``piece_token_limit``).
        """
        normalized = self.normalize(text)
        chinese = is_chinese(normalized)
        length = len if chinese else self._length
        pieces = [
            part
            for piece in self._group(self._sentences(normalized, chinese), length)
            for part in self._within_limit(text, piece, length)
        ]
        pieces = [piece for piece in pieces if not is_only_punctuation(piece)]
        if not pieces:
            raise TextError("empty_text", text, "only punctuation")
        return pieces

    def _length(self, text: str) -> int:
        return len(self.token_ids(text))

    def _sentences(self, text: str, chinese: bool) -> list[str]:
        """``text`` cut after each sentence mark (the mark and a closing quote kept)."""
        config = self.config
        marks = set(config.chinese_sentence_marks if chinese else config.sentence_marks)
        if config.comma_split:
            marks.update(config.comma_marks)
        if text[-1] not in marks:
            text += config.chinese_terminal_mark if chinese else config.terminal_mark
        return _cut_after(text, marks, set(config.closing_quotes))

    def _group(self, units: list[str], length: Callable[[str], int]) -> list[str]:
        """Consecutive ``units`` joined into pieces of about ``max_piece_tokens``."""
        config = self.config
        pieces: list[str] = []
        current = ""
        for unit in units:
            too_long = length(current + unit) > config.max_piece_tokens
            if too_long and length(current) > config.min_piece_tokens:
                pieces.append(current)
                current = ""
            current += unit
        if current:
            if pieces and length(current) < config.merge_tokens:
                pieces[-1] += current
            else:
                pieces.append(current)
        return pieces

    def _within_limit(self, text: str, piece: str, length: Callable[[str], int]) -> list[str]:
        """``piece``, or its parts (at commas, else between words) when over the limit."""
        limit = self.config.piece_token_limit
        if length(piece) <= limit:
            return [piece]
        by_commas = self._group(_cut_after(piece, set(self.config.comma_marks), set()), length)
        parts: list[str] = []
        for clause in by_commas:
            if length(clause) <= limit:
                parts.append(clause)
                continue
            words = self._group(_WORD.findall(clause), length)
            for word in words:
                if length(word) > limit:
                    raise TextError(
                        "text_too_long",
                        text,
                        f"{word.strip()[:_PREVIEW_CHARS]!r} is {length(word)} long with no "
                        f"place to split it (limit {limit})",
                    )
            parts.extend(words)
        return parts

    def _spell_numbers(self, text: str) -> str:
        spell = self._number_words
        if spell is None:
            return text
        runs = (("".join(run), digits) for digits, run in itertools.groupby(text, str.isdigit))
        return "".join(spell(run) if digits else run for run, digits in runs)


def _cut_after(text: str, marks: set[str], quotes: set[str]) -> list[str]:
    """``text`` cut after each of ``marks`` (a quote right after a mark stays with it; a mark
    with nothing before it since the last cut is dropped, as the official splitter does)."""
    parts: list[str] = []
    start = 0
    for i, char in enumerate(text):
        if char not in marks:
            continue
        if i > start:
            parts.append(text[start : i + 1])
        start = i + 1
        if start < len(text) and text[start] in quotes and parts:
            parts[-1] += text[start]
            start += 1
    if start < len(text):
        parts.append(text[start:])  # only when the text does not end with a mark
    return parts


def _normalize_chinese(text: str) -> str:
    text = _keep_ascii_spaces(text.replace("\n", ""))
    for old, new in _CHINESE_REPLACEMENTS:
        text = text.replace(old, new)
    for removed in _CHINESE_REMOVED:
        text = text.replace(removed, "")
    text = text.replace(*_CHINESE_DASH)
    return _TRAILING_COMMAS.sub("。", text)


def _keep_ascii_spaces(text: str) -> str:
    """Spaces kept only between two ASCII non-space characters (Chinese has no word spaces)."""

    def ascii_word(i: int) -> bool:
        return 0 <= i < len(text) and text[i].isascii() and text[i] != " "

    return "".join(
        c for i, c in enumerate(text) if c != " " or (ascii_word(i - 1) and ascii_word(i + 1))
    )


def _lost_characters(expected: str, decoded: str) -> str:
    """The characters of ``expected`` that ``decoded`` does not have in place (whitespace
    aside: some decoders re-space words, which changes nothing that is spoken)."""
    if expected == decoded:
        return ""
    matcher = difflib.SequenceMatcher(None, expected, decoded, autojunk=False)
    lost = (
        expected[a:b] for tag, a, b, _, _ in matcher.get_opcodes() if tag in ("delete", "replace")
    )
    return "".join(c for c in "".join(lost) if not c.isspace())


def _inflect_number_words() -> Callable[[str], str]:
    try:
        import inflect
    except ImportError as error:
        raise BackendUnavailableError(
            "spell_out_numbers needs the inflect package (pip install inflect)"
        ) from error
    engine = inflect.engine()
    return lambda digits: str(engine.number_to_words(digits))


def is_chinese(text: str) -> bool:
    """Whether ``text`` has a CJK ideograph (then the Chinese rules apply)."""
    return _CJK_IDEOGRAPH.search(text) is not None


def is_only_punctuation(text: str) -> bool:
    """Whether ``text`` is only punctuation, symbols and whitespace (nothing to speak; the
    official check counts a space as speakable, and passes ``" ."`` on to the LM)."""
    return all(c.isspace() or unicodedata.category(c)[0] in "PS" for c in text)


# -- the debug tokenizer ---------------------------------------------------------------------

# Qwen2's pre-tokenizer split: contractions, letter runs with one leading non-letter, single
# digits, punctuation runs, newlines, other whitespace.
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPECIALS = (END_OF_TEXT, "<|im_start|>", "<|im_end|>")
DEBUG_BPE_SIZE = 512
DEBUG_CORPUS = """\
The old lighthouse stood at the edge of the cliff, and every night its lamp turned slowly over
the water. Sailors who passed the point knew the light by its rhythm: three short flashes, then
a long one. When the keeper grew too old to climb the stairs, his granddaughter took the work.
She wrote in the log each evening. "Wind from the west, strong; two ships seen; the lamp is
clean." On quiet nights she read books about the stars, the tides and the weather, and learned
why the sea is salty and why the moon pulls at it. Would the light ever go dark? Not while she
was there! In the spring, a storm broke one of the windows; she fixed it herself, with glass
from the village and a little help from her brother. People in the town still talk about that
summer: the fish were plentiful, the harvest was good, and the children swam every afternoon.
Today the lamp is electric and nobody lives in the tower, but visitors climb the one hundred
and twelve steps to see the view. They say you can see the islands on a clear day; some say you
can hear the bell of the sunken church when the water is calm. Thank you for listening, and
good night.
"""


def write_debug_tokenizer(folder: str | Path) -> Path:
    """Writes a tiny Qwen2-style tokenizer to ``folder`` in the official file layout
    (``vocab.json``, ``merges.txt``, ``tokenizer_config.json``), trained on `DEBUG_CORPUS`:
    deterministic, offline, milliseconds. Every byte has a token, as in Qwen2."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=DEBUG_BPE_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(DEBUG_CORPUS.splitlines(), trainer)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.model.save(str(out))
    write_qwen2_tokenizer_config(out, len(tokenizer.get_vocab()))
    return out


def write_qwen2_tokenizer_config(folder: Path, bpe_size: int) -> None:
    """The ``tokenizer_config.json`` of a Qwen2 base model, its three special tokens placed
    right after ``bpe_size`` BPE tokens (as Qwen2's own config places them)."""
    added = {
        str(bpe_size + i): {
            "content": token,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i, token in enumerate(_QWEN2_SPECIALS)
    }
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": list(_QWEN2_SPECIALS[1:]),
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": END_OF_TEXT,
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": END_OF_TEXT,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def debug(
    folder: str | Path | None = None, config: TextFrontendConfig | None = None
) -> TextFrontend:
    """A `TextFrontend` with the tiny tokenizer of `write_debug_tokenizer` (written to
    ``folder``, or to a temporary directory that is removed once it is loaded)."""
    if folder is not None:
        return TextFrontend.from_dir(write_debug_tokenizer(folder), config)
    with tempfile.TemporaryDirectory() as scratch:
        return TextFrontend.from_dir(write_debug_tokenizer(scratch), config)
