// The flextask dashboard: preact + htm, no build step. Every call goes to the REST API (/api, README "The REST
// API") with the API key the operator enters, kept in this tab's sessionStorage; live events come over the API's
// WebSocket (/api/events). Routes are in the URL hash: #/tasks, #/tasks/<id>, #/new, #/tasks/<id>/edit,
// #/dead-letters, #/events.
import { render } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { html } from 'htm/preact'
import uPlot from 'uplot'

const keyStorage = 'flextask.apiKey'

// ---------------------------------------------------------------------------------------------------- API client

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`)
    this.status = status
    this.problem = problem
  }
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(keyStorage) ?? ''}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await response.text()
  const data = text === '' ? null : JSON.parse(text)
  if (!response.ok) throw new ApiError(response.status, data)
  return data
}

// ----------------------------------------------------------------------------------------------------- formatting

function duration(ms) {
  if (ms === null || ms === undefined) return '—'
  if (ms < 1000) return `${ms} ms`
  const units = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ]
  for (const [unit, size] of units) if (ms % size === 0 || ms >= size * 10) return `${+(ms / size).toFixed(1)} ${unit}`
  return `${ms / 1000} s`
}

function when(ms) {
  return ms === null || ms === undefined
    ? '—'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z')
}

const cronWords = [
  [/^\*\/(\d+) \* \* \* \* \*$/, (m) => `every ${m[1]} seconds`],
  [/^0 \*\/(\d+) \* \* \* \*$/, (m) => `every ${m[1]} minutes`],
  [/^0 \* \* \* \* \*$/, () => 'every minute'],
  [/^0 0 \* \* \* \*$/, () => 'every hour'],
  [/^0 (\d+) (\d+) \* \* \*$/, (m) => `every day at ${m[2].padStart(2, '0')}:${m[1].padStart(2, '0')}`],
]

/** A schedule in words: "every 5 s", "cron … (every minute) in Europe/Berlin", "once at …", "once, 10 s after creation". */
export function scheduleInWords(schedule, createdAtMs) {
  if (schedule === null || schedule === undefined) return '—'
  switch (schedule.kind) {
    case 'INTERVAL':
      return `every ${duration(schedule.everyMs)}${schedule.maxRuns ? `, at most ${schedule.maxRuns} runs` : ''}`
    case 'CRON': {
      const known = cronWords.map(([re, say]) => [re.exec(schedule.cron ?? ''), say]).find(([m]) => m !== null)
      const words = known === undefined ? '' : ` (${known[1](known[0])})`
      return `cron ${schedule.cron}${words} in ${schedule.timezone ?? 'UTC'}`
    }
    case 'ONE_SHOT':
      return `once at ${when(schedule.atMs)}`
    case 'DELAY':
      return `once, ${duration(schedule.delayMs)} after creation${createdAtMs ? ` (${when(createdAtMs + schedule.delayMs)})` : ''}`
    default:
      return schedule.kind
  }
}

// ------------------------------------------------------------------------------------------------------- routing

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/tasks')
  useEffect(() => {
    const onChange = () => setHash(location.hash || '#/tasks')
    window.addEventListener('hashchange', onChange)
    return () => window.removeEventListener('hashchange', onChange)
  }, [])
  return hash
}

// --------------------------------------------------------------------------------------------------- live events

/** One WebSocket for the page: the last 200 events, newest first; reconnects with the last resume token. */
function useLiveEvents() {
  const [events, setEvents] = useState([])
  const [state, setState] = useState('connecting')
  useEffect(() => {
    let socket
    let resume
    let closed = false
    let retry
    const connect = () => {
      const url = new URL('/api/events', location.href)
      url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
      url.searchParams.set('access_token', sessionStorage.getItem(keyStorage) ?? '')
      if (resume !== undefined) url.searchParams.set('resume', resume)
      socket = new WebSocket(url)
      socket.onopen = () => setState('live')
      socket.onmessage = (message) => {
        const event = JSON.parse(message.data)
        if (event.resume !== undefined) resume = event.resume
        if (event.type === 'event') setEvents((list) => [event, ...list].slice(0, 200))
      }
      socket.onclose = () => {
        setState('reconnecting')
        if (!closed) retry = setTimeout(connect, 2000)
      }
    }
    connect()
    return () => {
      closed = true
      clearTimeout(retry)
      socket?.close()
    }
  }, [])
  return { events, state }
}

function eventSummary(event) {
  const d = event.data ?? {}
  switch (event.kind) {
    case 'fire':
      return `fired ${d.executionId ?? ''} (${d.trigger ?? ''}, attempt ${d.attempt ?? 1})`
    case 'result':
      return `${d.status ?? 'result'} ${d.executionId ?? ''}${d.error ? `: ${d.error.code} ${d.error.message}` : ''}`
    case 'occurrence':
      return `occurrence ${d.outcome ?? ''}${d.reason ? ` (${d.reason})` : ''}`
    case 'deadLetter':
      return `dead letter ${d.reasonCode ?? ''}: ${d.message ?? ''}`
    default:
      return event.kind
  }
}

function EventList({ events, label }) {
  return html`<ul class="events" aria-label=${label} aria-live="polite">
    ${events.length === 0 && html`<li class="muted">No events yet.</li>`}
    ${events.map(
      (e) =>
        html`<li key=${`${e.topic}:${e.partition}:${e.offset}`}>
          <time>${when(e.timestampMs)}</time> <strong>${e.taskId}</strong> ${eventSummary(e)}
        </li>`,
    )}
  </ul>`
}

// -------------------------------------------------------------------------------------------------------- charts

/** Sums of the samples of a /metrics exposition, by series name and `le` for histogram buckets. */
function parseExposition(text) {
  const sums = new Map()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (m === null) continue
    const le = /le="([^"]+)"/.exec(m[2] ?? '')?.[1]
    const key = le === undefined ? m[1] : `${m[1]}|${le}`
    sums.set(key, (sums.get(key) ?? 0) + Number(m[3]))
  }
  return sums
}

function quantileOf(deltaBuckets, q) {
  const total = deltaBuckets.at(-1)?.[1] ?? 0
  if (total <= 0) return null
  const rank = q * total
  for (const [le, count] of deltaBuckets) if (count >= rank) return le === Infinity ? null : le
  return null
}

/** Polls /metrics every 2 s: fires/s, worker results/s and lateness p99 (ms) between polls. */
function useThroughput() {
  const [points, setPoints] = useState([[], [], [], []])
  useEffect(() => {
    let previous
    const poll = async () => {
      try {
        const text = await (await fetch('/metrics')).text()
        const now = Date.now() / 1000
        const sums = parseExposition(text)
        if (previous !== undefined) {
          const dt = now - previous.at
          const rate = (name) => Math.max(0, ((sums.get(name) ?? 0) - (previous.sums.get(name) ?? 0)) / dt)
          const buckets = [...sums.entries()]
            .filter(([k]) => k.startsWith('flextask_scheduler_fire_lateness_seconds_bucket|'))
            .map(([k, v]) => {
              const le = k.split('|')[1]
              return [le === '+Inf' ? Infinity : Number(le), v - (previous.sums.get(k) ?? 0)]
            })
            .sort((a, b) => a[0] - b[0])
          const p99 = quantileOf(buckets, 0.99)
          setPoints(([t, fires, results, lateness]) => [
            [...t, now].slice(-300),
            [...fires, rate('flextask_scheduler_fires_total')].slice(-300),
            [...results, rate('flextask_worker_executions_total')].slice(-300),
            [...lateness, p99 === null ? null : p99 * 1000].slice(-300),
          ])
        }
        previous = { at: now, sums }
      } catch {
        // The next poll tries again.
      }
    }
    void poll()
    const timer = setInterval(poll, 2000)
    return () => clearInterval(timer)
  }, [])
  return points
}

function Chart({ title, series, data }) {
  const ref = useRef(null)
  const plot = useRef(null)
  useEffect(() => {
    plot.current = new uPlot(
      {
        title,
        width: Math.max(320, (ref.current?.clientWidth ?? 400) - 8),
        height: 180,
        series: [{}, ...series],
        axes: [{}, { size: 50 }],
      },
      [[], ...series.map(() => [])],
      ref.current,
    )
    return () => plot.current?.destroy()
  }, [])
  useEffect(() => plot.current?.setData(data), [data])
  const last = series.map((s, i) => `${s.label} ${data[i + 1]?.at(-1)?.toFixed?.(2) ?? '—'}`).join(', ')
  return html`<figure ref=${ref} role="img" aria-label=${`${title}: latest ${last}`} style="margin:0"></figure>`
}

function Charts() {
  const [t, fires, results, lateness] = useThroughput()
  return html`<section class="card" aria-labelledby="charts-h">
    <h2 id="charts-h">Throughput and lateness</h2>
    <div class="charts">
      <${Chart}
        title="Fires and results per second"
        series=${[
          { label: 'fires/s', stroke: '#2458c6' },
          { label: 'worker results/s', stroke: '#1f7a3a' },
        ]}
        data=${[t, fires, results]}
      />
      <${Chart}
        title="Fire lateness p99 (ms)"
        series=${[{ label: 'p99 ms', stroke: '#b3261e' }]}
        data=${[t, lateness]}
      />
    </div>
  </section>`
}

// --------------------------------------------------------------------------------------------------- tasks table

function TasksPage({ events }) {
  // Pages are 0-based in the API; shown 1-based.
  const [query, setQuery] = useState({ q: '', category: '', status: '', page: 0 })
  const [page, setPage] = useState(null)
  const [error, setError] = useState(null)
  const size = 20
  // Each keystroke loads a page; answers can arrive out of order, so only the latest request's answer is shown.
  const latest = useRef(0)
  const load = useCallback(async () => {
    const params = new URLSearchParams({ page: String(query.page), size: String(size) })
    for (const k of ['q', 'category', 'status']) if (query[k] !== '') params.set(k, query[k])
    const request = ++latest.current
    try {
      const answer = await api(`/api/tasks?${params}`)
      if (request !== latest.current) return
      setPage(answer)
      setError(null)
    } catch (e) {
      if (request === latest.current) setError(e.message)
    }
  }, [query])
  useEffect(() => void load(), [load])
  // A live event reloads the page with the filters of that moment, not of the render that saw the event.
  const currentLoad = useRef(load)
  currentLoad.current = load
  const lastEvent = events[0]
  useEffect(() => {
    if (lastEvent !== undefined) {
      const timer = setTimeout(() => void currentLoad.current(), 300)
      return () => clearTimeout(timer)
    }
  }, [lastEvent])
  const set = (k) => (e) => setQuery({ ...query, [k]: e.currentTarget.value, page: 0 })
  const pages = page === null ? 1 : Math.max(1, Math.ceil(page.total / size))
  return html`<section class="card" aria-labelledby="tasks-h">
    <h2 id="tasks-h">Tasks</h2>
    <form class="toolbar" role="search" onSubmit=${(e) => e.preventDefault()}>
      <label>Search<input type="search" name="q" value=${query.q} onInput=${set('q')} placeholder="id, name" /></label>
      <label>Category<input name="category" value=${query.category} onInput=${set('category')} /></label>
      <div class="field">
        <label for="filter-status">Status</label>
        <select id="filter-status" name="status" value=${query.status} onChange=${set('status')}>
          <option value="">any</option>
          <option>ACTIVE</option>
          <option>PAUSED</option>
          <option>INVALID</option>
          <option>UNKNOWN</option>
        </select>
      </div>
      <a href="#/new"><button type="button">New task</button></a>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <table>
      <caption class="sr-only">
        Tasks, page ${query.page + 1} of ${pages}
      </caption>
      <thead>
        <tr>
          <th>Task</th>
          <th>Category / type</th>
          <th>Schedule</th>
          <th>Status</th>
          <th>Next fire</th>
          <th>Runs</th>
          <th>Last run</th>
        </tr>
      </thead>
      <tbody>
        ${(page?.items ?? []).map(
          (t) =>
            html`<tr key=${t.taskId}>
              <td>
                <a href=${`#/tasks/${encodeURIComponent(t.taskId)}`}>${t.taskId}</a>
                <div class="muted">${t.name}</div>
              </td>
              <td>${t.category} / ${t.type}</td>
              <td>${scheduleInWords(t.definition?.schedule, t.createdAtMs)}</td>
              <td class=${`status status-${t.status}`}>${t.status}</td>
              <td>${when(t.nextFireAtMs)}</td>
              <td>${t.runs?.succeeded ?? 0} ok · ${t.runs?.failed ?? 0} failed · ${t.runs?.dead ?? 0} dead</td>
              <td class=${`status status-${t.lastRun?.status}`}>${t.lastRun?.status ?? '—'}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <div class="toolbar" role="group" aria-label="Pages">
      <button
        class="secondary"
        disabled=${query.page <= 0}
        onClick=${() => setQuery({ ...query, page: query.page - 1 })}
      >
        Previous
      </button>
      <span>Page ${query.page + 1} of ${pages} (${page?.total ?? 0} tasks)</span>
      <button
        class="secondary"
        disabled=${query.page + 1 >= pages}
        onClick=${() => setQuery({ ...query, page: query.page + 1 })}
      >
        Next
      </button>
    </div>
  </section>`
}

// --------------------------------------------------------------------------------------------------- task detail

function Actions({ task, onDone }) {
  const [message, setMessage] = useState(null)
  const run = (label, path, method, body) => async () => {
    try {
      await api(path, { method, body })
      setMessage(`${label}: done`)
      onDone()
    } catch (e) {
      setMessage(`${label}: ${e.message}`)
    }
  }
  const base = `/api/tasks/${encodeURIComponent(task.taskId)}`
  const paused = task.status === 'PAUSED'
  return html`<div>
    <div class="actions" role="group" aria-label="Task actions">
      ${
        paused
          ? html`<button onClick=${run('Resume', `${base}/status`, 'PUT', { status: 'ACTIVE' })}>Resume</button>`
          : html`<button onClick=${run('Pause', `${base}/status`, 'PUT', { status: 'PAUSED' })}>Pause</button>`
      }
      <button onClick=${run('Trigger', `${base}/trigger`, 'POST')}>Trigger now</button>
      <button class="secondary" onClick=${run('Cancel', `${base}/cancel`, 'POST')}>Cancel</button>
      <button class="secondary" onClick=${run('Retry', `${base}/retry`, 'POST')}>Retry</button>
      <a href=${`#/tasks/${encodeURIComponent(task.taskId)}/edit`}
        ><button class="secondary" type="button">Edit</button></a
      >
    </div>
    ${message && html`<p class="notice" role="status">${message}</p>`}
  </div>`
}

function RunDetail({ executionId }) {
  const [execution, setExecution] = useState(null)
  useEffect(() => {
    api(`/api/executions/${encodeURIComponent(executionId)}`).then(setExecution, () => setExecution(undefined))
  }, [executionId])
  if (execution === null) return html`<p class="muted">Loading…</p>`
  if (execution === undefined) return html`<p class="error">Could not load the execution.</p>`
  return html`<div>
    <h3>Attempts of ${executionId}</h3>
    <table>
      <thead>
        <tr>
          <th>Attempt</th>
          <th>Status</th>
          <th>Worker</th>
          <th>Started</th>
          <th>Duration</th>
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        ${execution.attempts.map(
          (a) =>
            html`<tr key=${a.attempt}>
              <td>${a.attempt}</td>
              <td class=${`status status-${a.status}`}>${a.status}</td>
              <td>${a.worker ?? '—'}</td>
              <td>${when(a.startedAtMs)}</td>
              <td>${duration(a.durationMs)}</td>
              <td>${a.error ? `${a.error.code}: ${a.error.message}` : ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h3>Logs</h3>
    <ul class="events" aria-label="Logs">
      ${execution.logs.length === 0 && html`<li class="muted">No log lines.</li>`}
      ${execution.logs.map(
        (l) =>
          html`<li key=${`${l.attempt}-${l.seq}`}>
            <time>${when(l.loggedAtMs)}</time> #${l.attempt} ${l.level} ${l.message}
          </li>`,
      )}
    </ul>
  </div>`
}

function TaskDetail({ taskId, events }) {
  const [data, setData] = useState(null)
  const [error, setError] = useState(null)
  const [open, setOpen] = useState(null)
  const base = `/api/tasks/${encodeURIComponent(taskId)}`
  const load = useCallback(async () => {
    try {
      const [task, next, runs, occurrences] = await Promise.all([
        api(base),
        api(`${base}/next?count=5`).catch(() => null),
        api(`${base}/executions?size=20`).catch(() => ({ items: [] })),
        api(`${base}/occurrences`).catch(() => ({ items: [] })),
      ])
      setData({ task, next, runs, occurrences })
      setError(null)
    } catch (e) {
      setError(e.message)
    }
  }, [taskId])
  useEffect(() => void load(), [load])
  const mine = events.filter((e) => e.taskId === taskId)
  const lastMine = mine[0]
  useEffect(() => {
    if (lastMine !== undefined) {
      const timer = setTimeout(load, 300)
      return () => clearTimeout(timer)
    }
  }, [lastMine])
  if (error !== null) return html`<section class="card"><p class="error" role="alert">${error}</p></section>`
  if (data === null) return html`<section class="card"><p class="muted">Loading ${taskId}…</p></section>`
  const { task, next, runs, occurrences } = data
  const definition = task.definition ?? {}
  return html`<section class="card" aria-labelledby="task-h">
    <h2 id="task-h">
      ${task.taskId} <span class=${`status status-${task.status}`} data-testid="task-status">${task.status}</span>
    </h2>
    <p>${task.name} · ${task.category} / ${task.type} · version ${task.version}</p>
    <p>
      <strong>Schedule:</strong>
      <span data-testid="schedule-words">${scheduleInWords(definition.schedule, task.createdAtMs)}</span>
    </p>
    <${Actions} task=${task} onDone=${load} />
    <h3>Next instants</h3>
    ${next?.paused ? html`<p class="muted">Paused: nothing fires.</p>` : ''}
    <ol>
      ${(next?.instants ?? []).map((i) => html`<li key=${i.atMs}><time>${i.at}</time></li>`)}
    </ol>
    <h3>Occurrences (last hour)</h3>
    <ul class="timeline" aria-label="Occurrence timeline, oldest first">
      ${[...(occurrences.items ?? [])].reverse().map(
        (o) =>
          html`<li
            key=${`${o.scheduledForMs}-${o.outcome}`}
            class=${o.outcome}
            title=${`${when(o.scheduledForMs)} ${o.outcome} ${o.reason ?? ''}`}
          >
            <span class="sr-only">${when(o.scheduledForMs)} ${o.outcome} ${o.reason ?? ''}</span>
          </li>`,
      )}
    </ul>
    <h3>Runs</h3>
    <table>
      <thead>
        <tr>
          <th>Execution</th>
          <th>Attempt</th>
          <th>Trigger</th>
          <th>Status</th>
          <th>Due</th>
          <th>Lateness</th>
          <th>Duration</th>
        </tr>
      </thead>
      <tbody data-testid="runs">
        ${runs.items.map(
          (r) =>
            html`<tr key=${`${r.executionId}-${r.attempt}`}>
              <td>
                <button
                  class="secondary"
                  aria-expanded=${open === r.executionId}
                  onClick=${() => setOpen(open === r.executionId ? null : r.executionId)}
                >
                  ${r.executionId}
                </button>
              </td>
              <td>${r.attempt}</td>
              <td>${r.trigger}</td>
              <td class=${`status status-${r.status}`}>${r.status}</td>
              <td>${when(r.dueAtMs)}</td>
              <td>${r.firedAtMs !== null && r.dueAtMs !== null ? duration(r.firedAtMs - r.dueAtMs) : '—'}</td>
              <td>${duration(r.durationMs)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${open !== null && html`<${RunDetail} executionId=${open} />`}
    <h3>Live events of this task</h3>
    <${EventList} events=${mine} label="Live events of this task" />
  </section>`
}

// ------------------------------------------------------------------------------------------------- create / edit

const scheduleFields = {
  CRON: [
    ['cron', 'Cron (with seconds)', 'text'],
    ['timezone', 'Time zone', 'text'],
  ],
  INTERVAL: [['everyMs', 'Every (ms)', 'number']],
  ONE_SHOT: [['atMs', 'At (epoch ms)', 'number']],
  DELAY: [['delayMs', 'Delay (ms)', 'number']],
}

function Field({ id, label, error, children }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${children} ${error && html`<span class="error" id=${`${id}-error`} role="alert">${error}</span>`}
  </div>`
}

function TaskForm({ taskId }) {
  const editing = taskId !== undefined
  const [form, setForm] = useState({
    taskId: '',
    name: '',
    category: 'http',
    type: '',
    kind: 'INTERVAL',
    cron: '',
    timezone: 'UTC',
    everyMs: '5000',
    atMs: String(Date.now() + 60_000),
    delayMs: '10000',
    payload: '{}',
    maxAttempts: '1',
  })
  const [errors, setErrors] = useState({})
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    if (!editing) return
    api(`/api/tasks/${encodeURIComponent(taskId)}`).then((task) => {
      const d = task.definition ?? {}
      const s = d.schedule ?? {}
      setForm({
        taskId,
        name: task.name ?? '',
        category: task.category ?? '',
        type: task.type ?? '',
        kind: s.kind ?? 'INTERVAL',
        cron: s.cron ?? '',
        timezone: s.timezone ?? 'UTC',
        everyMs: String(s.everyMs ?? ''),
        atMs: String(s.atMs ?? ''),
        delayMs: String(s.delayMs ?? ''),
        payload: typeof d.payload === 'string' ? d.payload : JSON.stringify(d.payload ?? {}, null, 2),
        maxAttempts: String(d.retry?.maxAttempts ?? 1),
      })
    })
  }, [taskId])
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value })
  const submit = async (e) => {
    e.preventDefault()
    let payload
    try {
      payload = JSON.parse(form.payload || '{}')
    } catch (err) {
      setErrors({ payload: `not JSON: ${err.message}` })
      return
    }
    const schedule = { kind: form.kind }
    for (const [k, , type] of scheduleFields[form.kind]) schedule[k] = type === 'number' ? Number(form[k]) : form[k]
    const body = {
      ...(editing || form.taskId === '' ? {} : { taskId: form.taskId }),
      name: form.name || undefined,
      category: form.category,
      type: form.type,
      payload,
      schedule,
      retry: { maxAttempts: Number(form.maxAttempts) },
    }
    setBusy(true)
    try {
      const answer = editing
        ? await api(`/api/tasks/${encodeURIComponent(taskId)}`, { method: 'PUT', body })
        : await api('/api/tasks', { method: 'POST', body })
      setErrors({})
      location.hash = `#/tasks/${encodeURIComponent(answer.taskId)}`
    } catch (err) {
      const field = err.problem?.field
      const key = field?.startsWith('schedule.') ? field.slice('schedule.'.length) : field
      setErrors(key ? { [key]: err.message } : { form: err.message })
    } finally {
      setBusy(false)
    }
  }
  const input = (k, label, type = 'text') => {
    const id = `f-${k}`
    return html`<${Field} id=${id} label=${label} error=${errors[k]}>
      <input
        id=${id}
        name=${k}
        type=${type}
        value=${form[k]}
        onInput=${set(k)}
        aria-invalid=${errors[k] ? 'true' : 'false'}
        aria-describedby=${errors[k] ? `${id}-error` : undefined}
      />
    <//>`
  }
  return html`<section class="card" aria-labelledby="form-h">
    <h2 id="form-h">${editing ? `Edit ${taskId}` : 'New task'}</h2>
    <form onSubmit=${submit} novalidate>
      ${errors.form && html`<p class="error" role="alert">${errors.form}</p>`}
      <div class="form-grid">
        ${editing ? '' : input('taskId', 'Task id (optional)')} ${input('name', 'Name')}
        ${input('category', 'Category')} ${input('type', 'Type (handler)')}
        <${Field} id="f-kind" label="Schedule kind">
          <select id="f-kind" name="kind" value=${form.kind} onChange=${set('kind')}>
            ${Object.keys(scheduleFields).map((k) => html`<option key=${k}>${k}</option>`)}
          </select>
        <//>
        ${scheduleFields[form.kind].map(([k, label, type]) => input(k, label, type))}
        ${input('maxAttempts', 'Max attempts', 'number')}
      </div>
      <${Field} id="f-payload" label="Payload (JSON)" error=${errors.payload}>
        <textarea
          id="f-payload"
          name="payload"
          value=${form.payload}
          onInput=${set('payload')}
          aria-invalid=${errors.payload ? 'true' : 'false'}
        ></textarea>
      <//>
      <p><button type="submit" disabled=${busy}>${editing ? 'Save' : 'Create'}</button></p>
    </form>
  </section>`
}

