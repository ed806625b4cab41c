/**
 * The PromQL of deploy/: every expression of the Grafana dashboard and the Prometheus rules, the metric names
 * they read, and the names a /metrics exposition declares. Used by the deploy tests to check that dashboards
 * and rules name metrics the app really exports.
 */
import { readdirSync, readFileSync } from 'node:fs'
import type { Dashboard } from '@grafana/schema'
import { parse } from 'yaml'

export const deployDir = new URL('../../deploy/', import.meta.url)

export interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[]
}

/** Every expression of every panel target, with the panel title. */
export function dashboardExpressions(dashboard: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = []
  for (const panel of dashboard.panels ?? []) {
    const targets = 'targets' in panel ? (panel.targets ?? []) : []
    for (const target of targets) {
      const expr = (target as { expr?: unknown }).expr
      if (typeof expr === 'string') out.push({ where: `panel "${panel.title}"`, expr })
    }
  }
  return out
}

export function ruleFiles(): { path: string; rules: RuleFile }[] {
  const dir = new URL('prometheus/rules/', deployDir)
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => ({ path: new URL(f, dir).pathname, rules: parse(readFileSync(new URL(f, dir), 'utf8')) as RuleFile }))
}

export function ruleExpressions(): { where: string; expr: string }[] {
  return ruleFiles().flatMap(({ rules }) =>
    rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr }))),
  )
}

/** Names of the recording rules (`flextask:…`): expressions may read them like metrics. */
export function recordedNames(): Set<string> {
  return new Set(
    ruleFiles().flatMap(({ rules }) => rules.groups.flatMap((g) => g.rules.flatMap((r) => r.record ?? []))),
  )
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(new URL('grafana/dashboards/flextask.json', deployDir), 'utf8')) as Dashboard
}

const keywords = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'le',
  'inf',
  'nan',
])

/**
 * The metric names an expression reads: identifiers outside `{…}` label matchers, string literals, `[…]` ranges
 * and `by (…)` / `without (…)` / `on (…)` / `ignoring (…)` lists, not followed by `(` (a function or
 * aggregation), minus keywords. Grafana's `$__…` variables are removed first.
 */
export function metricNames(expr: string): string[] {
  let s = expr.replace(/\$__\w+/g, '1m')
  s = s.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  s = s.replace(/\{[^}]*\}/g, ' ')
  s = s.replace(/\[[^\]]*\]/g, ' ')
  // Numbers and durations (`0.99`, `1h`, `1e3`), so their letters are not read as names.
  s = s.replace(/(?<![a-zA-Z0-9_:])\d[\w.]*/g, ' ')
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = new Set<string>()
  for (const match of s.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    const [, name, call] = match
    if (name === undefined || call !== undefined || keywords.has(name.toLowerCase())) continue
    names.add(name)
  }
  return [...names]
}

/**
 * The sample names a text exposition declares: for each `# TYPE name type`, the name itself, and for histograms
 * and summaries `_bucket` / `_sum` / `_count` too (prom-client declares labelled metrics before their first sample).
 */
export function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>()
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match
    if (name === undefined) continue
    names.add(name)
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`)
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(`${name}${s}`)
  }
  return names
}
