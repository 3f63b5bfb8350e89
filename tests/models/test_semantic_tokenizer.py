"""Fast unit tests of the semantic tokenizer: model, quantizers, CTC, data, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from models.semantic_tokenizer import (
    CharVocab,
    LengthBucketSampler,
    QuantizerConfig,
    SpeechTextDataset,
    TrainConfig,
    build_semantic_tokenizer,
    character_error_rate,
    collate,
    ctc_greedy_decode,
    debug_config,
    load_model,
    preset_config,
    read_manifest,
    train_local,
    train_with_ray,
    write_manifest,
    write_parquet,
)
from models.semantic_tokenizer.data import Record
from models.semantic_tokenizer.model import SemanticTokenizer, build_from_config
from models.semantic_tokenizer.quantizers import EMAVectorQuantizer, FSQuantizer
from models.semantic_tokenizer.vocab import normalize_text
from tests.signals import speech_like

TINY = {
    "d_model": 32,
    "num_heads": 2,
    "ffn_dim": 64,
    "num_layers": 2,
    "quantizer_after": 1,
    "n_mels": 128,
}


def tiny_model(kind: str = "vq", vocab_size: int = 10, **quant: object) -> SemanticTokenizer:
    quantizer = QuantizerConfig(kind=kind, codebook_size=16, code_dim=4, levels=(3, 3), **quant)  # type: ignore[arg-type]
    return build_semantic_tokenizer(vocab_size=vocab_size, quantizer=quantizer, **TINY)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


# ---------------------------------------------------------------- model


@pytest.mark.parametrize("kind", ["vq", "fsq"])
def test_forward_shapes_and_masks(kind: str) -> None:
    model = tiny_model(kind)
    mels = torch.randn(2, 128, 50)
    mel_lengths = torch.tensor([50, 31])
    targets = torch.tensor([[2, 3, 4], [5, 6, 0]])
    out = model(mels, mel_lengths, targets, torch.tensor([3, 2]))
    assert out.codes.shape == (2, 25)
    assert out.log_probs.shape == (2, 25, 10)
    assert out.lengths.tolist() == [25, 16]
    assert out.mask.sum(1).tolist() == [25, 16]
    assert (out.codes[1, 16:] == -1).all() and (out.codes[out.mask] >= 0).all()
    assert (out.codes[out.mask] < model.num_codes).all()
    assert out.ctc_loss is not None and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.conv1.weight.grad is not None and model.conv1.weight.grad.abs().sum() > 0
    codes, lengths = model.eval().encode(mels, mel_lengths)
    assert codes.shape == (2, 25) and lengths.tolist() == [25, 16]


def test_presets_build_and_frame_rates() -> None:
    assert debug_config().frame_rate == 50.0
    for name in ("tiny", "small"):
        config = preset_config(name, vocab_size=40)
        assert config.frame_rate == 25.0
        assert config.vocab_size == 40
    assert preset_config("tiny").quantizer.num_codes == 3**8
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("huge")
    model = build_from_config(debug_config(vocab_size=20))
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.3e6 < n_params < 3e6


def test_whisper_checkpoint_initialisation(tmp_path: Path) -> None:
    from transformers import WhisperConfig, WhisperModel

    config = WhisperConfig(
        num_mel_bins=128,
        d_model=32,
        encoder_layers=3,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        max_source_positions=16,
        vocab_size=60,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
        max_target_positions=16,
    )
    whisper = WhisperModel(config).eval()
    whisper.save_pretrained(tmp_path)
    model = build_semantic_tokenizer(
        vocab_size=10, whisper_init=tmp_path, **{**TINY, "num_layers": 3, "quantizer_after": 2}
    ).eval()
    mels = torch.randn(1, 128, 32)
    with torch.no_grad():
        ref = whisper.encoder(mels, output_hidden_states=True).hidden_states[2]
        ours, _, _ = model.hidden_before_quantizer(mels, torch.tensor([32]))
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="does not match"):
        build_semantic_tokenizer(vocab_size=10, whisper_init=tmp_path, **{**TINY, "ffn_dim": 48})


# ---------------------------------------------------------------- quantizers


def _identity_vq(codebook: torch.Tensor, **settings: object) -> EMAVectorQuantizer:
    config = QuantizerConfig(
        kind="vq",
        codebook_size=codebook.shape[0],
        code_dim=codebook.shape[1],
        **settings,  # type: ignore[arg-type]
    )
    vq = EMAVectorQuantizer(codebook.shape[1], config)
    with torch.no_grad():
        for proj in (vq.proj_in, vq.proj_out):
            proj.weight.copy_(torch.eye(codebook.shape[1]))
            proj.bias.zero_()
        vq.codebook.copy_(codebook)
        vq.embed_sum.copy_(codebook)
        vq.initialised.fill_(True)
    return vq


def test_vq_straight_through_gradient() -> None:
    vq = EMAVectorQuantizer(8, QuantizerConfig(codebook_size=16, code_dim=4)).eval()
    x = torch.randn(2, 5, 8, requires_grad=True)
    mask = torch.ones(2, 5, dtype=torch.bool)
    weight = torch.randn(2, 5, 8)
    (vq(x, mask).quantized * weight).sum().backward()
    x2 = x.detach().clone().requires_grad_()
    (vq.proj_out(vq.proj_in(x2)) * weight).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.testing.assert_close(x.grad, x2.grad)


def test_vq_quantizes_to_nearest_code_and_commitment() -> None:
    codebook = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    vq = _identity_vq(codebook).eval()
    x = torch.tensor([[[1.0, 0.5], [9.0, 1.0], [0.2, 8.0]]])
    out = vq(x, torch.ones(1, 3, dtype=torch.bool))
    assert out.codes.tolist() == [[0, 1, 2]]
    torch.testing.assert_close(out.quantized, codebook[None])
    expected = 0.25 * ((x - codebook[None]) ** 2).mean()
    torch.testing.assert_close(out.loss, expected)


def test_vq_ema_update_uses_only_valid_frames() -> None:
    codebook = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    vq = _identity_vq(codebook, decay=0.5, dead_threshold=0.0).train()
    x = torch.tensor([[[1.0, 1.0], [3.0, 1.0], [1000.0, 1000.0]]])
    mask = torch.tensor([[True, True, False]])
    vq(x, mask)
    # code 0 got the two valid frames (mean (2, 1)); EMA with decay 0.5 from (0, 0), count 1
    assert vq.cluster_size.tolist() == pytest.approx([1.5, 0.5])
    assert vq.embed_sum[0].tolist() == pytest.approx([2.0, 1.0])
    assert vq.embed_sum[1].tolist() == pytest.approx([5.0, 5.0])
    # codebook = embed_sum / (Laplace-smoothed) count
    assert vq.codebook[0].tolist() == pytest.approx([2.0 / 1.5, 1.0 / 1.5], rel=1e-3)
    assert vq.codebook[1].tolist() == pytest.approx([10.0, 10.0], rel=1e-3)
    before = vq.codebook.clone()
    vq.eval()(x, mask)
    assert torch.equal(before, vq.codebook)  # no updates in eval mode


def test_vq_dead_code_restart() -> None:
    codebook = torch.tensor([[1.0, 1.0], [100.0, 100.0], [-100.0, 100.0], [100.0, -100.0]])
    vq = _identity_vq(codebook, decay=0.5, dead_threshold=0.6).train()
    x = torch.tensor([[1.0, 1.0], [1.2, 0.9], [0.8, 1.1], [1.1, 1.0]])[None]
    vq(x, torch.ones(1, 4, dtype=torch.bool))
    # codes 1..3 were unused: EMA count 0.5 < 0.6 -> re-seeded near the batch's features
    assert (vq.codebook[1:] - torch.tensor([1.0, 1.0])).abs().max() < 0.5
    assert vq.cluster_size[1:].tolist() == [1.0, 1.0, 1.0]
    out = vq.eval()(x, torch.ones(1, 4, dtype=torch.bool))
    assert len(set(out.codes.flatten().tolist())) > 1


def test_fsq_code_range_is_product_of_levels() -> None:
    levels = (3, 4, 2, 5)
    fsq = FSQuantizer(6, QuantizerConfig(kind="fsq", levels=levels))
    assert fsq.num_codes == 3 * 4 * 2 * 5
    z = 1.5 * torch.randn(50000, len(levels))
    values, codes = fsq.quantize(z)
    assert codes.min() >= 0 and codes.max() < fsq.num_codes
    assert len(torch.unique(codes)) == fsq.num_codes
    torch.testing.assert_close(fsq.codes_to_values(codes), values)
    for i, level in enumerate(levels):
        assert len(torch.unique(values[:, i])) == level
        assert values[:, i].abs().max() <= 1.0


def test_fsq_straight_through_gradient() -> None:
    fsq = FSQuantizer(8, QuantizerConfig(kind="fsq", levels=(5, 4, 3)))
    x = torch.randn(2, 7, 8, requires_grad=True)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    out = fsq(x, mask)
    assert (out.codes[1, 5:] == -1).all()
    out.quantized.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    half = torch.tensor([2.0, 2.0, 1.0])
    fsq.proj_out(fsq.bound(fsq.proj_in(x2)) / half).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.testing.assert_close(x.grad, x2.grad)


# ---------------------------------------------------------------- vocab, CTC, CER


def test_ctc_greedy_decode_merges_repeats_and_drops_blanks() -> None:
    path = [2, 2, 0, 2, 3, 3, 0, 4, 4]
    log_probs = torch.full((1, len(path), 6), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert ctc_greedy_decode(log_probs, torch.tensor([9])) == [[2, 2, 3, 4]]
    assert ctc_greedy_decode(log_probs, torch.tensor([5])) == [[2, 2, 3]]


def test_vocab_text_normalisation_and_cer(tmp_path: Path) -> None:
    assert normalize_text("  Héllo, World!  ") == "héllo world"
    vocab = CharVocab.build(["abc", "cab d"])
    assert vocab.chars == [" ", "a", "b", "c", "d"] and vocab.size == 7
    assert vocab.decode(vocab.encode("bad c")) == "bad c"
    assert vocab.encode("z") == [1]
    vocab.save(tmp_path / "v.json")
    assert CharVocab.load(tmp_path / "v.json").chars == vocab.chars
    assert character_error_rate(["abcd"], ["abxd"]) == 0.25
    assert character_error_rate(["ab", "cd"], ["ab", ""]) == 0.5


# ---------------------------------------------------------------- data


TEXTS = ["one two", "three", "four four", "five", "one", "two three", "six", "seven"]


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> list[Record]:
    folder = tmp_path / "audio"
    folder.mkdir()
    records = []
    for i, text in enumerate(TEXTS):
        rate = 8000 if i % 2 else 16000
        path = folder / f"utt{i}.{'flac' if i % 3 == 0 else 'wav'}"
        sf.write(path, speech_like(0.3 + 0.1 * i, rate, seed=i), rate)
        records.append(Record(text=text, path=str(path), speaker=f"s{i % 2}", language="en"))
    return records


def test_manifest_and_parquet_sources_agree(tiny_corpus: list[Record], tmp_path: Path) -> None:
    write_manifest(tmp_path / "m.tsv", tiny_corpus)
    write_manifest(tmp_path / "m.jsonl", tiny_corpus)
    write_parquet(tmp_path / "bytes.parquet", tiny_corpus, embed_audio=True)
    write_parquet(tmp_path / "paths.parquet", tiny_corpus, embed_audio=False)
    assert [r.text for r in read_manifest(tmp_path / "m.tsv")] == TEXTS
    vocab = CharVocab.build(TEXTS)
    sets = [
        SpeechTextDataset.from_sources([tmp_path / name], vocab=vocab)
        for name in ("m.tsv", "m.jsonl", "bytes.parquet", "paths.parquet")
    ]
    for dataset in sets:
        assert len(dataset) == len(TEXTS)
        assert dataset.records[2].speaker == "s0"
    for index in (0, 3, 7):
        reference = sets[0][index]
        assert reference.mel.shape == (128, int((0.3 + 0.1 * index) * 100))
        for dataset in sets[1:]:
            item = dataset[index]
            assert item.text == TEXTS[index]
            torch.testing.assert_close(item.targets, reference.targets)
            torch.testing.assert_close(item.mel, reference.mel, atol=1e-4, rtol=1e-4)
    mixed = SpeechTextDataset.from_sources([tmp_path / "m.tsv", tmp_path / "bytes.parquet"])
    assert len(mixed) == 2 * len(TEXTS) and mixed.vocab.size == vocab.size
    durations = mixed.durations()
    assert durations[0] == pytest.approx(0.3, abs=1e-3)
    assert durations[len(TEXTS) + 7] == pytest.approx(1.0, abs=1e-3)


def test_length_buckets_respect_the_frame_budget(tiny_corpus: list[Record]) -> None:
    durations = [0.3 + 0.1 * i for i in range(len(tiny_corpus))] * 5
    sampler = LengthBucketSampler(durations, max_frames=300, seed=1)
    batches = sampler.batches()
    assert sorted(i for b in batches for i in b) == list(range(len(durations)))
    for batch in batches:
        assert max(int(durations[i] * 100) for i in batch) * len(batch) <= 300 or len(batch) == 1
    sampler.set_epoch(1)
    assert sampler.batches() != batches
    ranks = [
        LengthBucketSampler(durations, 300, seed=1, num_replicas=2, rank=r).batches()
        for r in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1])
    assert not {i for b in ranks[0] for i in b} & {i for b in ranks[1] for i in b}


def test_collate_pads_with_masks(tiny_corpus: list[Record]) -> None:
    dataset = SpeechTextDataset(tiny_corpus, CharVocab.build(TEXTS))
    batch = collate([dataset[0], dataset[5]])
    assert batch.mels.shape == (2, 128, 80)
    assert batch.mel_lengths.tolist() == [30, 80]
    assert batch.mel_mask.sum(1).tolist() == [30, 80]
    assert batch.target_lengths.tolist() == [7, 9]
    assert (batch.targets[0, 7:] == 0).all()


# ---------------------------------------------------------------- training and checkpoints


def _train_config(corpus: list[Record], folder: Path, output: str, steps: int) -> TrainConfig:
    write_manifest(folder / "train.tsv", corpus)
    write_manifest(folder / "dev.tsv", corpus[:3])
    return TrainConfig(
        train_sources=[str(folder / "train.tsv")],
        dev_sources=[str(folder / "dev.tsv")],
        output_dir=str(folder / output),
        model="debug",
        model_overrides={**TINY, "quantizer": {"codebook_size": 16, "code_dim": 4}},
        max_steps=6,
        stop_after_steps=steps,
        max_frames=200,
        warmup_steps=2,
        log_every=1,
        eval_every=2,
        checkpoint_every=2,
        verbose=False,
    )


def test_checkpoint_resume_continues_steps_and_reproduces_weights(
    tiny_corpus: list[Record], tmp_path: Path
) -> None:
    straight = train_local(_train_config(tiny_corpus, tmp_path, "straight", 6))
    assert straight.step == 6 and straight.checkpoint is not None
    assert straight.checkpoint.name == "step_00000006"

    first = train_local(_train_config(tiny_corpus, tmp_path, "resumed", 3))
    assert first.step == 3
    resumed = train_local(_train_config(tiny_corpus, tmp_path, "resumed", 6))
    assert resumed.step == 6
    assert any(r.get("split") == "resume" and r["step"] == 3 for r in resumed.history)
    steps = [r["step"] for r in resumed.train_records]
    assert steps == [1, 2, 3, 4, 5, 6]

    assert resumed.checkpoint is not None
    a, vocab_a = load_model(straight.checkpoint)
    b, vocab_b = load_model(resumed.checkpoint)
    assert vocab_a.chars == vocab_b.chars
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(ta, tb, atol=1e-6, rtol=1e-5, msg=name)

    trainer = json.loads((resumed.checkpoint / "trainer.json").read_text())
    assert trainer["step"] == 6
    dev = resumed.eval_records[-1]
    assert 0.0 <= dev["utilisation"] <= 1.0 and dev["perplexity"] >= 1.0 and "cer" in dev
    saved = torch.load(resumed.checkpoint / "train_state.pt", weights_only=True)
    assert "optimizer" in saved and "scheduler" in saved
    again, _ = load_model(resumed.checkpoint)
    for ta, tb in zip(again.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb)


def test_train_step_reduces_loss_on_a_fixed_batch(tiny_corpus: list[Record]) -> None:
    from models.semantic_tokenizer.train import train_step

    vocab = CharVocab.build(TEXTS)
    dataset = SpeechTextDataset(tiny_corpus, vocab)
    batch = collate([dataset[i] for i in range(4)])
    model = tiny_model("fsq", vocab_size=vocab.size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = [train_step(model, batch, optimizer)["loss"] for _ in range(25)]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


def test_ray_train_path_matches_the_local_path(tiny_corpus: list[Record], tmp_path: Path) -> None:
    """The Ray Train path (what users run) trains, checkpoints and logs like the local one."""
    pytest.importorskip("ray.train")
    local = train_local(_train_config(tiny_corpus, tmp_path, "local", 4))
    ray_run = train_with_ray(_train_config(tiny_corpus, tmp_path, "ray", 4))
    assert ray_run.step == 4 and ray_run.checkpoint is not None
    assert ray_run.checkpoint.name == "step_00000004"
    # one worker, same seed, same batches: the same weights as the in-process loop
    a, _ = load_model(local.checkpoint)
    b, _ = load_model(ray_run.checkpoint)
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(ta, tb, atol=1e-5, rtol=1e-4, msg=name)
    assert [r["step"] for r in ray_run.train_records] == [1, 2, 3, 4]
