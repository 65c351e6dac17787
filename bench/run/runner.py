"""One run, start to finish: resolve, record, load, tokenize, train, score, store.

The run row is written as ``running`` before any work and always closed as
``finished``, ``failed`` (with the error) or ``interrupted`` (Ctrl-C), so a crash never
loses what was measured so far; per-epoch metrics are committed as they come.
"""

from __future__ import annotations

import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import interrupts
from bench.api.contract_types import LogDestination, RunInfo, SplitEvaluation
from bench.api.model import LanguageModel, TrainingContext
from bench.api.plugin_host import PluginHost, check_loggers
from bench.configuration.options import Options
from bench.configuration.run_config import RunConfig, config_hash, log_destinations
from bench.corpora import CorpusText, load_corpus
from bench.errors import BenchError, CheckpointError
from bench.machine import allocator, distributed, environment
from bench.machine.rank_zero import note_world_size
from bench.paths import EPOCH_START_FILE, RESUME_FILE
from bench.run import option_labels as leaderboard_labels
from bench.run.epoch_report import configured_epochs, epoch_echo, report_epoch
from bench.run.failures import (
    debugging,
    plugin_failure,
)
from bench.run.folders import run_folder, run_lock
from bench.run.hints import run_epochs_hint, tokenizer_hint
from bench.run.plan import RunPlan, plan_resume, plan_run, plugin_version, prepare_corpus
from bench.run.progress_line import RunProgress
from bench.scoring.exactly_once import evaluate
from bench.store import Store, engine
from bench.tokenization.encode import tokenize_corpus
from bench.tokenization.tokenizers import Tokenizer
from bench.tokenization.tokens import TokenizedSplit
from bench.training.flops import TrainingUtilisation
from bench.training.throughput import TrainThroughput


@dataclass
class RunResult:
    run_id: int
    label: str
    corpus: str
    tokenizer: str
    device_name: str
    evaluations: dict[str, SplitEvaluation]
    summary: dict[str, Any] = field(default_factory=dict)
    # training FLOP/s and fraction of the device's peak; None for a model not counted
    utilisation: TrainingUtilisation | None = None


