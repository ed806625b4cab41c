/**
 * The stream runtime's options (≈ Kafka Streams' StreamsConfig) and the three Kafka clients they configure
 * besides the transactional producer (≈ KafkaClientSupplier): the group consumer that reads the source
 * topics, a restore consumer that never joins a group (changelog restore, list offsets, the input barrier's
 * end offsets) and an admin client. The producer is eos-producer.ts's.
 */
import { Admin, type AdminOptions, Consumer, type ConsumerOptions, FetchIsolationLevels } from '@platformatic/kafka'
import type { Logger } from '../logger.ts'
import type { Clock } from './api.ts'
import { systemClock } from './clocks.ts'
import { coPartitionedAssigner } from './co-partitioned-assigner.ts'
import type { RuntimeObserver } from './runtime-events.ts'

export interface StreamRuntimeOptions {
  /** Consumer group id, transactional id prefix and changelog topic prefix. */
  applicationId: string
  bootstrapBrokers: string[]
  /** Directory for task state: <stateDir>/<applicationId>/<partition>. */
  stateDir: string
  /** Stable id of this process: static group membership and transactional id. @default random */
  instanceId?: string
  /** Minimum spacing of commits while records flow; timers commit at once. @default 100 */
  commitIntervalMs?: number
  /** How long the group waits for a silent member before moving its partitions (failover detection). @default 6000 */
  sessionTimeoutMs?: number
  /** Also how soon a member learns of a rebalance. @default 500 */
  heartbeatIntervalMs?: number
  /** @default 30000 */
  rebalanceTimeoutMs?: number
  /**
   * Transaction timeout sent to the coordinator: the longest a dead instance's open transaction can hold the
   * new owner of its partitions (see README "Failover"). @default 10000
   */
  transactionTimeoutMs?: number
  /** Records processed per cycle before committing. @default 5000 */
  maxRecordsPerCycle?: number
  /**
   * Records a task catching up on a backlog (a herd, a catch-up) adds to a cycle before it yields to the due
   * timers of the other tasks (timer-fairness.ts). Smaller: less lateness for the others during a herd, more
   * commits for the herd. @default 1000
   */
  catchUpSliceRecords?: number
  /**
   * Input bytes (keys and values of source records) processed per cycle before committing, so a flood of large
   * records (and the dead letters they become) is carried by many small transactions: a timer that fires in the
   * same cycle waits for that cycle's commit (a 2 MB record's dead letter is ~1 MB). @default 4194304
   */
  maxBytesPerCycle?: number
  /**
   * Longest one pass of the loop processes input records before due timers get their turn (issue 15): a flood of
   * slow or bad input delays a timer by about this much per pass, not by a whole cycle's records. @default 100
   */
  maxInputMsPerPass?: number
  /** Buffered records above which fetching pauses. @default 20000 */
  maxBufferedRecords?: number
  /** Buffered bytes (keys and values) above which fetching pauses: bounds memory under 2 MB records. @default 67108864 */
  maxBufferedBytes?: number
  /** Use static membership (groupInstanceId = instanceId). @default true */
  staticMembership?: boolean
  /**
   * How long retriable failures (broker unreachable, coordinator loading, aborted cycles) may go on with no
   * commit and no stream start in between before the runtime gives up with FLEXTASK_TOPOLOGY_GAVE_UP.
   * @default 900000 (15 minutes)
   */
  outageGiveUpMs?: number
  /**
   * Fire the timers due at T only once the inputs are read up to their end observed at or after T
   * (input-barrier.ts; the "committed before the instant wins" guarantee). Off: timers fire as soon as they
   * are due, on what has been read (for comparison in benchmarks). @default true
   */
  inputBarrier?: boolean
  /** Longest a due timer waits for its input to be read up to its instant (input-barrier.ts). @default 5000 */
  inputBarrierMaxWaitMs?: number
  /** A restore that makes no progress for this long fails (and is retried). @default 60000 */
  restoreStallTimeoutMs?: number
  /** Typed events (more with `observe`). */
  observer?: RuntimeObserver
  clock?: Clock
  /** Security options every client of the runtime gets (SASL, TLS); see kafka-clients.ts. @default plain */
  connection?: KafkaConnectionOptions
  /** Receives debug lines for errors the runtime deliberately ignores (best-effort cleanup). @default silent */
  logger?: Pick<Logger, 'debug'>
}

/** The security part of a client's options (SASL, TLS), as kafka-clients.ts builds it. */
export type KafkaConnectionOptions = Pick<AdminOptions, 'sasl' | 'tls' | 'tlsServerName'>

/** Every option with its default applied (observer, connection and logger are handled by the runtime). */
export type ResolvedRuntimeOptions = Required<Omit<StreamRuntimeOptions, 'observer' | 'connection' | 'logger'>>

