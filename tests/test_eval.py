"""`rag eval` end to end on the seed and hand-made articles: real Chroma, real embeddings,
the extractive backend (no LLM) for speed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rag.apps.cli.main import app
from rag.errors import UsageError
from rag.evaluation.evaluator import EvalOptions, Evaluation
from rag.evaluation.questions import Question, load_questions
from rag.evaluation.results import ResultRecord
from rag.evaluation.run_dir import read_results
from rag.evaluation.runner import run_eval
from rag.service import RagService
from rag.settings import Settings
from rag.types import Filters

from .conftest import BENCHMARKS, DATA, make_settings

QUESTIONS = DATA / "questions.jsonl"
COLLECTION = "evaltest"
VALID_IDS = ["ganja", "ruapehu", "bridge", "wheat", "worldcup"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The seed and the hand-made articles, indexed once for the module."""
    from .conftest import SEED_FILE

    root = tmp_path_factory.mktemp("eval")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_FILE, corpus / SEED_FILE.name)
    for file in (DATA / "articles").iterdir():
        shutil.copy(file, corpus / file.name)
    settings = make_settings(root, llm="extractive", collection=COLLECTION)
    report = RagService(settings).index([corpus], show_progress=False)
    assert report.added == 5
    return settings


def options(out: Path, **changes: Any) -> EvalOptions:
    return EvalOptions(
        questions_file=QUESTIONS, out=out, progress=False, runs_dir=out.parent / "runs", **changes
    )


@pytest.fixture(scope="module")
def first_run(indexed: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "first"
    run_eval(indexed, options(out))
    return out


# --- question files ------------------------------------------------------------------------


def test_bad_lines_are_reported_with_their_line_number_and_skipped() -> None:
    loaded = load_questions(QUESTIONS)
    assert [str(problem).split(": ", 1)[0] for problem in loaded.problems] == [
        f"{QUESTIONS}:4",
        f"{QUESTIONS}:6",
    ]
    assert "invalid JSON" in str(loaded.problems[0]) and "no 'question'" in str(loaded.problems[1])
    assert [q.id for q in loaded.questions][:5] == VALID_IDS


def test_question_fields_and_aliases() -> None:
    by_id = {question.id: question for question in load_questions(QUESTIONS).questions}
    assert by_id["ruapehu"].answers == ("1200",)  # `answer`
    assert by_id["bridge"].answers == ("300 million euros",)  # `answer_text`
    assert by_id["wheat"].date == "2022-09-05"  # `question_date`, normalised
    assert by_id["worldcup"].unanswerable and by_id["worldcup"].answers == ()
    chess = next(q for q in by_id.values() if q.id.startswith("q-"))  # no id: derived from the text
    assert chess.answers == ("15",) and chess.choices == ("12", "15", "17", "19")  # answer_idx
    assert not chess.unanswerable


def test_json_csv_and_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "q.json").write_text(
        '[\n  {"question": "One?", "answers": ["1"]},\n  {"answers": ["2"]},\n'
        '  {"question": "Three?", "answer": 3, "gold_doc_ids": "d3"}\n]\n'
    )
    loaded = load_questions(tmp_path / "q.json")
    assert [q.question for q in loaded.questions] == ["One?", "Three?"]
    assert loaded.questions[1].answers == ("3",) and loaded.questions[1].gold_doc_ids == ("d3",)
    assert [problem.line for problem in loaded.problems] == [3]

    (tmp_path / "q.csv").write_text(
        "id,question,answers,gold_doc_ids,unanswerable\n"
        'a,"Who, then?",Ann | Anna,"[""d1"", ""d2""]",\n'
        "b,Nobody?,,,true\n"
        "c,Bad?,,,maybe\n"
    )
    loaded = load_questions(tmp_path / "q.csv")
    first, second = loaded.questions
    assert first.answers == ("Ann", "Anna") and first.gold_doc_ids == ("d1", "d2")
    assert second.unanswerable
    assert [problem.line for problem in loaded.problems] == [4]

    (tmp_path / "q.yaml").write_text(
        "- question: First?\n  answers: [ten]\n- question: Second?\n  answers:\n    - ok\n- 42\n"
    )
    loaded = load_questions(tmp_path / "q.yaml")
    assert [q.line for q in loaded.questions] == [1, 3]
    assert [problem.line for problem in loaded.problems] == [6]


