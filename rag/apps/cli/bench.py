"""`rag bench`: benchmarks that print the figures one run measured.

Retrieval quality, embedding throughput, retrieval latency, the local model's speed, peak
memory, and many users at once on the web app. Each command gathers its inputs (a questions
file or three seed questions, the collection), hands them to rag.bench, and prints the table
under the command line that reproduces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.apps.cli.common import CollectionOpt, friendly_errors, open_service
from rag.inputs import existing_questions_file
from rag.settings import load_settings

bench_app = typer.Typer(help="Benchmarks that print figures measured in one run.", no_args_is_help=True)
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N.")]


@bench_app.command("retrieval")
@friendly_errors
def bench_retrieval_command(
    questions_file: Annotated[Path, typer.Argument(help="Questions with gold_doc_ids (JSONL, …).")],
    collection: CollectionOpt = None,
    limit: LimitOpt = None,
) -> None:
    """hit@k, MRR@10, answer-in-top-5 and latency: BM25, vector, hybrid and shipped, side by side."""
    existing_questions_file(questions_file)
    from rag.bench.retrieval import HEADER, bench_retrieval, markdown_table

    service = open_service(collection=collection)
    rows, count = bench_retrieval(questions_file, service.retriever(), limit)
    typer.echo(f"{count} questions, collection {service.settings.collection!r}, top 10 per question\n")
    typer.echo(markdown_table(HEADER, rows))


def print_table(table: tuple[list[str], list[list[str]]], notes: list[str], command: str) -> None:
    from rag.bench.retrieval import markdown_table

    typer.echo(f"$ {command}\n")
    for note in notes:
        typer.echo(note)
    typer.echo("")
    typer.echo(markdown_table(*table))


SEED_QUESTIONS = [
    "How many civilians were killed in the attack on Ganja on October 11?",
    "Which city did Armenia attack with a missile on October 11?",
    "What did the Azerbaijani armed forces say they act within?",
]
QuestionsArg = Annotated[
    Path | None, typer.Argument(help="Questions file (JSONL, txt, …) [default: three seed questions]")
]


def read_questions(questions_file: Path | None, limit: int | None) -> list[str]:
    if questions_file is None:
        return SEED_QUESTIONS[:limit]
    existing_questions_file(questions_file)
    from rag.evaluation.runner import load_questions

    return [question.question for question in load_questions(questions_file).questions[:limit]]


@bench_app.command("embed")
@friendly_errors
def bench_embed_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="Articles to sample [default: seeds/]")] = None,
    chunks: Annotated[int, typer.Option("--chunks", min=8, help="Chunks in the sample.")] = 1000,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Interleaved rounds.")] = 2,
    server: Annotated[
        str | None,
        typer.Option("--server", help="An embedding server's base URL (…/v1): chunks/s at 1, 2, 4 at once."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="The server's model [default: RAG_EMBEDDING_MODEL or all-MiniLM-L6-v2]"),
    ] = None,
) -> None:
    """Embedding throughput of the model alone vs `rag index` on the same chunks, fp32 vs shipped;
    with --server, through an embedding server beside the in-process model."""
    from rag.bench.speed import bench_embed, bench_embed_server
    from rag.store.embedding import LOCAL_MODEL_ID

    settings = load_settings()
    targets = paths or [settings.seeds_dir]
    names = " ".join(str(path) for path in targets)
    if server:
        name = model or settings.embedding_model or LOCAL_MODEL_ID
        table, notes = bench_embed_server(targets, settings, server, name, chunks, rounds)
        command = f"rag bench embed {names} --server {server} --chunks {chunks} --rounds {rounds}"
        print_table(table, notes, command)
        return
    table, notes = bench_embed(targets, settings, chunks, rounds)
    print_table(table, notes, f"rag bench embed {names} --chunks {chunks} --rounds {rounds}")


@bench_app.command("latency")
@friendly_errors
def bench_latency_command(
    questions_file: QuestionsArg = None,
    collection: CollectionOpt = None,
    limit: LimitOpt = None,
) -> None:
    """Retrieval latency p50/p95 (question in, passages out, no LLM) and its parts."""
    from rag.bench.speed import bench_latency

    service = open_service(collection=collection)
    questions = read_questions(questions_file, limit)
    table, notes = bench_latency(questions, service.retriever(), service.embed_model, service.settings)
    where = f" {questions_file}" if questions_file else ""
    print_table(table, notes, f"rag bench latency{where} --collection {service.settings.collection}")


@bench_app.command("llm")
@friendly_errors
def bench_llm_command(
    questions_file: QuestionsArg = None,
    collection: CollectionOpt = None,
    limit: LimitOpt = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Compare llama.cpp options.")] = False,
) -> None:
    """The local model: time to first token (question in) and tokens/s at the default context.

    --sweep: prompt and decode speed under several llama.cpp options, and whether the answers stay."""
    from rag.bench.llm import bench_llm, bench_llm_sweep

    questions = read_questions(questions_file, limit)
    with open_service(collection=collection, llm="local") as service:
        table, notes = (bench_llm_sweep if sweep else bench_llm)(service, questions)
    where = f" {questions_file}" if questions_file else ""
    flags = f"{' --limit ' + str(limit) if limit else ''}{' --sweep' if sweep else ''}"
    print_table(table, notes, f"rag bench llm{where} --collection {service.settings.collection}{flags}")


@bench_app.command("memory")
@friendly_errors
def bench_memory_command(
    corpus: Annotated[Path | None, typer.Argument(help="Articles to index [default: seeds/]")] = None,
) -> None:
    """Peak memory of `rag index`, `rag ask` and `rag serve`, each in its own process."""
    from rag.bench.memory import bench_memory

    settings = load_settings()
    target = corpus or settings.seeds_dir
    table, notes = bench_memory(settings, target, SEED_QUESTIONS[0])
    print_table(table, notes, f"rag bench memory {target}")


@bench_app.command("load")
@friendly_errors
def bench_load_command(
    questions_file: QuestionsArg = None,
    users: Annotated[int, typer.Option("--users", min=1, max=60, help="Simulated users at once.")] = 20,
    questions: Annotated[int, typer.Option("--questions", min=1, help="Questions per user.")] = 5,
    collection: CollectionOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds for the whole test.")] = 300,
) -> None:
    """N users asking through the web app's /ask at once (127.0.0.1, extractive answers)."""
    from rag.apps.web.app import serving_in_background
    from rag.bench.load import bench_load

    service = open_service(collection=collection, llm="extractive")
    with serving_in_background(service) as url:
        table, notes, errors = bench_load(
            url, read_questions(questions_file, None), users, questions, timeout
        )
    print_table(table, notes, f"rag bench load --users {users} --questions {questions}")
    if errors:
        raise typer.Exit(1)
