"""All settings in one typed place: env vars `RAG_*`, a `.env` file, then these defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LlmChoice = Literal["auto", "local", "openai", "extractive"]
EmbeddingChoice = Literal["local", "openai", "openai-compatible"]
EmbedPrecision = Literal["bf16", "fp32"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- corpus and store ---------------------------------------------------------------
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    index_dir: Path = PROJECT_ROOT / "index"
    collection: str = "seeds"
    chroma_host: str | None = None
    chroma_port: int = 8000

    # --- chunking: all-MiniLM-L6-v2 reads 256 word pieces, so chunks (plus the title line
    # that is embedded with them) must stay below that or their tail is never embedded. ----
    chunk_size: int = Field(200, ge=32, description="chunk size in embedding-model tokens")
    chunk_overlap: int = Field(30, ge=0)

    # --- embeddings ---------------------------------------------------------------------
    embedding: EmbeddingChoice = "local"
    # Texts per model call: with bf16 on AMX, 64 fills the matrix units better than 32.
    embed_batch_size: int = 64
    # bf16: the local model's matrix products in bf16 (autocast), faster on CPUs with AMX /
    # AVX-512 BF16, same retrieval quality (docs/benchmarks.md); CPUs without them use fp32.
    embed_precision: EmbedPrecision = "bf16"
    # Chunks embedded then written to the store together: the most a killed `rag index` redoes.
    embed_write_batch: int = Field(256, ge=1)
    openai_embedding_model: str = "text-embedding-3-small"
    # RAG_EMBEDDING=openai-compatible: any server of the OpenAI embeddings API (Infinity, vLLM,
    # TEI, Ollama, OpenAI). Several base URLs, comma-separated, take the requests in turn.
    embedding_base_url: str | None = None
    embedding_model: str | None = None
    embedding_api_key: SecretStr | None = None
    embedding_timeout: float = Field(60.0, gt=0, description="seconds for one batch, retries included")
    # Batches sent at once to the embedding server(s) by `rag index` (server backends only).
    embed_concurrency: int = Field(4, ge=1, le=64)

    # --- retrieval ----------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50)
    retrieval_mode: Literal["hybrid", "vector", "bm25"] = "hybrid"
    # Below this best passage score the corpus is taken not to hold the answer.
    # Scores are llama-index's exp(-cosine distance); calibrated on the seed and benchmark
    # questions (see docs/benchmarks.md).
    refusal_threshold: float = 0.45
    # What the model reads (rag/answering/reader.py): "articles", the best passage sentences
    # under their article's header (title, outlet, author, date); "sentences", the same
    # sentences bare; "passages", whole passages trimmed to reader_tokens in all; "A-then-B":
    # B only when A answered nothing or only restated the question. Measured in docs/benchmarks.md.
    reader: Literal[
        "articles", "sentences", "passages", "sentences-then-passages", "articles-then-passages"
    ] = "articles-then-passages"
    evidence_sentences: int = Field(8, ge=1, le=40)
    reader_tokens: int = Field(500, ge=100, le=3000)
    reader_passages: int = Field(4, ge=1, le=10)  # articles (or passages) the model reads at most

    debug: bool = Field(False, description="show the traceback of an unexpected error")

    # --- generation ---------------------------------------------------------------------
    llm: LlmChoice = "auto"
    llm_base_url: str | None = None
    llm_model: str = "local-model"
    llm_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str = Field("https://api.openai.com/v1", validation_alias="OPENAI_BASE_URL")
    openai_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(120.0, gt=0, description="seconds for one answer")
    max_answer_tokens: int = 160
    temperature: float = 0.0

    # --- the bundled local model (xllamacpp) ---------------------------------------------
    local_model: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] = "qwen2.5-coder-1.5b"
    model_cache_dir: Path = Path.home() / ".cache" / "rag-news" / "models"
    local_ctx: int = 4096
    local_threads: int = 2
    # llama.cpp's prompt reading (the slow part on a CPU): `rag bench llm --sweep` measures them.
    local_batch: int = Field(2048, ge=32)
    local_ubatch: int = Field(512, ge=32)
    local_flash_attn: Literal["auto", "on", "off"] = "auto"
    local_kv_cache: Literal["f16", "q8_0"] = "f16"

    # --- the web chat -------------------------------------------------------------------
    # "user:password" turns on Gradio's login page (the /ask API then needs it too).
    auth: SecretStr | None = None
    max_upload_mb: int = Field(64, ge=1, description="largest file the web chat accepts, in MB")

    # --- fetching feeds and article URLs (rag index URL, rag feeds, the web chat's URL field) --
    # The web chat fetches only when this is on; then only public addresses unless
    # fetch_allow_private (the CLI, run by the user on their own machine, may fetch any).
    allow_fetch: bool = False
    fetch_allow_private: bool = False
    fetch_timeout: float = Field(20.0, gt=0, description="seconds for one response, body included")
    fetch_max_bytes: int = Field(5 * 2**20, ge=1024, description="largest page or feed read, in bytes")
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    fetch_user_agent: str = "rag-news/0.1 (news question answering; feed and article indexer)"
    feed_max_entries: int = Field(100, ge=1, description="newest entries read from one feed")

    prompts_dir: Path = PROJECT_ROOT / "prompts"

    def login(self) -> tuple[str, str] | None:
        """RAG_AUTH as (user, password); None when the page is open to everyone on the host."""
        if self.auth is None:
            return None
        user, sep, password = self.auth.get_secret_value().partition(":")
        if not (sep and user.strip() and password):
            raise ConfigError("RAG_AUTH must be user:password (both non-empty), e.g. RAG_AUTH=analyst:s3cret")
        return user.strip(), password


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. from CLI flags) on top.

    A bad value stops with one line naming the variable, its value and what is allowed.
    """
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as err:
        raise ConfigError(describe_invalid(err)) from None


def env_name(field: str) -> str:
    """The environment variable a settings field is read from."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    return alias if isinstance(alias, str) else f"RAG_{field.upper()}"


def describe_invalid(err: ValidationError) -> str:
    """pydantic's report as `RAG_LLM='gpt9' is not allowed: input should be 'auto', … .`"""
    problems = []
    for problem in err.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        value = "(hidden)" if field in SECRET_FIELDS else repr(problem.get("input"))
        rule = str(problem["msg"])
        rule = rule[:1].lower() + rule[1:]
        problems.append(f"{env_name(field)}={value} is not allowed: {rule}")
    return "; ".join(problems) + "."


SECRET_FIELDS = frozenset({"llm_api_key", "openai_api_key", "embedding_api_key", "auth"})