def test_duplicate_ids_and_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "dup.jsonl").write_text('{"id": "a", "question": "Q1?"}\n{"id": "a", "question": "Q2?"}\n')
    loaded = load_questions(tmp_path / "dup.jsonl")
    assert len(loaded.questions) == 1 and "duplicate id 'a'" in str(loaded.problems[0])
    (tmp_path / "broken.json").write_text('[{"question": "x"},')
    with pytest.raises(UsageError, match="invalid JSON"):
        load_questions(tmp_path / "broken.json")
    with pytest.raises(UsageError, match="unsupported"):
        load_questions(DATA / "articles" / "volcano.md")


@pytest.mark.skipif(not (BENCHMARKS / "realtimeqa").exists(), reason="no shared benchmark data")
def test_realtimeqa_question_file_loads_as_it_is() -> None:
    loaded = load_questions(BENCHMARKS / "realtimeqa" / "questions_dev.jsonl")
    assert loaded.problems == [] and len(loaded.questions) == 104
    first = loaded.questions[0]
    assert first.id == "20220617_0" and first.answers == ("“Squid Game”",)
    assert len(first.choices) == 4 and first.gold_doc_ids and first.date == "2022-06-16"


# --- a run ---------------------------------------------------------------------------------


def test_run_writes_results_and_reports(first_run: Path) -> None:
    assert {"results.jsonl", "report.json", "report.md", "report.html", "run.json"} <= {
        path.name for path in first_run.iterdir()
    }
    results = read_results(first_run / "results.jsonl")
    assert [record["id"] for record in results][:5] == VALID_IDS and len(results) == 6
    for record in results:
        assert {"id", "question", "answer", "refused", "citations", "retrieved", "metrics", "error"} <= set(
            record
        )
        assert record["error"] is None
        assert 0 < len(record["retrieved"]) <= 10
        assert set(record["retrieved"][0]) >= {"doc_id", "score"}
    ganja = results[0]
    assert ganja["retrieved"][0]["doc_id"] == "000_fdd942f0bee30b84.txt"
    assert ganja["metrics"]["hit@1"] == 1.0 and ganja["metrics"]["mrr@10"] == 1.0
    assert ganja["metrics"]["strict"] == 1.0  # "killing ten civilians" = "10"
    assert ganja["metrics"]["evidence_recall"] == 1.0
    assert ganja["metrics"]["citations_valid"] == 1.0 and ganja["metrics"]["citation_precision"] == 1.0
    assert "killing ten civilians" in ganja["citations"][0]["quote"]
    worldcup = results[4]
    assert worldcup["refused"] and worldcup["metrics"]["refusal_correct"] == 1.0
    assert worldcup["metrics"]["hit@1"] is None  # no gold ids: not scored