/** Applies the defaults; a missing instanceId becomes `<applicationId>-<random>`. */
export function resolveRuntimeOptions(options: StreamRuntimeOptions): ResolvedRuntimeOptions {
  const { observer: _observer, connection: _connection, logger: _logger, ...rest } = options
  return {
    commitIntervalMs: 100,
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 500,
    rebalanceTimeoutMs: 30_000,
    transactionTimeoutMs: 10_000,
    maxRecordsPerCycle: 5_000,
    catchUpSliceRecords: 1_000,
    maxBytesPerCycle: 4 * 1024 * 1024,
    maxInputMsPerPass: 100,
    maxBufferedRecords: 20_000,
    maxBufferedBytes: 64 * 1024 * 1024,
    staticMembership: true,
    outageGiveUpMs: 15 * 60_000,
    inputBarrier: true,
    inputBarrierMaxWaitMs: 5_000,
    restoreStallTimeoutMs: 60_000,
    clock: systemClock,
    ...rest,
    instanceId: options.instanceId ?? `${options.applicationId}-${Math.random().toString(36).slice(2, 10)}`,
  }
}

type ByteConsumerOptions = ConsumerOptions<Buffer, Buffer, Buffer, Buffer>

/** The group consumer: read_committed, no autocommit, one member per process, co-partitioned assignment. */
export function groupConsumerOptions(
  o: ResolvedRuntimeOptions,
  connection: KafkaConnectionOptions = {},
): ByteConsumerOptions {
  return {
    ...connection,
    clientId: `${o.instanceId}-consumer`,
    groupId: o.applicationId,
    ...(o.staticMembership ? { groupInstanceId: o.instanceId } : {}),
    bootstrapBrokers: o.bootstrapBrokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    // A stream task is one partition number across all source topics (co-partitioning).
    partitionAssigner: coPartitionedAssigner,
    sessionTimeout: o.sessionTimeoutMs,
    heartbeatInterval: o.heartbeatIntervalMs,
    rebalanceTimeout: o.rebalanceTimeoutMs,
    maxWaitTime: 500,
    highWaterMark: 1024,
    // Bounded fetches: the client buffers a whole fetch response even while the stream is paused.
    maxBytes: 4 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
  }
}

/** A consumer that never joins its group: restore fetches and list offsets (read_committed). */
export function restoreConsumerOptions(
  o: ResolvedRuntimeOptions,
  connection: KafkaConnectionOptions = {},
): ByteConsumerOptions {
  return {
    ...connection,
    clientId: `${o.instanceId}-restore`,
    groupId: `${o.applicationId}-restore-never-joins`,
    bootstrapBrokers: o.bootstrapBrokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  }
}

export function adminOptions(o: ResolvedRuntimeOptions, connection: KafkaConnectionOptions = {}): AdminOptions {
  return { ...connection, clientId: `${o.instanceId}-admin`, bootstrapBrokers: o.bootstrapBrokers }
}

/**
 * The admin client of the task opens' committed-offset reads (require_stable): no retries inside the client,
 * the open waits out failures itself (task-manager.ts). The client's own retries hid UNSTABLE_OFFSET_COMMIT: a
 * require_stable offset fetch retried by the client (3 retries of 1 s, nested in the group lookup's 3 retries of
 * 1 s) blocked a task open for up to ~15 s without the open ever seeing the error, so the dead instance's
 * transaction was never fenced and the open waited for its timeout (a 19.7 s failover gap in bench:failover,
 * issue 7). The other admin calls keep the client's retries (a topic just created is not in the metadata yet).
 */
export function offsetsAdminOptions(o: ResolvedRuntimeOptions, connection: KafkaConnectionOptions = {}): AdminOptions {
  return { ...adminOptions(o, connection), clientId: `${o.instanceId}-offsets`, retries: 0 }
}

export interface RuntimeClients {
  consumer: Consumer
  restoreConsumer: Consumer
  admin: Admin
  /** For require_stable committed-offset reads only (offsetsAdminOptions). */
  offsetsAdmin: Admin
  /** Leaves the group and closes the three clients; each failure is passed to `ignored` (best effort). */
  close(ignored: (what: string) => (error: unknown) => void): Promise<void>
}

export function createRuntimeClients(
  o: ResolvedRuntimeOptions,
  connection: KafkaConnectionOptions = {},
): RuntimeClients {
  const consumer = new Consumer(groupConsumerOptions(o, connection))
  const restoreConsumer = new Consumer(restoreConsumerOptions(o, connection))
  const admin = new Admin(adminOptions(o, connection))
  const offsetsAdmin = new Admin(offsetsAdminOptions(o, connection))
  return {
    consumer,
    restoreConsumer,
    admin,
    offsetsAdmin,
    async close(ignored) {
      await consumer.close(true).catch(ignored('closing the consumer'))
      await restoreConsumer.close(true).catch(ignored('closing the restore consumer'))
      await admin.close().catch(ignored('closing the admin client'))
      await offsetsAdmin.close().catch(ignored('closing the offsets admin client'))
    },
  }
}
