/**
 * Builds a topology: sources, processors, state stores and sinks, wired by name. The result is an immutable
 * description; each task instantiates its own processors from the suppliers.
 *
 * Co-partitioning contract: every source topic and every store changelog has the same partition count, and a
 * task for partition p reads partition p of every source. Sinks choose their partition explicitly (default:
 * the task's own partition), never through a client-side partitioner.
 */
import type { ErrorDecision, FailedRecord, ProcessorSupplier, Serde, StoreSerde, StreamRecord } from './api.ts'

export interface SourceNode {
  readonly kind: 'source'
  readonly name: string
  readonly topic: string
  readonly keySerde: Serde<unknown>
  readonly valueSerde: Serde<unknown>
  readonly children: string[]
}

export interface ProcessorNode {
  readonly kind: 'processor'
  readonly name: string
  readonly supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>
  readonly stores: string[]
  readonly children: string[]
}

export interface SinkNode {
  readonly kind: 'sink'
  readonly name: string
  readonly topic: (record: StreamRecord<unknown, unknown>) => string
  readonly keySerde: Serde<unknown>
  readonly valueSerde: Serde<unknown>
  /** The partition to write to; default: the task's partition (co-partitioned output). */
  readonly partition: (record: StreamRecord<unknown, unknown>, taskPartition: number) => number
}

export type TopologyNode = SourceNode | ProcessorNode | SinkNode

export interface StoreSpec {
  readonly name: string
  readonly valueSerde: StoreSerde<unknown>
}

export interface DeadLetterSpec {
  readonly topic: string
  /** Encodes the dead-letter record (key and value bytes) for a record that failed. */
  readonly toRecord: (failed: FailedRecord) => { key: Buffer | null; value: Buffer }
  /** Dead-letter, retry or fail; default: errors.ts `decide` (retriable → retry, misconfiguration → fail). */
  readonly decide?: (failed: FailedRecord) => ErrorDecision
  /** The reason code for an error; default: the error's `code`, else PROCESSING_FAILED. */
  readonly reasonCode?: (error: unknown) => string
}

export interface TopologyLimits {
  /**
   * Largest record (key + value + headers, in bytes) a task may produce, outputs and changelog records alike.
   * A unit of work that leaves a bigger one is undone and handled as an error (FLEXTASK_TOPOLOGY_RECORD_TOO_LARGE),
   * so the cycle never carries a record the broker refuses (max.message.bytes, 1048588 by default, includes
   * the batch overhead). @default 1000000
   */
  readonly maxRecordBytes: number
}

export const defaultTopologyLimits: TopologyLimits = { maxRecordBytes: 1_000_000 }

export interface Topology {
  readonly limits: TopologyLimits
  readonly nodes: ReadonlyMap<string, TopologyNode>
  readonly sources: readonly SourceNode[]
  readonly stores: ReadonlyMap<string, StoreSpec>
  readonly deadLetter: DeadLetterSpec | undefined
  /** Topics the topology reads, in declaration order. */
  readonly sourceTopics: readonly string[]
}

export class TopologyBuilder {
  readonly #nodes = new Map<string, TopologyNode>()
  readonly #stores = new Map<string, StoreSpec>()
  #deadLetter: DeadLetterSpec | undefined
  #limits: TopologyLimits = defaultTopologyLimits

  addSource<K, V>(name: string, spec: { topic: string; keySerde: Serde<K>; valueSerde: Serde<V> }): this {
    this.#add({
      kind: 'source',
      name,
      ...(spec as { topic: string; keySerde: Serde<unknown>; valueSerde: Serde<unknown> }),
      children: [],
    })
    return this
  }

  addProcessor<KIn, VIn, KOut, VOut>(
    name: string,
    supplier: ProcessorSupplier<KIn, VIn, KOut, VOut>,
    ...parents: string[]
  ): this {
    this.#add({
      kind: 'processor',
      name,
      supplier: supplier as unknown as ProcessorSupplier<unknown, unknown, unknown, unknown>,
      stores: [],
      children: [],
    })
    this.#link(name, parents)
    return this
  }

  addStateStore<V>(spec: { name: string; valueSerde: StoreSerde<V> }, ...processorNames: string[]): this {
    if (this.#stores.has(spec.name)) throw new Error(`state store '${spec.name}' is already defined`)
    this.#stores.set(spec.name, spec)
    for (const processorName of processorNames) {
      const node = this.#nodes.get(processorName)
      if (node?.kind !== 'processor')
        throw new Error(`state store '${spec.name}': no processor named '${processorName}'`)
      node.stores.push(spec.name)
    }
    return this
  }

  addSink<K, V>(
    name: string,
    spec: {
      topic: string | ((record: StreamRecord<K, V>) => string)
      keySerde: Serde<K>
      valueSerde: Serde<V>
      partition?: (record: StreamRecord<K, V>, taskPartition: number) => number
    },
    ...parents: string[]
  ): this {
    const topic = spec.topic
    this.#add({
      kind: 'sink',
      name,
      topic: (typeof topic === 'string' ? () => topic : topic) as SinkNode['topic'],
      keySerde: spec.keySerde,
      valueSerde: spec.valueSerde,
      partition: (spec.partition ?? ((_record, taskPartition) => taskPartition)) as SinkNode['partition'],
    })
    this.#link(name, parents)
    return this
  }

  setDeadLetter(spec: DeadLetterSpec): this {
    this.#deadLetter = spec
    return this
  }

  setLimits(limits: Partial<TopologyLimits>): this {
    const resolved = { ...this.#limits, ...limits }
    if (!Number.isSafeInteger(resolved.maxRecordBytes) || resolved.maxRecordBytes < 1024) {
      throw new RangeError(
        `topology.maxRecordBytes must be an integer of at least 1024, got ${resolved.maxRecordBytes}`,
      )
    }
    this.#limits = resolved
    return this
  }

  build(): Topology {
    const sources = [...this.#nodes.values()].filter((n): n is SourceNode => n.kind === 'source')
    if (sources.length === 0) throw new Error('a topology needs at least one source')
    return {
      limits: this.#limits,
      nodes: new Map(this.#nodes),
      sources,
      stores: new Map(this.#stores),
      deadLetter: this.#deadLetter,
      sourceTopics: [...new Set(sources.map((s) => s.topic))],
    }
  }

  #add(node: TopologyNode): void {
    if (this.#nodes.has(node.name)) throw new Error(`topology node '${node.name}' is already defined`)
    this.#nodes.set(node.name, node)
  }

  #link(child: string, parents: string[]): void {
    for (const parentName of parents) {
      const parent = this.#nodes.get(parentName)
      if (parent === undefined || parent.kind === 'sink')
        throw new Error(`'${child}': no source or processor named '${parentName}'`)
      parent.children.push(child)
    }
  }
}
