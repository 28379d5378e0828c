"""The `rag` command: index, search, ask (and serve)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer
from typer.core import TyperGroup

from rag.errors import RagError, UsageError
from rag.inputs import check_collection_name, check_filters, check_question, existing_questions_file
from rag.settings import load_settings

if TYPE_CHECKING:  # the heavy stack (torch, chromadb, llama-index) loads only once input is checked
    from rag.answering.answerer import Answerer
    from rag.service import RagService
    from rag.types import Answer, Filters, Passage

app = typer.Typer(
    help="Question answering with cited passages over a corpus of news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
EXIT_PARTIAL = 1


class LlmOption(StrEnum):
    auto = "auto"
    local = "local"
    openai = "openai"
    extractive = "extractive"


CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Chroma collection [default: seeds]")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
KOpt = Annotated[int | None, typer.Option("--k", min=1, max=50, help="Passages to retrieve.")]
SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only this outlet (repeatable).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Published on or after YYYY-MM-DD.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Published on or before YYYY-MM-DD.")]


def friendly_errors(command: F) -> F:
    """One clear line and a non-zero exit instead of a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RagError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(err.exit_code) from None
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # the command's own exit code (partial: 1, LLM failed: 4), or click's usage errors
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as err:
            if _debug_requested():
                raise
            typer.echo(
                f"error: unexpected {type(err).__name__}: {err} (set RAG_DEBUG=1 for details)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_service(**overrides: object) -> RagService:
    """The pipeline for these settings (heavy imports happen here, after the input checks)."""
    settings = load_settings(**overrides)
    check_collection_name(settings.collection)
    from rag.service import RagService

    return RagService(settings)


def user_filters(source: list[str] | None, since: str | None, until: str | None) -> Filters | None:
    return check_filters(source, since, until)


def _debug_requested() -> bool:
    """RAG_DEBUG=1: the traceback instead of the one-line error (False when settings are bad)."""
    try:
        return load_settings().debug
    except RagError:
        return False


@app.command()
@friendly_errors
def index(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files, folders, or URLs of feeds and articles [default: seeds/]"),
    ] = None,
    collection: CollectionOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Index articles (txt, md, html, json, jsonl, csv; feed or article URLs); unchanged ones are skipped."""
    from rag.ingest.fetch import is_url

    service = open_service(collection=collection)
    urls = [target for target in paths or [] if is_url(target)]
    files = [Path(target) for target in paths or [] if not is_url(target)]
    if not paths:
        files = [service.settings.seeds_dir]
    missing = [str(path) for path in files if not path.exists()]
    if files and len(missing) == len(files) and not urls:
        raise UsageError(f"No such file or folder: {', '.join(missing)}")
    report = service.index(files, urls=urls, show_progress=not quiet)
    finish_index(service.settings.collection, report.summary(), report.problems)


def finish_index(collection: str, summary: str, problems: list[Any]) -> None:
    """The warnings, the summary line, and exit 1 ("partial") when anything was skipped."""
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    typer.echo(f"{collection}: {summary}")
    if problems:
        typer.echo(f"partial: {len(problems)} problem(s) above; the rest is indexed.", err=True)
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
@friendly_errors
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    as_json: JsonOpt = False,
    k: KOpt = None,
    collection: CollectionOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Retrieve passages only, in rank order (no answer)."""
    service = open_service(collection=collection)
    if not query.strip():
        raise UsageError("The query is empty.")
    passages = service.search(query, k, filters=user_filters(source, since, until))
    if as_json:
        typer.echo(json.dumps([passage.public() for passage in passages], ensure_ascii=False, indent=2))
        return
    if not passages:
        typer.echo("No passages found.")
    for rank, passage in enumerate(passages, start=1):
        typer.echo(f"{rank}. {describe(passage)} score {passage.score:.3f}")
        typer.echo(f"   {' '.join(passage.text.split())[:400]}\n")


@app.command()
@friendly_errors
def ask(
    question: Annotated[str, typer.Argument(help="A question about the articles.")],
    as_json: JsonOpt = False,
    k: KOpt = None,
    llm: Annotated[LlmOption | None, typer.Option("--llm", help="Generator [default: auto]")] = None,
    collection: CollectionOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Answer a question with [n] markers tied to verbatim, attributed quotes."""
    question = check_question(question)  # before any model loads: a bad question answers at once
    filters = user_filters(source, since, until)
    with open_service(collection=collection, llm=llm.value if llm else None) as service:
        answer, printed = stream_answer(service, question, k or service.settings.top_k, filters, as_json)
    if as_json:
        typer.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
    else:
        print_answer_tail(answer, printed)
    if answer.error:
        raise typer.Exit(4)


def stream_answer(
    service: RagService, question: str, k: int, filters: Filters | None, quiet: bool
) -> tuple[Answer, bool]:
    """The answer, its sentences printed as they are written (unless `quiet`), and whether any was."""
    from rag.types import Done, Retrieved, Sentence

    answer: Answer | None = None
    printed = False
    for event in service.answerer().stream(question, k=k, filters=filters):
        if isinstance(event, Sentence) and not quiet:
            typer.echo(("" if not printed else " ") + event.text, nl=False)
            printed = True
        elif isinstance(event, Retrieved) and not quiet and not event.passages:
            typer.echo("The collection is empty: run `rag index` first.", err=True)
        elif isinstance(event, Done):
            answer = event.answer
    assert answer is not None
    return answer, printed


@app.command()
@friendly_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    collection: CollectionOpt = None,
    llm: Annotated[LlmOption | None, typer.Option("--llm", help="Generator [default: auto]")] = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """Start the web chat (indexes seeds/ first when the collection is empty)."""
    from rag.apps.web.app import serve as serve_web  # gradio is slow to import: only for this command

    with open_service(collection=collection, llm=llm.value if llm else None) as service:
        serve_web(service, host=host, port=port, open_browser=open_browser)


def print_answer_tail(answer: Answer, printed: bool) -> None:
    if printed:
        typer.echo("")
    if answer.error and not answer.citations:
        typer.echo(f"error: {answer.error}", err=True)
        if answer.passages:
            typer.echo("\nRetrieved passages (not an answer):")
            for rank, passage in enumerate(answer.passages, start=1):
                typer.echo(f"  {rank}. {describe(passage)}")
        return
    if answer.refused:
        typer.echo(answer.answer)
        return
    typer.echo("\nSources:")
    for citation in answer.citations:
        typer.echo(f"[{citation.n}] “{citation.quote}”")
        details = ", ".join(
            part for part in (citation.title, citation.source, citation.author, citation.published) if part
        )
        typer.echo(f"    — {details}")
        typer.echo(f"    {citation.url or '(no URL)'}  doc_id: {citation.doc_id}")
    if answer.error:  # cut off mid-answer: the finished sentences and their sources stand
        typer.echo(f"error: {answer.error} The answer above is incomplete.", err=True)
        return
    typer.echo(f"\n({answer.llm.label()}; {answer.timings.get('total_ms', 0) / 1000:.1f} s)", err=True)


class BriefFormat(StrEnum):
    md = "md"
    html = "html"
    docx = "docx"


@app.command()
@friendly_errors
def brief(
    questions: Annotated[
        list[str],
        typer.Argument(
            help="Questions, or files of them: .txt one a line; .jsonl/.json/.csv/.yaml with a "
            "'question' field; - reads lines from standard input. One briefing, a section each.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        BriefFormat | None,
        typer.Option("--format", "-f", help="md, html or docx (default: --out's suffix, else md)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write here (default: standard output; docx needs a file)."),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="The header's title (default: News briefing).")
    ] = None,
    k: KOpt = None,
    llm: Annotated[LlmOption | None, typer.Option("--llm", help="Generator [default: auto]")] = None,
    collection: CollectionOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Answer questions into a briefing (md, html, docx): answers with verbatim, attributed quotes."""
    from rag.briefings.model import build_briefing
    from rag.briefings.output import format_for, render_text, write_briefing
    from rag.briefings.questions import questions_from_args

    chosen = format_for(out, fmt.value if fmt else None)
    if chosen == "docx" and out is None:
        raise UsageError("--format docx writes a file: add --out briefing.docx")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: there is no folder {out.parent}")
    loaded = questions_from_args(questions)
    for problem in loaded.problems:
        typer.echo(f"warning: {problem}", err=True)
    if not loaded.questions:
        raise UsageError("No questions to brief (see the warnings above).")
    filters = user_filters(source, since, until)
    with open_service(collection=collection, llm=llm.value if llm else None) as service:
        settings = service.settings
        answerer = service.answerer()
        answers = [
            brief_one(answerer, question, number, len(loaded.questions), k or settings.top_k, filters)
            for number, question in enumerate(loaded.questions, start=1)
        ]
    if not any(answer.passages for answer in answers):
        typer.echo("The collection is empty: run `rag index` first.", err=True)
    briefing = build_briefing(
        answers, collection=settings.collection, title=title, model=answerer.info.label()
    )
    if out is None:
        typer.echo(render_text(briefing, chosen), nl=False)
    else:
        write_briefing(briefing, chosen, out)
        typer.echo(f"wrote {out} ({chosen}, {len(answers)} question(s))", err=True)
    failed = [answer for answer in answers if answer.error]
    if failed:
        typer.echo(f"error: {len(failed)} question(s) could not be answered: {failed[0].error}", err=True)
        raise typer.Exit(4)
    if loaded.problems:
        typer.echo(f"partial: {len(loaded.problems)} problem(s) above; the rest is briefed.", err=True)
        raise typer.Exit(EXIT_PARTIAL)


def brief_one(
    answerer: Answerer, question: str, number: int, total: int, k: int, filters: Filters | None
) -> Answer:
    answer = answerer.ask(question, k=k, filters=filters)
    status = "error" if answer.error else "refused" if answer.refused else "answered"
    seconds = answer.timings.get("total_ms", 0) / 1000
    typer.echo(f"[{number}/{total}] {status} ({seconds:.1f} s): {question}", err=True)
    return answer


feeds_app = typer.Typer(
    help="Feeds a collection follows: add, list, refresh (conditional GET), remove.", no_args_is_help=True
)
app.add_typer(feeds_app, name="feeds")
FeedUrlArg = Annotated[str, typer.Argument(help="The feed's URL (RSS or Atom).", show_default=False)]


@feeds_app.command("add")
@friendly_errors
def feeds_add(
    url: FeedUrlArg,
    collection: CollectionOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Follow a feed and index its articles now."""
    service = open_service(collection=collection)
    report = service.add_feed(url, show_progress=not quiet)
    if url.strip() in service.followed_feeds():
        typer.echo(f"following {url.strip()}", err=True)
    finish_index(service.settings.collection, report.summary(), report.index.problems)


@feeds_app.command("list")
@friendly_errors
def feeds_list(collection: CollectionOpt = None) -> None:
    """The feeds the collection follows, with their article counts and last check."""
    service = open_service(collection=collection)
    feeds = service.followed_feeds()
    if not feeds:
        typer.echo(f"{service.settings.collection}: no feeds (add one with `rag feeds add URL`)")
        return
    for url, record in sorted(feeds.items()):
        title = f"  {record.title}" if record.title else ""
        typer.echo(f"{url}{title}")
        typer.echo(
            f"    {len(record.doc_ids)} article(s); checked {record.checked or 'never'}: "
            f"{record.status or 'not yet'}"
        )


@feeds_app.command("refresh")
@friendly_errors
def feeds_refresh(
    collection: CollectionOpt = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Refresh again after this long, until Ctrl-C: 90s, 15m, 1h.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fetch the followed feeds (unchanged ones cost a 304) and index new and edited articles."""
    import time
    from datetime import datetime

    interval = parse_interval(every) if every else None
    service = open_service(collection=collection)
    name = service.settings.collection
    if interval is None:
        report = service.refresh_feeds(show_progress=not quiet)
        finish_index(name, report.summary(), report.index.problems)
        return
    while True:  # Ctrl-C: friendly_errors prints "interrupted" and exits 130
        report = service.refresh_feeds(show_progress=False)
        for problem in report.index.problems:
            typer.echo(f"warning: {problem}", err=True)
        typer.echo(f"{datetime.now():%Y-%m-%d %H:%M:%S} {name}: {report.summary()}")
        time.sleep(interval)


def parse_interval(text: str) -> float:
    """Seconds in `90`, `90s`, `15m`, `1h` (at least 1 s)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text.lower())
    if not match or float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]] < 1:
        raise UsageError(f"--every {text!r} is not a duration: use e.g. 90s, 15m or 1h.")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


@feeds_app.command("remove")
@friendly_errors
def feeds_remove(url: FeedUrlArg, collection: CollectionOpt = None) -> None:
    """Stop following a feed and delete its articles (not those another followed feed brought)."""
    service = open_service(collection=collection)
    removal = service.remove_feed(url)
    kept = f"; {removal.kept} kept (also in another followed feed)" if removal.kept else ""
    typer.echo(
        f"{service.settings.collection}: no longer following {url.strip()}; "
        f"{removal.articles} article(s) removed ({removal.chunks} chunks){kept}"
    )


def describe(passage: Passage) -> str:
    parts = [passage.title or passage.doc_id, passage.source, passage.published]
    return " · ".join(part for part in parts if part)


class EvalGroup(TyperGroup):
    """`rag eval FILE ...` runs an evaluation (the `run` command); `rag eval compare A B` compares."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=EvalGroup,
    no_args_is_help=True,
    help="Scripted evaluation: `rag eval QUESTIONS_FILE` (options: rag eval run --help), "
    "`rag eval compare RUN_A RUN_B`.",
)
app.add_typer(eval_app, name="eval")


@eval_app.command("run")
@friendly_errors
def eval_run(
    questions_file: Annotated[
        Path, typer.Argument(help="Questions: .jsonl, .json (a list), .csv or .yaml", show_default=False)
    ],
    collection: CollectionOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default: runs/TIMESTAMP/).")
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", min=1, max=50, help="Passages the answer is made from (default: 5).")
    ] = None,
    llm: Annotated[LlmOption | None, typer.Option("--llm", help="Generator (default: auto).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over instead of resuming.")] = False,
    judge: Annotated[
        bool, typer.Option("--judge", help="Also let the LLM judge answers that strict matching misses.")
    ] = False,
    retrieval_only: Annotated[
        bool, typer.Option("--retrieval-only", help="Retrieve only: retrieval metrics, no answers (fast).")
    ] = False,
    no_dates: Annotated[
        bool, typer.Option("--no-dates", help="Ignore question dates (normally: no later news).")
    ] = False,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a question set; score retrieval, answers, refusals, citations; write the reports.

    --source/--since/--until narrow the search for every question, as in `rag ask`."""
    existing_questions_file(questions_file)
    from rag.evaluation.evaluator import EvalOptions
    from rag.evaluation.report import format_summary
    from rag.evaluation.runner import run_eval

    settings = load_settings(collection=collection, llm=llm.value if llm else None)
    options = EvalOptions(
        questions_file=questions_file,
        out=out,
        k=k,
        limit=limit,
        fresh=fresh,
        judge=judge,
        retrieval_only=retrieval_only,
        use_dates=not no_dates,
        progress=not quiet,
        filters=user_filters(source, since, until),
    )
    outcome = run_eval(settings, options, log=lambda text: typer.echo(text, err=True))
    typer.echo(format_summary(outcome.report))
    typer.echo(f"\n{outcome.report['count']} questions; reports in {outcome.out}/ (report.html, report.md)")
    errors = outcome.report["metrics"].get("errors", 0)
    if errors or outcome.problems:
        typer.echo(
            f"partial: {errors} question(s) failed (see results.jsonl), "
            f"{len(outcome.problems)} input line(s) skipped.",
            err=True,
        )
        raise typer.Exit(EXIT_PARTIAL)


@eval_app.command("compare")
@friendly_errors
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="The earlier run folder.", show_default=False)],
    run_b: Annotated[Path, typer.Argument(help="The later run folder.", show_default=False)],
) -> None:
    """Metric deltas (B - A) and the questions that flipped between two runs."""
    from rag.evaluation.compare import compare_runs
    from rag.evaluation.report import format_comparison

    typer.echo(format_comparison(compare_runs(run_a, run_b)))


bench_app = typer.Typer(help="Benchmarks that print figures measured in one run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("retrieval")
@friendly_errors
def bench_retrieval_command(
    questions_file: Annotated[Path, typer.Argument(help="Questions with gold_doc_ids (JSONL, …).")],
    collection: CollectionOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N.")] = None,
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
    from rag.evaluation.questions import load_questions

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
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N.")] = None,
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
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N.")] = None,
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
    from rag.apps.web.app import build_app, ensure_indexed, launch, warm_up
    from rag.bench.load import bench_load
    from rag.net import free_port

    service = open_service(collection=collection, llm="extractive")
    ensure_indexed(service)
    warm_up(service)
    demo = build_app(service)
    port = free_port()
    launch(demo, "127.0.0.1", port, settings=service.settings, prevent_thread_lock=True, quiet=True)
    try:
        table, notes, errors = bench_load(
            f"http://127.0.0.1:{port}/", read_questions(questions_file, None), users, questions, timeout
        )
    finally:
        demo.close()
    print_table(table, notes, f"rag bench load --users {users} --questions {questions}")
    if errors:
        raise typer.Exit(1)


def main() -> None:
    # SIGTERM unwinds like Ctrl-C (exit 143), so every `with RagService` stops the local model.
    signal.signal(signal.SIGTERM, terminate)
    app()


def terminate(signum: int, frame: object) -> None:
    typer.echo("terminated", err=True)
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
