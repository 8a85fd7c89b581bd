"""The local GGUF backend: one llama.cpp model kept resident, greedy and grammar-constrained.

llama_cpp is imported inside load() only, so importing the brain stays light.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pipelines.brain.backend import Generation
from pipelines.brain.errors import BadModelAnswer, BrainError, ModelNotFound, ModelUnusable
from pipelines.brain.greedy import greedy_with_grammar
from pipelines.brain.prompt import chat_messages, completion_prompt

GGUF_MAGIC = b"GGUF"
MIN_ANSWER_TOKENS = 200  # a whole intent takes about 150 tokens with the Gemma tokenizer


def check_model_file(path: str | os.PathLike[str]) -> Path:
    """The path, once it exists and starts like a GGUF file; the errors name llm.model_path."""
    model = Path(path).expanduser()
    if not model.is_file():
        raise ModelNotFound(f"model file {model} not found (set llm.model_path to a .gguf file)")
    with model.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelUnusable(f"model file {model} is not a GGUF file (starts {magic!r}); "
                            "check llm.model_path")
    return model


@dataclass(frozen=True)
class LoadParams:
    """How the model was loaded; loading again with the same params is a no-op."""

    model_path: str
    n_ctx: int
    n_threads: int
    n_gpu_layers: int
    seed: int


class LlamaBackend:
    """One llama_cpp.Llama held per object; `loads` counts real loads in this process."""

    loads: ClassVar[int] = 0
    tier = "llama"

    def __init__(self) -> None:
        self.llm: Any = None
        self.params: LoadParams | None = None
        self.chat_template: str | None = None
        self._grammars: dict[str, Any] = {}

    @property
    def loaded(self) -> bool:
        return self.llm is not None

    def load(self, model_path: str | os.PathLike[str], n_ctx: int = 3072, n_threads: int | None = None,
             n_gpu_layers: int = 0, seed: int = 0) -> None:
        """Load the GGUF (ModelNotFound, ModelUnusable); the same file and params again do nothing."""
        model = check_model_file(model_path)
        params = LoadParams(str(model.resolve()), int(n_ctx), int(n_threads or os.cpu_count() or 1),
                            int(n_gpu_layers), int(seed))
        if self.llm is not None and params == self.params:
            return
        self.close()
        import llama_cpp

        try:
            self.llm = llama_cpp.Llama(model_path=params.model_path, n_ctx=params.n_ctx,
                                       n_threads=params.n_threads, n_gpu_layers=params.n_gpu_layers,
                                       seed=params.seed, verbose=False)
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelUnusable(f"model file {model} is unusable ({error}); check llm.model_path") \
                from error
        LlamaBackend.loads += 1
        self.params = params
        self.chat_template = self.llm.metadata.get("tokenizer.chat_template") or None

    def close(self) -> None:
        """Free the model now rather than whenever the garbage collector runs."""
        if self.llm is not None:
            self.llm.close()
        self.llm, self.params, self.chat_template = None, None, None
        self._grammars.clear()

    def _require(self) -> Any:
        if self.llm is None:
            raise BrainError("the local model is not loaded (set llm.model_path)")
        return self.llm

    def _grammar(self, schema: dict[str, Any]) -> str:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            # Stated facts change the schema per request; keep a few, not every one ever seen.
            if len(self._grammars) > 32:
                self._grammars.clear()
            self._grammars[key] = json_schema_to_gbnf(json.dumps(schema))
        return self._grammars[key]

    def intent_prompt(self, text: str) -> list[int]:
        """Prompt tokens: the GGUF's chat template when it has one, else the few-shot completion."""
        llm = self._require()
        if self.chat_template is None:
            return list(llm.tokenize(completion_prompt(text).encode(), add_bos=True))
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def special(token: int) -> str:
            return bytes(llm.detokenize([token], special=True)).decode(errors="replace")

        formatter = Jinja2ChatFormatter(self.chat_template, eos_token=special(llm.token_eos()),
                                        bos_token=special(llm.token_bos()))
        messages: Any = chat_messages(text)  # plain dicts are what the TypedDicts describe
        prompt = formatter(messages=messages).prompt
        return list(llm.tokenize(prompt.encode(), add_bos=False, special=True))

    def complete(self, prompt: str, max_tokens: int, seed: int = 0,
                 on_text: Callable[[str], None] | None = None) -> Generation:
        """Plain greedy completion of prompt (the `llm` job kind), streamed: `on_text` hears
        each piece of text as it is generated. A piece is one token, except where a character
        spans tokens (llama.cpp holds those back until the character is whole), so the count
        is of pieces."""
        llm = self._require()
        started = time.perf_counter()
        pieces: list[str] = []
        for chunk in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0,
                                           seed=seed, stream=True):
            if text := chunk["choices"][0]["text"]:
                pieces.append(text)
                if on_text is not None:
                    on_text(text)
        return Generation("".join(pieces), len(pieces), time.perf_counter() - started)

    def intent_json(self, text: str, schema: dict[str, Any], max_tokens: int,
                    seed: int = 0) -> Generation:
        """The intent as JSON text, greedy under the schema's grammar (the seed is not needed)."""
        llm = self._require()
        started = time.perf_counter()
        prompt = self.intent_prompt(text)
        room = llm.n_ctx() - len(prompt)
        if room < MIN_ANSWER_TOKENS:
            raise BadModelAnswer(f"the prompt takes {len(prompt)} of llm.n_ctx {llm.n_ctx()} tokens, "
                                 f"leaving under {MIN_ANSWER_TOKENS} for the answer")
        tokens = greedy_with_grammar(llm, prompt, self._grammar(schema), min(max_tokens, room))
        text_out = bytes(llm.detokenize(tokens)).decode("utf-8", errors="replace")
        return Generation(text_out, len(tokens), time.perf_counter() - started, len(prompt))
