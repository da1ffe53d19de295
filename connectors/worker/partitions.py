"""Partition ownership: the consumer, the topics, assignment, rebalancing, committed offsets.

:class:`PartitionOwner` owns the Kafka consumer and :attr:`PartitionOwner.states`, the map
from each partition this worker owns to its model's
:class:`~connectors.worker.state.ModelState` (one shared state, or one per partition).
Without a group it assigns itself every partition; in a group it subscribes with a
rebalance listener that saves the state of partitions that leave and loads the state of
partitions that arrive. Taking a partition seeks the consumer to the state's next
offset: the checkpoint, not the group, is the source of truth (in a group with one
shared model, the larger of the two wins: another worker may have gone further).

Who calls it: the worker (:mod:`connectors.worker.loop`) opens, polls and closes it on the
loop's thread; kafka-python calls the listener on its IO thread while the loop waits in
:meth:`PartitionOwner.poll` (only non-blocking consumer calls happen there). What a
partition needs from the rest of the worker comes through three callables: ``load``
(a checkpoint name -> its state), ``save`` (checkpoint leaving states; returns whether
it did) and ``retire`` (a per-partition state handed away, for the summary).
"""

from __future__ import annotations

import logging
from typing import Callable

from connectors.worker.errors import UnreadableBatchError, WorkerError
from connectors.worker.logfmt import kv
from connectors.worker.state import ModelState

__all__ = ["PartitionOwner"]

log = logging.getLogger(__name__)

#: Records the run's first poll takes at most (its predictions go out early).
FIRST_POLL_RECORDS = 100
COMMIT_TIMEOUT_MS = 5000  # a group commit waits at most this long (then it is logged)


