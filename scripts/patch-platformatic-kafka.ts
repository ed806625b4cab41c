/**
 * postinstall: patches @platformatic/kafka 2.12.1's read_committed filter in node_modules, so that every
 * read_committed reader of the project (the runtime's input stream, the restorer, the tests' audits, the
 * workers and the sink) drops aborted transactions the way Kafka's Java consumer does.
 *
 * Why: the client's `#filterUncommittedMessages` keeps ONE aborted range per producer id per fetch response
 * (a Map keyed by producerId, overwritten), so with two aborted transactions of the same producer in one
 * response the earlier one is delivered as if committed; and a range whose ABORT marker falls in the next
 * response is not filtered at all. Our runtime produces exactly that pattern: a refused cycle is retried
 * with the same producer id. Bug report text: docs/upstream/platformatic-kafka-aborted-transactions.md.
 *
 * The replacement keeps every batch (MessagesStream advances its fetch offset from the last batch of a
 * response, control batches included) but empties the records of aborted data batches. The algorithm is the
 * one of topology/aborted-transactions.ts, applied per response as the Java consumer does (the broker lists
 * an aborted transaction again in every response that overlaps it, so no state across responses is needed
 * in the client).
 *
 * Second patch (messages-stream.js): a MessagesStream destroys itself on the first metadata or fetch failure
 * that outlives the client's few retries (3 × 1 s by default), e.g. a broker restart. A reader that does not
 * re-create its stream then reads nothing more, silently (the stress loop's audit reader did exactly that:
 * 382 of 2,000 records, while kafkajs read them all). Kafka's Java consumer never fails poll() on a broker that
 * is away; it retries. The patched stream does the same for retriable and network (connection, timeout)
 * failures: it emits 'fetch:retry' ({ error, attempt, delayMs }) and fetches again after a capped backoff
 * (100 ms doubling to 5 s), from the same positions. Anything else (authentication, unsupported, a user error)
 * still destroys the stream. Test: test/integration/reader-broker-restart.test.ts.
 *
 * Idempotent: an already patched file is left alone. Fails loudly (non-zero exit, so `npm ci` fails) when
 * the installed version or the code differs from what this patch was written against.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const EXPECTED_VERSION = '2.12.1'
const MARKER = 'flextask-patch: aborted-transactions v1'
const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '@platformatic', 'kafka')
const file = join(root, 'dist', 'clients', 'consumer', 'consumer.js')

const START = '    #filterUncommittedMessages(response) {\n'
const NEXT = '    #getRejoinError(error) {\n'

const REPLACEMENT = `    #filterUncommittedMessages(response) {
        // ${MARKER} (scripts/patch-platformatic-kafka.ts in flextask): the Java consumer's algorithm.
        // Aborted transactions ordered by first offset; a producer joins the aborted set when a batch reaches
        // that offset and leaves it only on an ABORT marker. Aborted data batches keep their place with no
        // records, so the MessagesStream still advances past them.
        for (const topic of response.responses) {
            for (const partition of topic.partitions) {
                if (!partition.records || !partition.abortedTransactions?.length) {
                    continue;
                }
                const pending = [...partition.abortedTransactions].sort((a, b) => a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0);
                const aborted = new Set();
                let next = 0;
                partition.records = partition.records.map(batch => {
                    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
                    while (next < pending.length && pending[next].firstOffset <= lastOffset) {
                        aborted.add(pending[next++].producerId);
                    }
                    if (batch.attributes & IS_CONTROL) {
                        if (batch.records[0]?.key?.readInt16BE(2) === 0) {
                            aborted.delete(batch.producerId);
                        }
                        return batch;
                    }
                    return (batch.attributes & 0x10) && aborted.has(batch.producerId) ? { ...batch, records: [] } : batch;
                });
                // Important: The control records are not filtered here but in the MessagesStream to allow proper offset tracking
            }
        }
    }
`

const STREAM_MARKER = 'flextask-patch: retriable-fetch v1'
const streamFile = join(root, 'dist', 'clients', 'consumer', 'messages-stream.js')
const FETCH_START = '    #fetch() {\n'
const FETCH_NEXT = '    #handleOffsetOutOfRange(error, topicIds, callback) {\n'
const FIELD = '    #closed;\n'
const SUCCESS = '                    this.#pushRecordsOperation(metadata, topicIds, response, requestedOffsets);\n'
const RETRY_METHOD = `    #flextaskRetryFetch(error) {
        // ${STREAM_MARKER} (scripts/patch-platformatic-kafka.ts in flextask): retriable and network failures
        // are waited out like the Java consumer's poll() does, instead of destroying the stream.
        const pending = [error];
        while (pending.length > 0) {
            const e = pending.pop();
            if (!e || typeof e !== 'object') continue;
            if (e.canRetry === false && e.code !== 'PLT_KFK_NETWORK') {
                this.destroy(error);
                return;
            }
            if (Array.isArray(e.errors)) pending.push(...e.errors);
            if (e.cause) pending.push(e.cause);
        }
        const attempt = ++this.#flextaskFetchRetries;
        const delayMs = Math.min(5000, 100 * 2 ** Math.min(attempt - 1, 6));
        this.emit('fetch:retry', { error, attempt, delayMs });
        setTimeout(() => {
            if (!(this.#closed || this.closed || this.destroyed)) this.#fetch();
        }, delayMs);
    }
`

function fail(reason: string): never {
  console.error(`patch-platformatic-kafka: ${reason}`)
  console.error('  A fix of scripts/patch-platformatic-kafka.ts could not be applied; re-check it')
  console.error('  against the installed @platformatic/kafka before changing its version (see the script header).')
  process.exit(1)
}

function patchConsumer(): void {
  const source = readFileSync(file, 'utf8')
  if (source.includes(MARKER)) {
    console.log('patch-platformatic-kafka: read_committed fix already applied')
    return
  }
  const start = source.indexOf(START)
  const end = source.indexOf(NEXT, start)
  if (start < 0 || end < 0) fail(`#filterUncommittedMessages not found in ${file}`)
  const original = source.slice(start, end)
  if (!original.includes('abortedRanges.set(aborted.producerId, [aborted.firstOffset, -1n]);'))
    fail(`#filterUncommittedMessages in ${file} is not the 2.12.1 code this patch replaces`)
  writeFileSync(file, source.slice(0, start) + REPLACEMENT + source.slice(end))
  console.log('patch-platformatic-kafka: applied the read_committed fix to @platformatic/kafka')
}

function patchMessagesStream(): void {
  const source = readFileSync(streamFile, 'utf8')
  if (source.includes(STREAM_MARKER)) {
    console.log('patch-platformatic-kafka: retriable fetch fix already applied')
    return
  }
  const start = source.indexOf(FETCH_START)
  const end = source.indexOf(FETCH_NEXT, start)
  const field = source.indexOf(FIELD)
  if (start < 0 || end < 0 || field < 0 || field > start) fail(`#fetch not found in ${streamFile}`)
  const fetch = source.slice(start, end)
  const destroys = fetch.match(/this\.destroy\((error|recoveryError)\);/g) ?? []
  if (destroys.length !== 4 || !fetch.includes(SUCCESS))
    fail(`#fetch in ${streamFile} is not the 2.12.1 code this patch changes (${destroys.length} destroy calls)`)
  const patched = fetch
    .replace(/this\.destroy\((error|recoveryError)\);/g, 'this.#flextaskRetryFetch($1);')
    .replace(SUCCESS, `                    this.#flextaskFetchRetries = 0;\n${SUCCESS}`)
  writeFileSync(
    streamFile,
    source.slice(0, field) +
      `${FIELD}    #flextaskFetchRetries = 0;\n` +
      source.slice(field + FIELD.length, start) +
      patched +
      RETRY_METHOD +
      source.slice(end),
  )
  console.log('patch-platformatic-kafka: applied the retriable fetch fix to @platformatic/kafka')
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
if (pkg.version !== EXPECTED_VERSION) fail(`expected @platformatic/kafka ${EXPECTED_VERSION}, found ${pkg.version}`)
patchConsumer()
patchMessagesStream()
