import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LevelStoreBackend, compareKeys } from '../../../topology/store-backends.ts'

const directories: string[] = []
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

async function openBackend(directory = mkdtempSync(join(tmpdir(), 'flextask-store-backends-'))) {
  directories.push(directory)
  const backend = new LevelStoreBackend(directory, ['timers'])
  await backend.open()
  return { backend, directory }
}

const bytes = (text: string) => Buffer.from(text)
const texts = (entries: [string, Buffer][]) => entries.map(([key, value]) => [key, value.toString()])

describe('LevelStoreBackend writes behind', () => {
  it('answers reads from a batch LevelDB has not applied yet, and the batch persists across a reopen', async () => {
    const { backend, directory } = await openBackend()
    await backend.write(
      ['a', 'b', 'c', 'd', 'e'].map((key) => ({ store: 'timers', key, value: bytes(`${key}1`) })),
      new Map([['offset', '5']]),
    )
    // The next batch starts once the first is applied, and write returns before LevelDB applies it.
    await backend.write(
      [
        { store: 'timers', key: 'b', value: null },
        { store: 'timers', key: 'c', value: bytes('c2') },
        { store: 'timers', key: 'bb', value: bytes('bb2') },
      ],
      new Map([['offset', '8']]),
    )
    const expectAll = async (b: LevelStoreBackend) => {
      expect(b.getSync('timers', 'b')).toBeUndefined()
      expect(b.getSync('timers', 'c')?.toString()).toBe('c2')
      expect(b.getMeta('offset')).toBe('8')
      expect(texts(await b.range('timers', {}))).toEqual([
        ['a', 'a1'],
        ['bb', 'bb2'],
        ['c', 'c2'],
        ['d', 'd1'],
        ['e', 'e1'],
      ])
      // A deleted key inside the limit does not leave the page short.
      expect(texts(await b.range('timers', { gte: 'a', limit: 3 }))).toEqual([
        ['a', 'a1'],
        ['bb', 'bb2'],
        ['c', 'c2'],
      ])
      expect(texts(await b.range('timers', { gt: 'bb', lt: 'e' }))).toEqual([
        ['c', 'c2'],
        ['d', 'd1'],
      ])
    }
    await expectAll(backend)
    await backend.close()
    const reopened = await openBackend(directory)
    await expectAll(reopened.backend)
    await reopened.backend.close()
  })

  it('wipe waits for the batch in flight and leaves nothing behind', async () => {
    const { backend } = await openBackend()
    await backend.write([{ store: 'timers', key: 'a', value: bytes('a1') }], new Map([['offset', '1']]))
    await backend.wipe()
    expect(backend.getSync('timers', 'a')).toBeUndefined()
    expect(backend.getMeta('offset')).toBeUndefined()
    expect(await backend.range('timers', {})).toEqual([])
    await backend.close()
  })
})

describe('compareKeys', () => {
  it('orders keys as their UTF-8 bytes, surrogate pairs and units above 0xE000 included', () => {
    const alphabet = ['a', 'z', '0', '|', 'é', '\u07ff', '\ud7ff', '\ue000', '\uffff', '😀', '😁', '𝄞']
    const keys: string[] = []
    for (let i = 0; i < 400; i++) {
      let key = ''
      for (let n = (i * 7) % 5; n >= 0; n--) key += alphabet[(i * 31 + n * 17) % alphabet.length]
      keys.push(key)
    }
    const bySign = (n: number) => Math.sign(n)
    for (const a of keys) {
      for (const b of keys.slice(0, 40)) {
        expect(bySign(compareKeys(a, b))).toBe(bySign(Buffer.compare(Buffer.from(a), Buffer.from(b))))
      }
    }
  })
})