class PartitionOwner:
    """The consumer and the partitions it owns.

    Parameters
    ----------
    config
        The worker's :class:`~connectors.worker.config.WorkerConfig`.
    load
        ``load(checkpoint_name) -> ModelState`` (from its checkpoint, or new).
    save
        ``save(states) -> bool``: checkpoint states whose partitions are leaving (no
        commit: the listener commits); ``False`` when they must not be saved (the loop
        failed mid-update).
    retire
        ``retire(state)``: a per-partition state was handed to another worker.
    shared
        The one model every partition feeds (``None`` with ``model_per_partition``).
    """

    def __init__(self, config, *, load: Callable[[str], ModelState],
                 save: Callable[[list], bool], retire: Callable[[ModelState], None],
                 shared: ModelState | None = None):
        self.config = config
        self._load = load
        self._save = save
        self._retire = retire
        self.shared = shared
        self.consumer = None
        self.states: dict[int, ModelState] = {}  # never rebound: the record path reads it
        # partition of the labels topic (--labels-topic) -> the state it feeds (never rebound)
        self.label_states: dict[int, ModelState] = {}
        self.assignments = 0  # group assignments received (an empty one counts)
        self._records_polled = 0  # until the first records arrive: 0
        self.listener_error: BaseException | None = None
        self._ends: dict = {}  # TopicPartition -> high-water mark seen first
        self._recheck: set = set()  # group, one model: partitions to check commits of
        # input partition -> the high-water mark its labels partition waits for (None until
        # the first fetch says it): after a start or a rebalance, labels wait for the records
        self._catching_up: dict[int, int | None] = {}
        self._tp_cache: dict = {}

    def tp(self, partition: int, topic: str | None = None):
        """The ``TopicPartition`` of the input topic's ``partition`` (or ``topic``'s), cached."""
        topic = self.config.topic if topic is None else topic
        tp = self._tp_cache.get((topic, partition))
        if tp is None:
            from kafka import TopicPartition

            tp = self._tp_cache[topic, partition] = TopicPartition(topic, partition)
        return tp

    def _is_labels(self, tp) -> bool:
        return tp.topic == self.config.labels_topic

    # -- opening ---------------------------------------------------------------------------
    def connect(self, outputs=None) -> None:
        """Create the consumer, check the input topic, create missing output topics (and
        wait for the output sink), then assign every partition or subscribe."""
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        cfg = self.config
        settings = cfg.settings
        session_ms = int(cfg.session_timeout * 1000)
        heartbeat_ms = int((cfg.heartbeat_interval or cfg.session_timeout / 4) * 1000)
        consumer_config = settings.consumer_config(
            group_id=cfg.group, client_id=cfg.client_id, allow_auto_create_topics=False,
            fetch_max_wait_ms=100, max_poll_records=cfg.max_poll_records,
            bootstrap_timeout_ms=15_000, enable_auto_commit=False,
            auto_offset_reset="earliest")
        if cfg.labels_topic is not None:
            from kafka.coordinator.assignors.range import RangePartitionAssignor

            # partition p of both topics to the same worker: the join by id needs it
            consumer_config.update(partition_assignment_strategy=(RangePartitionAssignor,))
        if cfg.group is not None:
            consumer_config.update(session_timeout_ms=session_ms,
                                   heartbeat_interval_ms=heartbeat_ms,
                                   max_poll_interval_ms=max(300_000, session_ms))
        try:
            self.consumer = KafkaConsumer(**consumer_config)
        except KafkaError as err:
            raise WorkerError(settings.unreachable(err)) from None
        partitions = self.consumer.partitions_for_topic(cfg.topic)
        if not partitions:
            raise WorkerError(f"topic {cfg.topic!r} does not exist on {settings.describe()}")
        label_partitions = set()
        if cfg.labels_topic is not None:
            label_partitions = self.consumer.partitions_for_topic(cfg.labels_topic) or set()
            if not label_partitions:
                raise WorkerError(f"labels topic {cfg.labels_topic!r} does not exist on "
                                  f"{settings.describe()}; create it with as many "
                                  f"partitions as {cfg.topic!r} ({len(partitions)})")
            if len(label_partitions) != len(partitions):
                raise WorkerError(
                    f"labels topic {cfg.labels_topic!r} has {len(label_partitions)} "
                    f"partition(s) and {cfg.topic!r} {len(partitions)}: the join by id needs "
                    "the same number (and both keyed by record id)")
        topics = [t for t in (cfg.predictions_topic, cfg.dead_letter_topic,
                              cfg.queries_topic) if t]
        if topics:
            from connectors.worker.outputs import OutputError

            self._ensure_topics(topics, len(partitions))
            try:
                outputs.wait_ready()
            except OutputError as err:
                raise WorkerError(str(err)) from None
        if cfg.group is None:
            tps = [self.tp(p) for p in sorted(partitions)] + [
                self.tp(p, cfg.labels_topic) for p in sorted(label_partitions)]
            self.consumer.assign(tps)
            self._take(tps)
            self.assignments += 1
            log.info(kv("worker.assigned", topic=cfg.topic, partitions=sorted(partitions),
                        mode="assign"))
        else:
            self.consumer.subscribe([cfg.topic] + ([cfg.labels_topic] if label_partitions
                                                   else []),
                                    listener=_RebalanceListener(self))
            log.info(kv("worker.subscribed", topic=cfg.topic, group=cfg.group))

    def _ensure_topics(self, topics, partitions: int) -> None:
        from connectors.kafka.client import KafkaTopicError, ensure_topics

        try:
            created = ensure_topics(self.config.settings, topics, partitions,
                                    client_id=self.config.client_id + "-admin")
        except KafkaTopicError as err:
            raise WorkerError(f"output topics: {err}") from None
        for topic in created:
            log.info(kv("worker.topic.created", topic=topic, partitions=partitions))

    def _take(self, tps) -> None:
        """Own ``tps``: find (load) their state and seek to its offsets.

        Runs on the loop's thread (no group) or in the rebalance listener, on
        kafka-python's IO thread while the loop waits in ``poll``: only non-blocking
        consumer calls.
        """
        cfg = self.config
        consumer = self.consumer
        # input partitions first: a labels partition feeds the state of the same number
        for tp in sorted(tps, key=self._is_labels):
            p = tp.partition
            if self._is_labels(tp):
                state = self.states.get(p) if cfg.model_per_partition else self.shared
                if state is None:
                    raise WorkerError(
                        f"partition {p} of the labels topic {cfg.labels_topic!r} came without "
                        f"partition {p} of {cfg.topic!r}: the join by id needs them together "
                        "(the range assignor, the same partition count)")
                self.label_states[p] = state
                offset = state.label_offsets.get(p)
                # the records first: the ones re-read after a restart are held again before
                # the labels that follow them are read (the order of a run without the crash)
                self._catching_up[p] = None
                consumer.pause(tp)
            else:
                state = (self._load(cfg.checkpoint_name(p)) if cfg.model_per_partition
                         else self.shared)
                self.states[p] = state
                offset = state.offsets.get(p)
            self._ends.pop(tp, None)
            if offset is not None:
                consumer.seek(tp, offset)
            elif cfg.group is None or cfg.model_per_partition:
                consumer.seek_to_beginning(tp)
            # group + one model: without an offset of our own the group's committed offset
            # (or the earliest) applies; with one, the larger of the two (checked after poll)
            if cfg.group is not None and not cfg.model_per_partition:
                self._recheck.add(tp)

    # -- the loop's calls ------------------------------------------------------------------
    def poll(self, timeout_ms: int) -> dict:
        """One ``consumer.poll``; a rebalance listener's error is raised here."""
        from kafka.errors import KafkaError, UnsupportedCodecError

        # the run's first records come in a small poll: their predictions go out after a
        # few milliseconds of learning, not after a whole max_poll_records poll (a restart
        # with a backlog); batch boundaries do not change what is learned
        first = self._records_polled == 0
        try:
            batch = self.consumer.poll(timeout_ms=timeout_ms, max_records=(
                min(FIRST_POLL_RECORDS, self.config.max_poll_records) if first else None))
        except UnsupportedCodecError as err:
            from connectors.kafka.compression import unsupported_codec_message

            raise UnreadableBatchError(unsupported_codec_message(
                err, self.config.topic, self.positions())) from None
        except KafkaError:
            if self.listener_error is not None:
                raise self.listener_error from None
            raise
        if self.listener_error is not None:
            raise self.listener_error
        if self._recheck:
            self._apply_committed_offsets()
        if self._catching_up:
            self._release_caught_up_labels()
        if first:
            self._records_polled = sum(len(messages) for messages in batch.values())
        return batch

    def _release_caught_up_labels(self) -> None:
        """Resume the labels partitions whose input partition reached the high-water mark
        first seen after it was taken (the records there before the labels)."""
        consumer = self.consumer
        for p, target in list(self._catching_up.items()):
            tp = self.tp(p)
            if target is None:
                target = self._catching_up[p] = consumer.highwater(tp)
                if target is None:  # no fetch answered yet
                    continue
            position = consumer.position(tp)
            if position is not None and position >= target:
                del self._catching_up[p]
                consumer.resume(self.tp(p, self.config.labels_topic))
                log.debug(kv("worker.labels.resumed", partition=p, records_to=target))

    def positions(self) -> dict:
        """Partition -> the consumer's next offset, for the input partitions assigned now."""
        consumer = self.consumer
        return {tp.partition: consumer.position(tp) for tp in consumer.assignment()
                if not self._is_labels(tp)}

    def _owned(self):
        """``(TopicPartition, state, offsets map)`` of every partition owned, both topics."""
        for p, state in self.states.items():
            yield self.tp(p), state, state.offsets
        labels = self.config.labels_topic
        for p, state in self.label_states.items():
            yield self.tp(p, labels), state, state.label_offsets

    def _apply_committed_offsets(self) -> None:
        """Group with one model: start a partition at the larger of our offset and the
        group's committed one (another worker may have learned it further meanwhile)."""
        consumer = self.consumer
        for tp in sorted(self._recheck):
            p = tp.partition
            labels = self._is_labels(tp)
            state = (self.label_states if labels else self.states).get(p)
            if state is None:
                continue
            offsets = state.label_offsets if labels else state.offsets
            committed = consumer.committed(tp)
            own = offsets.get(p)
            if committed is not None and (own is None or committed > own):
                offsets[p] = committed
                position = consumer.position(tp)
                if position is None or position < committed:
                    consumer.seek(tp, committed)
                log.info(kv("worker.partition.from_group", topic=tp.topic, partition=p,
                            own=own, committed=committed))
        self._recheck.clear()

    def at_end(self) -> bool:
        """Whether every owned partition reached the high-water mark first seen for it."""
        if not self.states:
            return False
        for tp, _state, offsets in self._owned():
            end = self._ends.get(tp)
            if end is None:
                end = self.consumer.highwater(tp)
                if end is None:
                    return False
                self._ends[tp] = end
            if end > 0 and offsets.get(tp.partition, 0) < end:
                return False
        return True

    def connection_count(self) -> int | None:
        """The consumer's open broker connections (its ``connection-count`` metric)."""
        if self.consumer is None:
            return None
        value = self.consumer.metrics().get("consumer-metrics", {}).get("connection-count")
        return None if value is None else int(value)

    def lag(self) -> list[tuple[int, int]]:
        """``(partition, high-water mark - next offset)`` of each owned partition known."""
        out = []
        consumer = self.consumer
        if consumer is None:
            return out
        for p, state in sorted(self.states.items()):
            try:
                high = consumer.highwater(self.tp(p))
            except Exception:  # noqa: BLE001 - not assigned any more
                continue
            if high is not None:
                out.append((p, max(0, high - state.offsets.get(p, 0))))
        return out

    def offsets_to_commit(self, states, partitions=None) -> dict:
        """The next offsets of ``states`` as a commit (owned partitions, or ``partitions``)."""
        from kafka.structs import OffsetAndMetadata

        out = {}
        labels = self.config.labels_topic
        for state in states:
            for topic, offsets, owned in ((None, state.offsets, self.states),
                                          (labels, state.label_offsets, self.label_states)):
                for p, offset in offsets.items():
                    if (partitions is None and p in owned) or (
                            partitions is not None and p in partitions):
                        out[self.tp(p, topic)] = OffsetAndMetadata(offset, "", -1)
        return out

    def commit(self, offsets: dict) -> None:
        """Commit ``offsets`` to the group (a failure is logged: the checkpoint is the
        truth, commits only follow it). Bounded by ``COMMIT_TIMEOUT_MS``: kafka-python's
        commit otherwise blocks for as long as the group's coordinator is unreachable,
        and the loop, which watches for broker outages, with it."""
        from kafka.errors import KafkaError

        try:
            self.consumer.commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)
        except KafkaError as err:
            log.warning(kv("worker.commit_failed", error=err))

    def close(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            except Exception as err:  # noqa: BLE001 - closing must not mask the real error
                log.warning(kv("worker.close_failed", client="consumer", error=err))

    # -- group rebalancing (kafka-python's IO thread, the loop waiting in poll) ------------
    def revoked(self, tps, *, lost: bool = False) -> dict:
        """Save what leaves; returns the offsets to commit (none when ``lost``)."""
        parts = {tp.partition for tp in tps if tp.topic == self.config.topic}
        label_parts = {tp.partition for tp in tps if self._is_labels(tp)}
        leaving = ([self.states[p] for p in parts if p in self.states]
                   + [self.label_states[p] for p in label_parts if p in self.label_states])
        offsets = {}
        if leaving and not lost:
            unique = list({id(s): s for s in leaving}.values())
            if self._save(unique):
                offsets = self.offsets_to_commit(unique, parts | label_parts)
        for p in label_parts:
            self.label_states.pop(p, None)
            self._catching_up.pop(p, None)
            tp = self.tp(p, self.config.labels_topic)
            self._ends.pop(tp, None)
            self._recheck.discard(tp)
        for p in parts:
            state = self.states.pop(p, None)
            self._ends.pop(self.tp(p), None)
            self._recheck.discard(self.tp(p))
            if state is not None and self.config.model_per_partition:
                self._retire(state)
        log.info(kv("worker.partitions.lost" if lost else "worker.partitions.revoked",
                    partitions=sorted(parts)))
        return offsets

    def assigned(self, tps) -> None:
        self.assignments += 1
        mine = [tp for tp in tps if tp.topic == self.config.topic or self._is_labels(tp)]
        self._take(mine)
        labels = sorted(tp.partition for tp in mine if self._is_labels(tp))
        log.info(kv("worker.partitions.assigned",
                    partitions=sorted(tp.partition for tp in mine if not self._is_labels(tp)),
                    **({"labels_partitions": labels} if self.config.labels_topic else {})))


from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener  # noqa: E402


class _RebalanceListener(AsyncConsumerRebalanceListener):
    """Save leaving partitions' state and commit; load arriving partitions' state.

    kafka-python runs these on its IO thread while the loop waits inside ``poll``;
    exceptions are kept and re-raised on the loop's thread by :meth:`PartitionOwner.poll`.
    """

    def __init__(self, owner: PartitionOwner):
        self.owner = owner

    def _keep(self, exc: BaseException) -> None:
        self.owner.listener_error = self.owner.listener_error or exc

    async def on_partitions_revoked(self, revoked):
        owner = self.owner
        try:
            offsets = owner.revoked(revoked)
            if offsets and owner.consumer is not None:
                await _commit(owner.consumer, offsets)
        except BaseException as exc:
            self._keep(exc)
            raise

    async def on_partitions_assigned(self, assigned):
        try:
            self.owner.assigned(assigned)
        except BaseException as exc:
            self._keep(exc)
            raise

    async def on_partitions_lost(self, lost):
        try:
            self.owner.revoked(lost, lost=True)
        except BaseException as exc:
            self._keep(exc)
            raise


async def _commit(consumer, offsets) -> None:
    """Commit from inside a rebalance listener (a blocking ``commit`` would deadlock there)."""
    coordinator = getattr(consumer, "_coordinator", None)
    commit = getattr(coordinator, "_commit_offsets_sync_async", None)
    try:
        if commit is not None:
            await commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)
        else:  # another kafka-python: fire and forget (the checkpoint is the truth anyway)
            consumer.commit_async(offsets)
    except Exception as err:  # noqa: BLE001
        log.warning(kv("worker.commit_failed", where="rebalance", error=err))
