"""`farm models tiny DIR`: tiny random-weight diffusers pipelines built from configs, for smoke
tests of a farm that has no real weights. Nothing is fetched: the tokenizers are made here from
a byte-level vocabulary. Their output is noise, and each folder says so in NOISE.txt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LABEL = "NOISE.txt"
_LABEL_TEXT = ("Tiny random-weight pipeline made by `farm models tiny` for smoke tests.\n"
               "What it renders is noise, not art.\n")
NAMES = {"image": "sd-tiny", "audio": "stable-audio-tiny", "audioldm": "audioldm-tiny"}


def is_tiny(folder: Path) -> bool:
    return (folder / LABEL).is_file()


def build_tiny(root: Path, which: tuple[str, ...] = ("image", "audio", "audioldm")
               ) -> dict[str, Path]:
    """Build and save the tiny pipelines under `root`; returns their folders by kind."""
    import torch

    torch.manual_seed(0)
    builders = {"image": _stable_diffusion, "audio": _stable_audio, "audioldm": _audioldm}
    made = {}
    for name in which:
        folder = root / NAMES[name]
        pipe = builders[name](root / f".{NAMES[name]}-tokenizer")
        pipe.save_pretrained(str(folder), safe_serialization=True)
        (folder / LABEL).write_text(_LABEL_TEXT)
        made[name] = folder
    return made


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE tokenizers use for bytes."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for byte in range(256):
        if byte in keep:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _bpe_files(folder: Path, specials: list[str], word_end: str) -> tuple[str, str]:
    """A byte-level vocabulary (specials, then bytes, then bytes ending a word) and no merges."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    tokens = specials + chars + ([c + word_end for c in chars] if word_end else [])
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    vocab.write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    merges.write_text("#version: 0.2\n")
    return str(vocab), str(merges)


def _stable_diffusion(scratch: Path) -> Any:
    from diffusers import (
        AutoencoderKL,
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab, merges = _bpe_files(scratch, ["<|startoftext|>", "<|endoftext|>"], "</w>")
    tokenizer = CLIPTokenizer(vocab, merges, model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=4)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8),
        layers_per_block=1, norm_num_groups=4, sample_size=64,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    scheduler = DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012,
                                            beta_schedule="scaled_linear", steps_offset=1)
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def _stable_audio(scratch: Path) -> Any:
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer = _t5_tokenizer(scratch)
    text_encoder = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    # 16 kHz stereo, 256 samples per latent frame: 256 frames are 4.1 s of audio.
    vae = AutoencoderOobleck(encoder_hidden_size=8, downsampling_ratios=[2, 4, 4, 8],
                             decoder_channels=8, decoder_input_channels=4, audio_channels=2,
                             channel_multiples=[1, 2, 2, 2], sampling_rate=16000)
    transformer = StableAudioDiTModel(
        sample_size=256, in_channels=4, num_layers=2, attention_head_dim=8,
        num_attention_heads=2, num_key_value_attention_heads=1, out_channels=4,
        cross_attention_dim=16, time_proj_dim=8, global_states_input_dim=32,
        cross_attention_input_dim=16)
    projection = StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=16,
                                            min_value=0, max_value=64)
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction",
                                                  sigma_data=1.0, sigma_schedule="exponential")
    return StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection,
                               tokenizer=tokenizer, transformer=transformer, scheduler=scheduler)


def _t5_tokenizer(scratch: Path) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [("▁" + c, -1.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    pieces += [(chr(c), -2.0) for c in range(32, 127)]
    core = Tokenizer(models.Unigram(pieces, unk_id=2))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    return T5Tokenizer(tokenizer_object=core, eos_token="</s>", unk_token="<unk>",
                           pad_token="<pad>", extra_ids=0, model_max_length=64)


def _audioldm(scratch: Path) -> Any:
    from diffusers import AudioLDMPipeline, AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import (
        ClapTextConfig,
        ClapTextModelWithProjection,
        RobertaTokenizer,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    vocab, merges = _bpe_files(scratch, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "")
    tokenizer = RobertaTokenizer(vocab, merges, model_max_length=77)
    text_encoder = ClapTextModelWithProjection(ClapTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=37, num_attention_heads=2,
        num_hidden_layers=1, projection_dim=8, bos_token_id=0, pad_token_id=1, eos_token_id=2,
        max_position_embeddings=80))
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=8, class_embeddings_concat=True)
    vae = AutoencoderKL(in_channels=1, out_channels=1, latent_channels=4,
                        block_out_channels=(8, 16), norm_num_groups=4,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=8, sampling_rate=16000, upsample_initial_channel=16,
        upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], normalize_before=False,
        initializer_range=0.3))  # audible noise: the default init makes near silence
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    return AudioLDMPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                            scheduler=scheduler, vocoder=vocoder)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="farm models tiny", description=__doc__)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    dest = args.dest.expanduser()
    taken = [p for p in NAMES.values() if (dest / p).exists()]
    if taken:
        print(f"farm: error: {dest / taken[0]} exists already; choose another DEST",
              file=sys.stderr)
        return 2
    try:
        import diffusers  # noqa: F401
    except ImportError:
        print("farm: error: the tiny pipelines need diffusers: pip install "
              "'studio-farm[image,audio]'", file=sys.stderr)
        return 2
    made = build_tiny(dest)
    if args.json:
        print(json.dumps({kind: str(path) for kind, path in made.items()}, indent=2))
    else:
        for kind, path in made.items():
            print(f"{kind:9} {path}")
        print(f"noise only: set image.model_path: {made['image']} and audio.model_path: "
              f"{made['audio']} to smoke-test a farm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