def test_report_json_has_the_documented_fields(first_run: Path) -> None:
    report = json.loads((first_run / "report.json").read_text())
    assert report["count"] == 6
    metrics = report["metrics"]
    assert set(metrics["retrieval"]) >= {"hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "evidence_recall"}
    assert set(metrics["answer"]["accuracy"]) == {"strict", "judged"}
    assert set(metrics["refusal"]) >= {"unanswerable_refused", "answerable_answered"}
    assert set(metrics["citations"]) == {"valid", "precision"}
    assert set(metrics["latency_ms"]) == {"retrieve", "first_token", "total"}
    assert set(metrics["latency_ms"]["total"]) == {"p50", "p95"}
    assert metrics["retrieval"]["hit@10"] == 1.0 and metrics["citations"]["valid"] == 1.0
    assert report["settings"]["k"] == 5 and report["settings"]["llm"] == "extractive"
    assert report["corpus"]["collection"] == COLLECTION and report["corpus"]["articles"] == 5
    assert report["model"]["backend"] == "extractive"
    assert [problem.split(": ")[0] for problem in report["problems"]] == [f"{QUESTIONS}:4", f"{QUESTIONS}:6"]


def test_markdown_and_html_reports(first_run: Path) -> None:
    markdown = (first_run / "report.md").read_text()
    assert "| retrieval | hit@1 | 1.000 |" in markdown and "Failed questions" in markdown
    page = (first_run / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "<style>" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page  # self-contained


def test_html_escapes_all_text(indexed: Settings, tmp_path: Path) -> None:
    questions = tmp_path / "nasty.jsonl"
    questions.write_text(
        json.dumps(
            {"id": "<b>x</b>", "question": "<script>alert(1)</script> Ganja?", "answers": ["<i>never</i> 12"]}
        )
        + "\n"
    )
    out = tmp_path / "run"
    run_eval(indexed, EvalOptions(questions_file=questions, out=out, progress=False))
    page = (out / "report.html").read_text()
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "&lt;i&gt;never&lt;/i&gt; 12" in page


def test_retrieval_only(indexed: Settings, tmp_path: Path) -> None:
    outcome = run_eval(indexed, options(tmp_path / "ro", retrieval_only=True))
    metrics = outcome.report["metrics"]
    assert "answer" not in metrics and metrics["retrieval"]["hit@1"] == 1.0
    assert set(metrics["latency_ms"]) == {"retrieve"}
    record = read_results(tmp_path / "ro" / "results.jsonl")[0]
    assert record["answer"] == "" and "strict" not in record["metrics"]


def test_run_filters_narrow_every_question(indexed: Settings, tmp_path: Path) -> None:
    """`rag eval --source/--since/--until`: the filters go into every question's search."""
    river = Filters(sources=("River News",))
    outcome = run_eval(indexed, options(tmp_path / "river", retrieval_only=True, filters=river))
    records = {record["id"]: record for record in read_results(tmp_path / "river" / "results.jsonl")}
    retrieved = {hit["doc_id"] for record in records.values() for hit in record["retrieved"]}
    assert retrieved == {"bridge-001"}  # River News's only article on these questions
    assert records["bridge"]["metrics"]["hit@1"] == 1.0 and records["ganja"]["metrics"]["hit@10"] == 0.0
    assert outcome.report["settings"]["filters"]["sources"] == ["River News"]

    result = CliRunner().invoke(
        app,
        ["eval", str(QUESTIONS), "--retrieval-only", "--until", "2000-01-01", "--out", str(tmp_path / "cli")],
        env={"RAG_INDEX_DIR": str(indexed.index_dir), "RAG_COLLECTION": COLLECTION, "RAG_LLM": "extractive"},
    )
    assert result.exit_code == 1, result.output  # partial: the file's broken line
    dated = read_results(tmp_path / "cli" / "results.jsonl")
    assert all(hit["doc_id"] == "000_fdd942f0bee30b84.txt" for r in dated for hit in r["retrieved"])


def test_resume_skips_done_questions(
    indexed: Settings, first_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "resumed"
    out.mkdir()
    shutil.copy(first_run / "run.json", out / "run.json")
    lines = (first_run / "results.jsonl").read_text().splitlines()
    # A stale score (as from an older metric) is scored again from what the record holds.
    ganja = json.loads(lines[0])
    ganja["metrics"] |= {"strict": 0.0, "hit@1": 0.0, "evidence_recall": 0.5}
    lines[0] = json.dumps(ganja)
    # Two questions done, then a line torn by a kill mid-write.
    (out / "results.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    asked: list[str] = []
    original = Evaluation.evaluate

    def spy(self: Evaluation, question: Question) -> ResultRecord:
        asked.append(question.id)
        return original(self, question)

    monkeypatch.setattr(Evaluation, "evaluate", spy)
    outcome = run_eval(indexed, options(out))
    assert outcome.resumed == 2
    assert asked[:3] == VALID_IDS[2:] and asked[3].startswith("q-") and len(asked) == 4
    resumed = read_results(out / "results.jsonl")
    assert [record["id"] for record in resumed][:5] == VALID_IDS
    assert resumed[0]["metrics"]["strict"] == 1.0 and resumed[0]["metrics"]["hit@1"] == 1.0
    assert resumed[0]["metrics"]["evidence_recall"] == 0.5  # needs the passages: kept as stored
    assert outcome.report["count"] == 6
    asked.clear()
    run_eval(indexed, options(out, fresh=True))
    assert len(asked) == 6


def test_default_run_folder_resumes_an_unfinished_run(indexed: Settings, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = run_eval(indexed, EvalOptions(QUESTIONS, limit=2, progress=False, runs_dir=runs))
    assert first.out.parent == runs and first.report["count"] == 2
    second = run_eval(indexed, EvalOptions(QUESTIONS, progress=False, runs_dir=runs))
    assert second.out == first.out and second.resumed == 2 and second.report["count"] == 6
    third = run_eval(indexed, EvalOptions(QUESTIONS, progress=False, runs_dir=runs))
    assert third.out != first.out and third.resumed == 0  # the finished run is left alone


def test_other_settings_in_the_same_folder_need_fresh(
    indexed: Settings, first_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(first_run, out)
    with pytest.raises(UsageError, match="other settings"):
        run_eval(indexed, options(out, k=3))
    other = tmp_path / "other.jsonl"
    other.write_text('{"question": "Anything?", "answers": ["x"]}\n')
    with pytest.raises(UsageError, match="another question file"):
        run_eval(indexed, EvalOptions(questions_file=other, out=out, progress=False))


def test_a_failing_question_is_recorded_and_the_run_goes_on(indexed: Settings, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    long_question = "Why " + "very " * 500 + "long?"
    questions.write_text(
        json.dumps({"id": "long", "question": long_question, "answers": ["x"]})
        + "\n"
        + json.dumps({"id": "ok", "question": "How many civilians were killed in Ganja?", "answers": ["10"]})
        + "\n"
    )
    outcome = run_eval(indexed, EvalOptions(questions_file=questions, out=tmp_path / "run", progress=False))
    failed, ok = read_results(tmp_path / "run" / "results.jsonl")
    assert failed["error"] and "2,000" in failed["error"] and failed["metrics"]["strict"] == 0.0
    assert ok["error"] is None and ok["metrics"]["strict"] == 1.0
    assert outcome.report["metrics"]["errors"] == 1


def test_judge_needs_an_llm(indexed: Settings, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--judge needs an LLM"):
        run_eval(indexed, options(tmp_path / "j", judge=True))


# --- the command line ----------------------------------------------------------------------


def test_cli_eval_and_compare(
    indexed: Settings, first_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_INDEX_DIR", str(indexed.index_dir))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    runner = CliRunner()
    out = tmp_path / "k1"
    args = [
        "eval",
        str(QUESTIONS),
        "--collection",
        COLLECTION,
        "--llm",
        "extractive",
        "--k",
        "1",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 1, result.output  # partial: two input lines were skipped
    assert f"{QUESTIONS}:4: invalid JSON" in result.stderr
    assert "hit@1" in result.stdout and "report.html" in result.stdout

    compared = runner.invoke(app, ["eval", "compare", str(first_run), str(out)])
    assert compared.exit_code == 0, compared.output
    assert "delta" in compared.stdout and "retrieval.hit@1" in compared.stdout
    assert "changed k: 5 -> 1" in compared.stdout
    assert "6 questions in both runs" in compared.stdout

    missing = runner.invoke(app, ["eval", "compare", str(first_run), str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no report.json" in missing.stderr


def test_judging_the_answers_of_an_earlier_run(
    indexed: Settings, first_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `--judge` does to a finished run's answers when its command is run again."""
    from rag.evaluation.metrics.answers import JudgedAnswerMatch

    from .test_metrics import FakeLlm

    llm = FakeLlm("YES")
    judge = JudgedAnswerMatch(llm, lambda question, gold, answer: [])
    evaluation = Evaluation(indexed, options(first_run))
    evaluation.judging = True
    monkeypatch.setattr(evaluation, "judge", lambda: judge)
    questions = {question.id: question for question in load_questions(QUESTIONS).questions}
    records = read_results(first_run / "results.jsonl")
    todo = [record for record in records if evaluation.needs_judging(record)]
    assert "worldcup" not in [record["id"] for record in todo] and len(todo) == 5
    for record in todo:
        evaluation.judge_record(record, questions[record["id"]])
    by_id = {record["id"]: record["metrics"] for record in records}
    assert by_id["ganja"]["judged"] == 1.0  # a strict match: the judge is not asked
    assert by_id["ruapehu"]["strict"] == 0.0 and by_id["ruapehu"]["judged"] == 1.0
    assert len(llm.calls) == sum(1 for record in todo if record["metrics"]["strict"] == 0.0)


def test_a_new_judge_prompt_asks_the_judge_again(indexed: Settings, first_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "rejudge"
    shutil.copytree(first_run, out)
    state = json.loads((out / "run.json").read_text())
    state["settings"]["judge_prompts_sha256"] = "an older judge"
    (out / "run.json").write_text(json.dumps(state))
    records = read_results(out / "results.jsonl")
    for record in records:
        if record["metrics"].get("strict") is not None:
            record["metrics"]["judged"] = 1.0
    (out / "results.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    run_eval(indexed, options(out))
    judged = {record["id"]: record["metrics"] for record in read_results(out / "results.jsonl")}
    assert judged["ganja"]["strict"] == 1.0 and judged["ganja"]["judged"] == 1.0  # strict: stays right
    assert judged["ruapehu"]["strict"] == 0.0 and judged["ruapehu"]["judged"] is None  # to ask again