// -------------------------------------------------------------------------------------------------- dead letters

function DeadLetters() {
  const [page, setPage] = useState(null)
  const [error, setError] = useState(null)
  useEffect(() => {
    api('/api/dead-letters?size=50').then(setPage, (e) => setError(e.message))
  }, [])
  return html`<section class="card" aria-labelledby="dl-h">
    <h2 id="dl-h">Dead letters</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <table>
      <thead>
        <tr>
          <th>Failed at</th>
          <th>Reason</th>
          <th>Message</th>
          <th>Task</th>
          <th>Source</th>
        </tr>
      </thead>
      <tbody>
        ${(page?.items ?? []).map(
          (d) =>
            html`<tr key=${`${d.partition}-${d.offset}`}>
              <td>${when(d.failedAtMs)}</td>
              <td class="status status-DEAD">${d.reasonCode}</td>
              <td>${d.message}</td>
              <td>${d.taskId ? html`<a href=${`#/tasks/${encodeURIComponent(d.taskId)}`}>${d.taskId}</a>` : '—'}</td>
              <td>${d.sourceTopic}:${d.sourcePartition}@${d.sourceOffset}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`
}

// ----------------------------------------------------------------------------------------------------------- app

function KeyForm({ onKey }) {
  const [value, setValue] = useState('')
  return html`<main>
    <section class="card" aria-labelledby="key-h">
      <h2 id="key-h">Sign in with an API key</h2>
      <p class="muted">The dashboard uses the REST API with your key (created with <code>flextask api-key</code>).</p>
      <form class="toolbar" onSubmit=${(e) => (e.preventDefault(), onKey(value.trim()))}>
        <label for="api-key"
          >API key<input
            id="api-key"
            type="password"
            autocomplete="off"
            value=${value}
            onInput=${(e) => setValue(e.currentTarget.value)}
        /></label>
        <button type="submit">Open the dashboard</button>
      </form>
    </section>
  </main>`
}

function Dashboard() {
  const hash = useHash()
  const { events, state } = useLiveEvents()
  const parts = hash.slice(2).split('/').map(decodeURIComponent)
  let page
  let current = 'tasks'
  if (parts[0] === 'tasks' && parts[1] !== undefined && parts[2] === 'edit')
    page = html`<${TaskForm} taskId=${parts[1]} />`
  else if (parts[0] === 'tasks' && parts[1] !== undefined)
    page = html`<${TaskDetail} key=${parts[1]} taskId=${parts[1]} events=${events} />`
  else if (parts[0] === 'new') page = html`<${TaskForm} />`
  else if (parts[0] === 'dead-letters') {
    current = 'dead-letters'
    page = html`<${DeadLetters} />`
  } else if (parts[0] === 'events') {
    current = 'events'
    page = html`<section class="card" aria-labelledby="ev-h">
      <h2 id="ev-h">Live events</h2>
      <${EventList} events=${events} label="Live events" />
    </section>`
  } else page = html`<${Charts} /><${TasksPage} events=${events} />`
  const link = (to, label) =>
    html`<a href=${`#/${to}`} aria-current=${current === to ? 'page' : undefined}>${label}</a>`
  return html`<div>
    <header>
      <h1>flextask</h1>
      <nav aria-label="Main">
        ${link('tasks', 'Tasks')} ${link('dead-letters', 'Dead letters')} ${link('events', 'Live events')}
      </nav>
      <span class="muted" role="status" data-testid="live-state">events: ${state}</span>
      <button class="secondary" onClick=${() => (sessionStorage.removeItem(keyStorage), location.reload())}>
        Sign out
      </button>
    </header>
    <main>${page}</main>
  </div>`
}

function App() {
  const [key, setKey] = useState(sessionStorage.getItem(keyStorage))
  if (key === null || key === '')
    return html`<${KeyForm} onKey=${(k) => (sessionStorage.setItem(keyStorage, k), setKey(k))} />`
  return html`<${Dashboard} />`
}

const root = document.getElementById('app')
root.textContent = ''
render(html`<${App} />`, root)
