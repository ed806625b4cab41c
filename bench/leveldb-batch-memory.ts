/**
 * Probe behind store-backends.ts's array-form batches (issue 14): writes N values of 450 bytes into a fresh
 * classic-level database in batches of 9,000 (a restore fetch's worth), one batch in flight, the way the store
 * backend writes, and prints the resident memory backed by no file (RssAnon) as it goes. With `chained` batches
 * RssAnon grows with every batch (classic-level frees a chained batch's native memory only when V8 collects its
 * JS object); with `array` batches it stays flat. Not a benchmark: run it alone, under the bench lock.
 *
 * Usage: node --expose-gc bench/leveldb-batch-memory.ts [N=1200000] [chained|array]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AbstractBatchOperation } from 'abstract-level'
import { ClassicLevel } from 'classic-level'

const BATCH_RECORDS = 9_000
const VALUE_BYTES = 450

function rssAnonMiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8')
  return Math.round(Number(/^RssAnon:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024)
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1_200_000)
  const mode = process.argv[3] ?? 'chained'
  const dir = mkdtempSync(join(tmpdir(), 'leveldb-batch-memory-'))
  const db = new ClassicLevel<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  await db.open()
  const sublevel = db.sublevel<string, Buffer>('tasks', { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  const startedAt = performance.now()
  let previous: Promise<void> = Promise.resolve()
  for (let i = 0; i < count; i += BATCH_RECORDS) {
    const entries: [string, Buffer][] = []
    for (let j = i; j < Math.min(count, i + BATCH_RECORDS); j++)
      entries.push([`p-${(j * 7919) % count}`, Buffer.alloc(VALUE_BYTES, j % 251)])
    await previous
    if (mode === 'chained') {
      const batch = db.batch()
      for (const [key, value] of entries) batch.put(key, value, { sublevel })
      previous = batch.write()
    } else {
      const operations: AbstractBatchOperation<ClassicLevel<string, Buffer>, string, Buffer>[] = entries.map(
        ([key, value]) => ({ type: 'put', key, value, sublevel }),
      )
      previous = db.batch(operations)
    }
    if (i % (BATCH_RECORDS * 40) === 0) console.log(`${i} written: RssAnon ${rssAnonMiB()} MiB`)
  }
  await previous
  ;(globalThis as { gc?: () => void }).gc?.()
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1)
  console.log(`${mode}: ${count} values in ${seconds} s; RssAnon ${rssAnonMiB()} MiB after a full GC`)
  await db.close()
  rmSync(dir, { recursive: true, force: true })
}

await main()