class Runner:
    """Runs configurations against a plugin host, a store and a data folder."""

    def __init__(
        self,
        host: PluginHost,
        store: Store,
        data_dir: Path,
        *,
        progress: bool = True,
        echo: Any = None,
    ) -> None:
        self.host = host
        self.store = store
        self.data_dir = data_dir
        self.show_progress = progress
        self.echo = echo or (lambda message: print(message, file=sys.stderr))
        self._epoch_echo = epoch_echo(self.echo, progress)  # one line per epoch
        self.current_run_id: int | None = None  # the run being carried out (for messages)
        self._progress = RunProgress(progress, self.echo)
        self.log_to: tuple[LogDestination, ...] = ()  # the trackers of the run being carried out
        allocator.keep_large_buffers()  # before any large buffer; recorded with each run

    def run_dir(self, run_id: int) -> Path:
        """The folder of a run's checkpoints and lock, under the data folder.

        Run ids are per database, so the folder is keyed by the database too: two
        databases sharing a data folder never write into each other's runs, and two
        spellings of one database's URL find the same folder.
        """
        return run_folder(self.data_dir, self.store.url, run_id)

    def progress(
        self, iterable: Any = None, *, total: int | None = None, desc: str = "", unit: str = "it"
    ) -> Any:
        """A tqdm bar on a terminal, else a line every ~30 s (bench.run.progress_line)."""
        return self._progress(iterable, total=total, desc=desc, unit=unit)

    def run(self, config: RunConfig, command: str) -> RunResult:
        """Record a new run of ``config`` and carry it out."""
        plan = plan_run(self.host, config, self.data_dir)
        self.log_to = check_loggers(self.host, log_destinations(config.log_to))
        prepare_corpus(self.host, config.corpus, plan, self.data_dir, self.echo, self.show_progress)
        env = distributed.describe(
            environment.describe_environment(plan.device, torch_too=plan.model_class.uses_torch),
            plan.device,
        )
        env["log_to"] = [str(destination) for destination in self.log_to]  # for resume()
        run_id = self.store.create_run(
            plugin=config.plugin,
            plugin_version=plugin_version(self.host, config.plugin),
            key_options=leaderboard_labels.key_options(plan.options),
            corpus=config.corpus,
            tokenizer=plan.tokenizer_name,
            config=plan.resolved,
            config_hash=config_hash(plan.resolved),
            seed=config.seed,
            device=plan.device,
            device_name=env["device_name"],
            environment=env,
            command=command,
            bench_version=env["bench_version"],
            git_commit=env["git_commit"],
        )
        self.current_run_id = run_id
        with run_lock(self.run_dir(run_id), run_id):
            return self._carry_out(run_id, config, plan)

    def resume(self, run_id: int, log_to: tuple[str, ...] = ()) -> RunResult:
        """Continue an interrupted, failed or killed run as the same database row.

        The configuration comes from the database; a model that writes resumable
        checkpoints (the BPTT-trained ones) continues from its last one, so the final
        numbers equal those of an uninterrupted run with the same seed.
        """
        record = self.store.get_run(run_id)
        if record["status"] == "finished":
            raise BenchError(f"run {run_id} has finished; there is nothing to resume")
        config, plan = plan_resume(self.host, run_id, record, self.data_dir, self.echo)
        recorded = (record.get("environment") or {}).get("log_to")  # see run()
        self.log_to = check_loggers(self.host, log_destinations(log_to, recorded))
        env = distributed.describe(environment.describe_environment(plan.device), plan.device)
        note_world_size(self.store, run_id, record, env, self.echo)
        with run_lock(self.run_dir(run_id), run_id):
            self.store.reopen_run(run_id)
            self.echo(f"resuming run {run_id} (was {record['status']})")
            return self._carry_out(run_id, config, plan, resumed=record)

    def delete(self, run_id: int) -> Path:
        """Remove a run from the database and its folder (checkpoints, ARPA files) from
        disk; refused while the run is going on in another process. Returns the folder."""
        self.store.get_run(run_id)  # a clear error for an unknown id, before any lock file
        folder = self.run_dir(run_id)
        try:
            with run_lock(folder, run_id, then="delete it"):
                self.store.delete_run(run_id)
        except BenchError:  # a second delete that lost the race must not leave its lock file
            if self.store.has_run(run_id):
                raise
        shutil.rmtree(folder, ignore_errors=True)
        return folder

    def _carry_out(
        self, run_id: int, config: RunConfig, plan: RunPlan, resumed: dict[str, Any] | None = None
    ) -> RunResult:
        """Load, train, score and close the run row, whatever happens (under the run's lock)."""
        info = RunInfo(
            run_id, config.plugin, config.corpus, plan.tokenizer_name, plan.device, plan.resolved
        )
        info = replace(info, log_to=self.log_to, database=engine.safe_url(self.store.url))
        self.host.hook.run_started(run=info)
        self._progress.epochs = configured_epochs(info.config)
        evaluations: dict[str, SplitEvaluation] = {}
        summary: dict[str, Any] = {}
        started = time.perf_counter() - ((resumed or {}).get("wall_seconds") or 0.0)
        self._wall_started = started  # with earlier attempts' time; updated by _log_metrics
        try:
            with distributed.rank0_first("corpus"):  # one download, not one per rank
                corpus = plan.local_corpus or load_corpus(
                    config.corpus, self.host.corpora, self.data_dir, progress=self.show_progress
                )
            result = self._execute(info, config, corpus, plan, evaluations, summary, resumed)
        except KeyboardInterrupt:
            interrupts.clear()  # acted on: the run is closed as interrupted just below
            # another rank that failed has the agent stop this one (SIGTERM): its error
            self._fail_if_a_peer_failed(info, evaluations, summary, started)
            self._close(
                info,
                "interrupted",
                evaluations,
                summary,
                started,
                error=f"interrupted by the user (Ctrl-C); continue it with "
                f"`bench run --resume {run_id}`",
            )
            raise
        except BaseException as error:
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self._fail_if_a_peer_failed(info, evaluations, summary, started)
            failed_with = (detail, traceback.format_exc())
            self._close(info, "failed", evaluations, summary, started, *failed_with)
            if isinstance(error, CheckpointError):  # the disk or the file, not the plugin
                raise CheckpointError(f"run {run_id} recorded as failed: {error}") from error
            # a plugin's mistake is one line (bench.run.failures); bench's own bug keeps its traceback
            failure = isinstance(error, Exception) and plugin_failure(
                error, plugin=config.plugin, model_class=plan.model_class, run_id=run_id
            )
            if failure and not debugging():
                raise failure from error
            raise
        self._close(info, "finished", evaluations, summary, started)
        if distributed.current().is_main:
            for name in (RESUME_FILE, EPOCH_START_FILE):
                (self.run_dir(run_id) / name).unlink(missing_ok=True)
        return result

    def _fail_if_a_peer_failed(
        self,
        info: RunInfo,
        evaluations: dict[str, SplitEvaluation],
        summary: dict[str, Any],
        started: float,
    ) -> None:
        """Close the run as failed with the error of the rank that failed first, if one did
        (its agent stopped this rank too), and say so in one line."""
        peer = distributed.peer_failure()
        if peer is None:
            return
        error, traceback_text = peer.summary, peer.traceback
        self._close(info, "failed", evaluations, summary, started, error, traceback_text)
        raise BenchError(f"{peer.summary} (run {info.run_id} recorded as failed)") from None

    def _execute(
        self,
        info: RunInfo,
        config: RunConfig,
        corpus: CorpusText,
        plan: RunPlan,
        evaluations: dict[str, SplitEvaluation],
        summary: dict[str, Any],
        resumed: dict[str, Any] | None,
    ) -> RunResult:
        with distributed.rank0_first("tokens"):  # the others then read rank 0's caches
            splits, tokenizer = self._tokenize(corpus, plan.tokenizer_class, plan.tokenizer_options)
        if hint := tokenizer_hint(corpus, info.tokenizer, splits["valid"]):
            self.echo(hint)
        # (a run killed before its vocabulary was recorded has nothing to compare with)
        if resumed and resumed["vocab_sha256"] not in (None, tokenizer.vocab.sha256()):
            raise BenchError(
                f"run {info.run_id}: the rebuilt vocabulary differs from the "
                "recorded one (has the corpus changed?); cannot resume"
            )
        self.store.update_run(
            info.run_id,
            corpus=corpus.name,
            corpus_source=corpus.source,
            corpus_sha256=corpus.sha256,
            corpus_verified=corpus.verified,
            vocab_size=len(tokenizer.vocab),
            vocab_sha256=tokenizer.vocab.sha256(),
        )
        environment.seed_everything(config.seed, torch_too=plan.model_class.uses_torch)
        environment.reset_peak_memory(info.device)
        model = plan.model_class(plan.options, tokenizer.vocab, info.device)
        self.store.update_run(info.run_id, model_label=model.label())
        throughput = TrainThroughput()
        context = self._training_context(info, config.seed, splits, model, throughput, resumed)
        self.echo(
            f"run {info.run_id}: {model.label()} on "
            f"{corpus.name} [{info.tokenizer}, vocab {len(tokenizer.vocab):,}], "
            f"device {info.device}"
        )
        interrupts.raise_if_requested()  # one a gc callback swallowed while setting up
        model.fit(context)  # a request swallowed in an n-gram fit is raised when scoring
        if hint := run_epochs_hint(self.store.get_run(info.run_id), info.config):
            self.echo(hint)
        # counted after training: a count-based model only knows its size once fitted
        summary["params"] = model.num_parameters()
        self.store.update_run(info.run_id, params=summary["params"])
        summary.update(
            train_tokens=throughput.tokens,
            train_seconds=throughput.seconds,
            train_tokens_per_second=throughput.tokens_per_second,
        )
        utilisation = throughput.utilisation(
            model.flops_per_token(),
            distributed.device_label(info.device),
            plan.options.training_precision,
            distributed.current().size,
        )
        if utilisation is not None:
            self._log_metrics(info, utilisation.metrics(), None, None)
        for name in ("valid", "test"):
            evaluations[name] = self._evaluate(model, splits[name], info.device)
            self.store.add_evaluation(info.run_id, evaluations[name])
        return RunResult(
            run_id=info.run_id,
            label=model.label(),
            corpus=corpus.name,
            tokenizer=info.tokenizer,
            device_name=distributed.device_label(info.device),
            evaluations=evaluations,
            summary=summary,
            utilisation=utilisation,
        )

    def _training_context(
        self,
        info: RunInfo,
        seed: int,
        splits: dict[str, TokenizedSplit],
        model: LanguageModel,
        throughput: TrainThroughput,
        resumed: dict[str, Any] | None,
    ) -> TrainingContext:
        """What the core hands the model's fit: its splits, its folder, and the callbacks
        through which it scores, logs and records."""
        artifacts_dir = self.run_dir(info.run_id)
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        return TrainingContext(
            train=splits["train"],
            valid=splits["valid"],
            device=info.device,
            seed=seed,
            artifacts_dir=artifacts_dir,
            evaluate=lambda split: self._evaluate(model, split, info.device),
            log_metrics=lambda metrics, step, epoch: self._log_metrics(info, metrics, step, epoch),
            progress=self.progress,
            record_train_throughput=throughput.add,
            record_artifact=lambda kind, path: self.store.add_artifact(
                info.run_id, kind, str(path)
            ),
            resume=resumed is not None,
            resumed_at=lambda step: self._resumed_at(info, step),
        )

    def _tokenize(
        self, corpus: CorpusText, tokenizer_class: type[Tokenizer], tokenizer_options: Options
    ) -> tuple[dict[str, TokenizedSplit], Tokenizer]:
        """The fitted tokenizer and every split encoded (see :func:`tokenize_corpus`)."""
        tokenizer = tokenizer_class(tokenizer_options)
        splits = tokenize_corpus(corpus, tokenizer, self.data_dir, self.progress, self.echo)
        return splits, tokenizer

    def _evaluate(
        self, model: LanguageModel, split: TokenizedSplit, device: str
    ) -> SplitEvaluation:
        # with several ranks, rank 0 scores alone (the exact stream protocol is one
        # sequence) and the others receive its result
        return distributed.from_rank0(
            lambda: evaluate(
                split,
                model.eval_protocol(split),
                model.score,
                synchronize=lambda: environment.synchronize(device),
            )
        )

    def _resumed_at(self, info: RunInfo, step: int | None) -> None:
        self.store.delete_metrics(info.run_id, after_step=step)
        self._log_metrics(info, {"resumed": 1.0}, step, None)

    def _log_metrics(
        self, info: RunInfo, metrics: dict[str, float], step: int | None, epoch: int | None
    ) -> None:
        self.store.add_metrics(info.run_id, metrics, step=step, epoch=epoch)
        # the wall time so far, so a run killed by -9 still adds its time when resumed
        elapsed = time.perf_counter() - self._wall_started
        self.store.update_run(info.run_id, wall_seconds=elapsed)
        self.host.hook.log_metrics(run=info, metrics=metrics, step=step, epoch=epoch)
        if step is not None and "train_loss" in metrics and "valid_ppl" not in metrics:
            self._progress.show_loss(metrics["train_loss"])
        report_epoch(self._epoch_echo, metrics, epoch, info.config, elapsed)

    def _close(
        self,
        info: RunInfo,
        status: str,
        evaluations: dict[str, SplitEvaluation],
        summary: dict[str, Any],
        started: float,
        error: str | None = None,
        traceback_text: str | None = None,
    ) -> None:
        summary["wall_seconds"] = time.perf_counter() - started
        summary["peak_rss_mb"] = environment.peak_rss_mb()
        summary["cuda_max_allocated_mb"] = environment.cuda_max_allocated_mb(info.device)
        stored_error = error if traceback_text is None else f"{error}\n\n{traceback_text}"
        with interrupts.held():  # a second Ctrl-C must not leave the row half-closed
            self.store.finish_run(info.run_id, status, error=stored_error, **summary)
            self.host.hook.run_finished(
                run=info, status=status, evaluations=evaluations, error=error, summary=summary
            )
