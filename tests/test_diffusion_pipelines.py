"""The image and audio pipelines on their own: tiny real diffusers pipelines loaded from disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines.audio.wav import finish_texture, make_loop, read_wav, seam
from pipelines.diffusion_params import AudioParams, ImageParams
from pipelines.image.png import parameters_text, parse_parameters
from pipelines.model_folder import BadModelFolder, inspect_model


@pytest.fixture(scope="module")
def image_pipeline(tiny_models: dict[str, Path]):
    import torch

    from pipelines.diffusion import RunOptions
    from pipelines.image import ImagePipeline

    torch.set_num_threads(1)
    pipeline = ImagePipeline()
    pipeline.load(inspect_model(tiny_models["image"], "image"), RunOptions(threads=1), "ab" * 32)
    yield pipeline
    pipeline.unload()


def pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_same_seed_same_image_and_another_seed_another(image_pipeline) -> None:
    from pipelines.image import ImageRequest

    def draw(seed: int) -> np.ndarray:
        request = ImageRequest("a lighthouse at dusk", steps=3, width=64, height=64, seed=seed)
        return pixels(image_pipeline(request).images[0].png)

    first, again, other = draw(7), draw(7), draw(8)
    assert first.shape == (64, 64, 3)
    assert np.abs(first - again).max() <= 1  # threads pinned: the same within rounding
    assert np.abs(first - other).mean() > 5


def test_png_text_chunk_parses_back_to_its_parameters(image_pipeline) -> None:
    from pipelines.image import ImageRequest
    from pipelines.image.png import read_parameters

    request = ImageRequest('moody, "wet" streets: neon', negative_prompt="blurry, text",
                           steps=2, guidance=6.5, width=72, height=64, scheduler="euler_a",
                           images=2, seed=41)
    result = image_pipeline(request)
    assert [image.seed for image in result.images] == [41, 42]
    for image in result.images:
        parsed = parse_parameters(read_parameters(image.png) or "")
        assert parsed == {
            "prompt": request.prompt, "negative_prompt": "blurry, text", "steps": 2,
            "sampler": "Euler a", "cfg_scale": 6.5, "seed": image.seed, "width": 72,
            "height": 64, "model_hash": "ab" * 5, "model": "sd-tiny",
        }
        assert pixels(image.png).shape == (64, 72, 3)


@pytest.mark.parametrize("scheduler", ["dpmpp_2m", "dpmpp_2m_karras", "euler", "ddim"])
def test_every_named_scheduler_draws(image_pipeline, scheduler: str) -> None:
    from pipelines.diffusion_params import SCHEDULERS
    from pipelines.image import ImageRequest

    result = image_pipeline(ImageRequest("x", steps=2, width=64, height=64, scheduler=scheduler))
    assert result.images[0].parameters["sampler"] == SCHEDULERS[scheduler]
    assert type(image_pipeline.pipe.scheduler).__name__.startswith(
        {"dpmpp_2m": "DPMSolver", "dpmpp_2m_karras": "DPMSolver", "euler": "EulerDiscrete",
         "ddim": "DDIM"}[scheduler])
    assert pixels(result.images[0].png).std() > 0


def test_step_callback_sees_every_step(image_pipeline) -> None:
    from pipelines.image import ImageRequest

    seen: list[tuple[int, int]] = []
    image_pipeline(ImageRequest("x", steps=4, width=64, height=64),
                   on_step=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("kind", ["audio", "audioldm"])
def test_audio_texture_is_a_peak_safe_pcm_loop_with_a_report(tiny_models, kind: str) -> None:
    import torch

    from pipelines.audio import AudioPipeline, AudioRequest
    from pipelines.diffusion import RunOptions

    torch.set_num_threads(1)
    pipeline = AudioPipeline()
    pipeline.load(inspect_model(tiny_models[kind], "audio"), RunOptions(threads=1))
    try:
        request = AudioRequest("warm drone", seconds=2.0, steps=3, crossfade_s=0.5, seed=3,
                               bit_depth=16)
        result = pipeline(request)
        again = pipeline(request)
        other = pipeline(AudioRequest("warm drone", seconds=2.0, steps=3, crossfade_s=0.5,
                                      seed=4, bit_depth=16))
    finally:
        pipeline.unload()
    samples, rate = read_wav(result.wav)
    assert rate == result.sample_rate == 16000
    assert samples.shape[1] == 32000  # two seconds: the crossfade was spent on the loop
    assert result.report["peak_dbfs"] <= -0.9 and result.report["clipped_samples"] == 0
    assert result.report["loop"] is True and "ratio" in result.report["seam"]
    assert np.abs(samples - read_wav(again.wav)[0]).max() < 1e-3
    assert np.abs(samples - read_wav(other.wav)[0]).mean() > 1e-3


def test_audio_longer_than_the_model_makes_is_refused(tiny_models) -> None:
    from pipelines.audio import AudioPipeline, AudioRequest, BadAudioRequest
    from pipelines.diffusion import RunOptions

    pipeline = AudioPipeline()
    pipeline.load(inspect_model(tiny_models["audio"], "audio"), RunOptions(threads=1))
    try:
        with pytest.raises(BadAudioRequest, match=r"makes at most 4\.10 s"):
            pipeline(AudioRequest("x", seconds=4.0, steps=2, crossfade_s=1.0))
    finally:
        pipeline.unload()


def test_loop_crossfade_removes_the_click_at_the_seam() -> None:
    rate = 8000
    t = np.arange(int(2.3 * rate)) / rate
    tone = np.stack([np.sin(2 * np.pi * 55.3 * t), np.sin(2 * np.pi * 82.7 * t)]) * 0.5
    assert seam(tone[:, : 2 * rate])["ratio"] > 5  # cut anywhere, the tone clicks
    looped = make_loop(tone, int(0.3 * rate))
    assert looped.shape[1] == 2 * rate
    assert seam(looped)["ratio"] < 1.5
    texture = finish_texture(tone, rate, 2.0, True, 0.3, 24)
    assert texture.report["seam"]["ratio"] < 1.5
    written, got_rate = read_wav(texture.wav)
    assert got_rate == rate and written.shape == (2, 2 * rate)
    assert 20 * np.log10(np.abs(written).max()) == pytest.approx(-1.0, abs=0.01)
    assert texture.report["lufs_integrated"] is not None


def test_png_parameters_survive_commas_quotes_and_newlines() -> None:
    params = {"prompt": "a, b: \"c\"\nsecond line", "negative_prompt": "", "steps": 20,
              "sampler": "DPM++ 2M Karras", "cfg_scale": 7.0, "seed": 2**32 - 1, "width": 512,
              "height": 768, "model_hash": "0123456789", "model": 'my, "model"'}
    assert parse_parameters(parameters_text(params)) == params


# bad input: refused from the files alone, before any weights load ------------------------

def test_model_folders_that_cannot_load_say_why(tiny_models, tmp_path: Path) -> None:
    cases = {
        "missing": (None, r"does not exist"),
        "empty": ("mkdir", r"no model_index\.json"),
        "audio as image": (tiny_models["audio"], r"holds a StableAudioPipeline, not a image"),
    }
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_models["image"], pickled)
    for weights in pickled.glob("unet/*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"x")
    single = tmp_path / "model.safetensors"
    single.write_bytes(b"x")
    for name, (path, pattern) in cases.items():
        where = tmp_path / name
        if path == "mkdir":
            where.mkdir()
        elif path is not None:
            where = path
        with pytest.raises(BadModelFolder, match=pattern):
            inspect_model(where, "image")
    with pytest.raises(BadModelFolder, match=r"'unet' .*only \.bin"):
        inspect_model(pickled, "image")
    with pytest.raises(BadModelFolder, match=r"can run code"):
        inspect_model(ckpt, "image")
    with pytest.raises(BadModelFolder, match=r"set image\.config_path"):
        inspect_model(single, "image")
    with pytest.raises(BadModelFolder, match=r"image\.model_path is not set"):
        inspect_model(None, "image")
    folder = inspect_model(single, "image", tiny_models["image"])
    assert folder.single_file and folder.pipeline == "StableDiffusionPipeline"


def test_a_single_file_that_is_no_checkpoint_fails_to_load_in_one_line(tiny_models,
                                                                      tmp_path: Path) -> None:
    from pipelines.diffusion import ModelLoadFailed, RunOptions
    from pipelines.image import ImagePipeline

    single = tmp_path / "model.safetensors"
    single.write_bytes(b"not safetensors at all")
    with pytest.raises(ModelLoadFailed, match=r"cannot load model as a StableDiffusionPipeline"):
        ImagePipeline().load(inspect_model(single, "image", tiny_models["image"]),
                             RunOptions(threads=1))


@pytest.mark.parametrize(("params", "pattern"), [
    ({"width": 100}, r"multiple of 8"),
    ({"height": 4096}, r"less than or equal to 2048"),
    ({"steps": 0}, r"greater than or equal to 1"),
    ({"scheduler": "plms"}, r"unknown scheduler"),
    ({"images": 9}, r"less than or equal to 8"),
])
def test_image_params_out_of_bounds_are_refused(params: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        ImageParams.model_validate(params)


def test_scheduler_names_as_other_tools_write_them_are_taken() -> None:
    assert ImageParams(scheduler="DPM++ 2M Karras").scheduler == "dpmpp_2m_karras"
    assert ImageParams(scheduler="Euler a").scheduler == "euler_a"
    with pytest.raises(ValueError, match=r"seconds"):
        AudioParams.model_validate({"seconds": 600})
    assert json.loads(AudioParams().model_dump_json())["bit_depth"] == 24
    with pytest.raises(ValueError, match=r"crossfade_s \(10\) must be shorter than seconds"):
        AudioParams.model_validate({"seconds": 0.5, "crossfade_s": 10})
