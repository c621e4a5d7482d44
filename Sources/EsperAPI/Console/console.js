// Esper operator console: a static page over the public API (runs, live events, seeds,
// alerts, forge, blueprints, conservative mode). No build step, no third-party code, nothing
// fetched from elsewhere: charts are drawn on canvas and SVG. Changes send the API token the
// operator typed (kept in sessionStorage, so it leaves with the tab).
'use strict';

const TOKEN_KEY = 'esper-console-token';
const OPERATOR_KEY = 'esper-console-operator';
// Leyline's seed stages (SeedLifecycleStage), in lifecycle order.
const STAGE_COLOURS = {
  SEED_STAGE_GERMINATING: '#7cb7ff', SEED_STAGE_TRAINING: '#3d8bfd', SEED_STAGE_GRAFTING: '#a06cf0',
  SEED_STAGE_STABILIZING: '#f0a23b', SEED_STAGE_EVALUATING: '#e3c93b', SEED_STAGE_FINE_TUNING: '#17a2b8',
  SEED_STAGE_FOSSILIZED: '#2f9e5b', SEED_STAGE_CULLING: '#e8837f', SEED_STAGE_CANCELLED: '#d9534f',
};
const FINAL_STAGES = ['SEED_STAGE_FOSSILIZED', 'SEED_STAGE_CANCELLED'];
let currentPage = null; // { stop() } of the page on screen

// ---------------------------------------------------------------- API

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  if (token()) h['Authorization'] = 'Bearer ' + token();
  return h;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(status, problem));
    this.status = status;
  }
}

function problemText(status, problem) {
  if (status === 401) return 'This needs the API token: type it at the top right (401).';
  if (status === 403) return 'The API token was refused (403).';
  if (!problem) return 'HTTP ' + status;
  let text = (problem.title || 'HTTP ' + status) + (problem.detail ? ': ' + problem.detail : '');
  if (Array.isArray(problem.errors)) text += ' — ' + problem.errors.map((e) => e.field + ' ' + e.message).join('; ');
  return text;
}

async function api(method, path, body) {
  const init = { method, headers: headers(body !== undefined) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (_) { data = text; } }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Server-Sent Events over fetch (EventSource cannot send the token), reconnecting with the
// last event id so nothing is missed.
function openEvents(path, onEvent) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;
  async function connect() {
    while (!stopped) {
      try {
        const h = headers(false);
        h['Accept'] = 'text/event-stream';
        if (lastId) h['Last-Event-ID'] = lastId;
        const response = await fetch(path, { headers: h, signal: controller.signal });
        if (!response.ok || !response.body) throw new Error('HTTP ' + response.status);
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let type = 'message', data = '', id = null;
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
              else if (line.startsWith('id:')) id = line.slice(3).trim();
            }
            if (id) lastId = id;
            if (data) { try { onEvent(type, JSON.parse(data)); } catch (_) { /* one bad event must not end the stream */ } }
          }
        }
      } catch (error) {
        if (stopped) return;
      }
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  connect();
  return { stop() { stopped = true; controller.abort(); } };
}

// ---------------------------------------------------------------- DOM helpers

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'className') node.className = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attributes, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function notice(text, kind) {
  const box = document.getElementById('notice');
  box.textContent = text || '';
  box.className = text ? (kind || 'error') : '';
}

function percent(value) { return typeof value === 'number' ? (value * 100).toFixed(1) + ' %' : '—'; }
function number(value, digits) { return typeof value === 'number' ? value.toFixed(digits === undefined ? 4 : digits) : '—'; }
function stageName(stage) { return String(stage || '').replace('SEED_STAGE_', '').toLowerCase(); }

// ---------------------------------------------------------------- token

function setupToken() {
  const input = document.getElementById('token');
  const state = document.getElementById('token-state');
  function show() { state.textContent = token() ? 'token set' : 'read-only'; state.className = token() ? 'ok' : 'muted'; }
  input.value = token();
  document.getElementById('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
    show();
    notice('');
  });
  show();
}

// ---------------------------------------------------------------- runs list

function runsPage(view) {
  let timer = null;
  const status = el('select', { id: 'runs-status' },
    ['', 'queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled'].map((s) => el('option', { value: s }, s || 'any status')));
  const filter = el('input', { id: 'runs-filter', type: 'search', placeholder: 'filter by name or id' });
  const table = el('tbody', { id: 'runs-body' });
  view.append(
    el('section', {},
      el('h2', {}, 'Runs'),
      el('div', { className: 'toolbar' }, status, filter),
      el('table', { className: 'grid', id: 'runs-table' },
        el('thead', {}, el('tr', {}, ['Run', 'Status', 'Epoch', 'Validation accuracy', 'Validation loss', 'Created'].map((h) => el('th', {}, h)))),
        table)),
    startRunForm());
  async function refresh() {
    try {
      const query = status.value ? '?limit=100&status=' + status.value : '?limit=100';
      const page = await api('GET', '/api/v1/runs' + query);
      const words = filter.value.trim().toLowerCase();
      table.replaceChildren(...page.items
        .filter((run) => !words || (run.id + ' ' + (run.name || '')).toLowerCase().includes(words))
        .map((run) => el('tr', { 'data-run': run.id },
          // An unnamed run shows its id's random tail: run ids are time-ordered, so a
          // minute's runs share their first digits.
          el('td', {}, el('a', { href: '#/run/' + run.id }, run.name || '…' + run.id.slice(-8))),
          el('td', {}, el('span', { className: 'status ' + run.status }, run.status)),
          el('td', {}, run.epoch + ' / ' + run.epochs),
          el('td', { className: 'accuracy' }, percent(run.latest_metrics && run.latest_metrics.validation_accuracy)),
          el('td', {}, number(run.latest_metrics && run.latest_metrics.validation_loss)),
          el('td', {}, new Date(run.created_at).toLocaleString()))));
      if (!table.children.length) table.append(el('tr', {}, el('td', { colspan: 6, className: 'muted' }, 'No runs.')));
    } catch (error) { notice(error.message); }
  }
  status.addEventListener('change', refresh);
  filter.addEventListener('input', refresh);
  refresh();
  timer = setInterval(refresh, 3000);
  return { stop() { clearInterval(timer); } };
}

function startRunForm() {
  const kinds = ['two_moons', 'two_spirals', 'xor', 'checkerboard', 'gaussian_blobs', 'digits'];
  const dataset = el('select', { id: 'new-dataset' }, kinds.map((k) => el('option', { value: k, selected: k === 'digits' }, k)));
  const name = el('input', { id: 'new-name', placeholder: 'optional', size: 14 });
  const hidden = el('input', { id: 'new-hidden', value: '64', size: 8, title: 'hidden layer widths, comma-separated' });
  const epochs = el('input', { id: 'new-epochs', type: 'number', value: '40', min: 1, max: 100000 });
  const rate = el('input', { id: 'new-lr', type: 'number', value: '0.01', step: 'any', min: 0 });
  const policy = el('select', { id: 'new-policy' }, ['none', 'heuristic', 'learned'].map((p) => el('option', { value: p, selected: p === 'heuristic' }, p)));
  const form = el('form', { id: 'new-run', className: 'card' },
    el('h3', {}, 'Start a run'),
    el('label', {}, 'Name ', name), el('label', {}, 'Dataset ', dataset), el('label', {}, 'Hidden sizes ', hidden),
    el('label', {}, 'Epochs ', epochs), el('label', {}, 'Learning rate ', rate), el('label', {}, 'Policy ', policy),
    el('button', { type: 'submit', id: 'new-run-submit' }, 'Start'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const config = {
      dataset: { kind: dataset.value },
      model: { hidden_sizes: hidden.value.split(',').map((s) => parseInt(s.trim(), 10)).filter((n) => n > 0) },
      epochs: parseInt(epochs.value, 10), learning_rate: parseFloat(rate.value), policy: policy.value,
    };
    if (name.value.trim()) config.name = name.value.trim();
    if (policy.value !== 'none') config.seeds = { slots: ['slot-0'], warmup_epochs: 3, plateau_epochs: 2, plateau_delta: 0.01 };
    try {
      const run = await api('POST', '/api/v1/runs', config);
      notice('Run ' + run.id + ' started.', 'ok');
      location.hash = '#/run/' + run.id;
    } catch (error) { notice(error.message); }
  });
  return form;
}

// ---------------------------------------------------------------- one run

function runPage(view, id) {
  const epochs = new Map(); // epoch → {train, validation, accuracy}
  const seeds = new Map(); // seed id → {slot, blueprint, transitions: [{epoch, to}]}
  let run = null;
  let seedList = null;
  let lastEpoch = 0;
  const header = el('div', { id: 'run-header' });
  const controls = el('div', { className: 'toolbar' },
    el('button', { id: 'run-pause', onclick: () => control('pause') }, 'Pause'),
    el('button', { id: 'run-resume', onclick: () => control('resume') }, 'Resume'),
    el('button', { id: 'run-stop', className: 'danger', onclick: () => control('stop') }, 'Stop'));
  const curves = el('canvas', { id: 'curves', width: 900, height: 300 });
  const accuracy = el('canvas', { id: 'accuracy', width: 900, height: 160 });
  const timeline = el('div', { id: 'timeline' });
  const architecture = el('div', { id: 'architecture' });
  const log = el('ol', { id: 'event-log', reversed: true });
  view.append(el('section', {},
    el('h2', {}, 'Run'), header, controls,
    el('h3', {}, 'Loss (train, validation)'), curves,
    el('h3', {}, 'Validation accuracy'), accuracy,
    el('h3', {}, 'Seeds over epochs'), timeline,
    el('h3', {}, 'Host architecture'), architecture,
    el('h3', {}, 'Events'), log));

  async function control(action) {
    try {
      run = await api('POST', '/api/v1/runs/' + id + '/' + action);
      notice('Run ' + action + ': now ' + run.status + '.', 'ok');
      drawHeader();
    } catch (error) { notice(error.message); }
  }

  function drawHeader() {
    if (!run) return;
    const m = run.latest_metrics || {};
    header.replaceChildren(
      el('span', { className: 'status ' + run.status, id: 'run-status' }, run.status),
      ' ', el('strong', {}, run.name || run.id), ' ',
      el('span', { id: 'run-epoch' }, 'epoch ' + run.epoch + ' / ' + run.epochs), ' · accuracy ',
      el('span', { id: 'run-accuracy' }, percent(m.validation_accuracy)), ' · dataset ', run.config.dataset.kind,
      ' · policy ', run.config.policy || 'none');
  }

  function addEpoch(epoch, train, validation, acc) {
    if (typeof epoch !== 'number') return;
    epochs.set(epoch, { train, validation, accuracy: acc });
    lastEpoch = Math.max(lastEpoch, epoch);
  }

  function addTransition(seedId, slot, blueprint, epoch, to) {
    if (!seedId) return;
    const seed = seeds.get(seedId) || { slot, blueprint, transitions: [] };
    if (slot) seed.slot = slot;
    if (blueprint) seed.blueprint = blueprint;
    // Epoch packets repeat a seed's stage every epoch: keep only changes.
    const before = seed.transitions.filter((t) => t.epoch <= epoch);
    const current = before.length ? before[before.length - 1].to : null;
    if (to && current !== to && !seed.transitions.some((t) => t.epoch === epoch && t.to === to)) {
      seed.transitions.push({ epoch, to });
      const rank = (stage) => Object.keys(STAGE_COLOURS).indexOf(stage);
      seed.transitions.sort((a, b) => a.epoch - b.epoch || rank(a.to) - rank(b.to));
    }
    seeds.set(seedId, seed);
  }

  function draw() {
    const points = [...epochs.entries()].sort((a, b) => a[0] - b[0]);
    lineChart(curves, points, [
      { key: 'train', colour: '#3d8bfd', label: 'train loss' },
      { key: 'validation', colour: '#f0a23b', label: 'validation loss' }]);
    lineChart(accuracy, points, [{ key: 'accuracy', colour: '#2f9e5b', label: 'validation accuracy' }], [0, 1]);
    curves.dataset.points = String(points.length);
    drawTimeline(timeline, seeds, Math.max(lastEpoch, run ? run.epoch : 0));
    drawArchitecture(architecture, run, seedList);
  }

  async function loadSeeds() {
    try {
      seedList = await api('GET', '/api/v1/runs/' + id + '/seeds');
      for (const seed of seedList.items) {
        for (const t of seed.history || []) addTransition(seed.seed_id, seed.slot, seed.blueprint_id, t.epoch, t.to);
      }
    } catch (error) { /* a run without seeds yet */ }
  }

  let seedsDue = false;
  function loadSeedsSoon() {
    if (seedsDue) return;
    seedsDue = true;
    setTimeout(async () => { seedsDue = false; await loadSeeds(); draw(); }, 1000);
  }

  function logEvent(type, data) {
    const text = type === 'epoch'
      ? 'epoch ' + data.epoch + ': loss ' + number(data.training_loss) + ', accuracy ' + percent(data.validation_accuracy)
      : type === 'seed' ? 'seed ' + data.seed_id + ' ' + data.kind + (data.attributes && data.attributes.to ? ' → ' + stageName(data.attributes.to) : '')
      : type === 'run' ? 'run ' + data.kind + (data.status ? ' (' + data.status + ')' : '') + (data.message ? ': ' + data.message : '')
      : type === 'command' ? 'command ' + data.command_type + (data.blueprint_id ? ' ' + data.blueprint_id : '')
      : type;
    log.prepend(el('li', { className: 'event-' + type }, new Date().toLocaleTimeString() + ' ' + text));
    while (log.children.length > 200) log.lastChild.remove();
  }

  const events = openEvents('/api/v1/runs/' + id + '/events', (type, data) => {
    logEvent(type, data);
    if (type === 'epoch') {
      addEpoch(data.epoch, data.training_loss, data.validation_loss, data.validation_accuracy);
      if (run) {
        run.epoch = Math.max(run.epoch, data.epoch + 1);
        run.latest_metrics = Object.assign({}, run.latest_metrics, { validation_accuracy: data.validation_accuracy });
      }
      for (const s of data.seeds || []) addTransition(s.seed_id, s.slot, s.blueprint_id, data.epoch, s.stage);
      drawHeader();
      draw();
      if ((data.seeds || []).length) loadSeedsSoon();
    } else if (type === 'seed') {
      if (data.attributes && data.attributes.to) addTransition(data.seed_id, null, null, data.epoch || lastEpoch, data.attributes.to);
      loadSeedsSoon();
      draw();
    } else if (type === 'run') {
      if (run && data.status) { run.status = data.status; drawHeader(); }
    }
  });

  (async () => {
    try {
      run = await api('GET', '/api/v1/runs/' + id);
      drawHeader();
      const history = await api('GET', '/api/v1/runs/' + id + '/metrics');
      for (const e of history.epochs) addEpoch(e.epoch, e.train_loss, e.validation_loss, e.validation_accuracy);
      await loadSeeds();
      draw();
    } catch (error) { notice(error.message); }
  })();
  const timer = setInterval(async () => {
    try { run = await api('GET', '/api/v1/runs/' + id); drawHeader(); } catch (_) { /* next time */ }
  }, 5000);
  return { stop() { events.stop(); clearInterval(timer); } };
}

function lineChart(canvas, points, series, fixedRange) {
  const context = canvas.getContext('2d');
  const width = canvas.width, height = canvas.height, left = 56, right = 150, top = 10, bottom = 24;
  context.clearRect(0, 0, width, height);
  context.font = '12px sans-serif';
  let min = Infinity, max = -Infinity;
  for (const [, p] of points) for (const s of series) {
    const v = p[s.key];
    if (typeof v === 'number' && isFinite(v)) { min = Math.min(min, v); max = Math.max(max, v); }
  }
  if (fixedRange) { min = fixedRange[0]; max = fixedRange[1]; }
  if (!isFinite(min)) { context.fillStyle = '#888'; context.fillText('waiting for the first epoch…', left, height / 2); return; }
  if (max === min) { max += 1; min -= 1; }
  const first = points.length ? points[0][0] : 0, last = points.length ? points[points.length - 1][0] : 1;
  const x = (epoch) => left + (last === first ? 0.5 : (epoch - first) / (last - first)) * (width - left - right);
  const y = (v) => top + (1 - (v - min) / (max - min)) * (height - top - bottom);
  context.strokeStyle = '#ccc'; context.fillStyle = '#555'; context.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = min + (max - min) * i / 4;
    context.beginPath(); context.moveTo(left, y(v)); context.lineTo(width - right, y(v)); context.stroke();
    context.fillText(v.toPrecision(3), 4, y(v) + 4);
  }
  context.fillText('epoch ' + first, left, height - 6);
  context.fillText('epoch ' + last, width - right - 60, height - 6);
  series.forEach((s, index) => {
    context.strokeStyle = s.colour; context.lineWidth = 2; context.beginPath();
    let started = false;
    for (const [epoch, p] of points) {
      const v = p[s.key];
      if (typeof v !== 'number' || !isFinite(v)) continue;
      if (started) context.lineTo(x(epoch), y(v)); else { context.moveTo(x(epoch), y(v)); started = true; }
    }
    context.stroke();
    context.fillStyle = s.colour;
    context.fillRect(width - right + 12, top + index * 18, 12, 10);
    context.fillStyle = '#333';
    context.fillText(s.label, width - right + 30, top + index * 18 + 10);
  });
}

function drawTimeline(container, seeds, lastEpoch) {
  const rows = [...seeds.entries()];
  if (!rows.length) { container.replaceChildren(el('p', { className: 'muted' }, 'No seeds yet.')); return; }
  const width = 900, left = 170, rowHeight = 22, end = Math.max(lastEpoch, 1);
  const x = (epoch) => left + (epoch / end) * (width - left - 10);
  const picture = svg('svg', { width, height: rows.length * rowHeight + 30, id: 'timeline-svg', role: 'img' });
  rows.forEach(([seedId, seed], row) => {
    const y = row * rowHeight + 4;
    picture.append(svg('text', { x: 4, y: y + 13, 'font-size': 12 }, (seed.slot ? seed.slot + ' ' : '') + seedId.slice(0, 12) + (seed.blueprint ? ' ' + seed.blueprint : '')));
    seed.transitions.forEach((t, i) => {
      const next = i + 1 < seed.transitions.length ? seed.transitions[i + 1].epoch : end;
      const final = FINAL_STAGES.includes(t.to) && i + 1 === seed.transitions.length;
      const w = Math.max(final ? 4 : x(next) - x(t.epoch), 2);
      picture.append(svg('rect', { x: x(t.epoch), y, width: w, height: rowHeight - 6, fill: STAGE_COLOURS[t.to] || '#bbb', class: 'stage' },
        svg('title', {}, stageName(t.to) + ' from epoch ' + t.epoch)));
    });
  });
  let lx = 4;
  const legendY = rows.length * rowHeight + 14;
  for (const [stage, colour] of Object.entries(STAGE_COLOURS)) {
    picture.append(svg('rect', { x: lx, y: legendY, width: 10, height: 10, fill: colour }));
    picture.append(svg('text', { x: lx + 13, y: legendY + 9, 'font-size': 11 }, stageName(stage)));
    lx += 96;
  }
  container.replaceChildren(picture);
}

// The host MLP as it stands: input → hidden layer i (its width, grown by widening seeds) →
// slot i (the live seed and the fossilised branches kept in it) → … → output.
function drawArchitecture(container, run, seedList) {
  if (!run) return;
  const hidden = (run.config.model && run.config.model.hidden_sizes) || [32];
  const slotsByName = {};
  for (const slot of (seedList && seedList.slots) || []) slotsByName[slot.name] = slot;
  for (const slot of (run.latest_metrics && run.latest_metrics.slots) || []) slotsByName[slot.name] = Object.assign({}, slot, slotsByName[slot.name]);
  const maxWidth = Math.max(...hidden, ...Object.values(slotsByName).map((s) => s.width || 0), 1);
  const columnWidth = 150, height = 260, picture = svg('svg', { width: (2 + hidden.length * 2) * columnWidth, height, id: 'architecture-svg', role: 'img' });
  let x = 10;
  function layer(label, size, colour, extra) {
    const h = typeof size === 'number' ? 30 + 170 * Math.min(size / maxWidth, 1) : 60;
    picture.append(svg('rect', { x, y: (height - h) / 2, width: 60, height: h, rx: 6, fill: colour, class: 'layer' }));
    picture.append(svg('text', { x: x + 30, y: (height - h) / 2 - 6, 'text-anchor': 'middle', 'font-size': 12 }, label));
    if (typeof size === 'number') picture.append(svg('text', { x: x + 30, y: height / 2 + 4, 'text-anchor': 'middle', 'font-size': 12, fill: '#fff' }, String(size)));
    if (extra) extra(x);
    x += columnWidth;
  }
  function arrow() {
    picture.append(svg('line', { x1: x - columnWidth + 62, y1: height / 2, x2: x - 4, y2: height / 2, stroke: '#888', 'stroke-width': 2 }));
  }
  layer('input', null, '#6c757d');
  hidden.forEach((size, i) => {
    const slot = slotsByName['slot-' + i] || {};
    arrow();
    layer('hidden ' + i, slot.width || size, '#3d8bfd');
    arrow();
    layer('slot-' + i, slot.width || size, slot.live_seed ? '#a06cf0' : '#9aa5b1', (sx) => {
      const fossils = slot.fossils || [];
      fossils.forEach((fossil, k) => {
        picture.append(svg('rect', { x: sx + 66, y: 20 + k * 22, width: 76, height: 18, rx: 4, fill: '#2f9e5b', class: 'fossil' },
          svg('title', {}, 'fossilised ' + fossil)));
        picture.append(svg('text', { x: sx + 70, y: 33 + k * 22, 'font-size': 10, fill: '#fff' }, fossil.slice(0, 12)));
      });
      const module = slot.module && slot.module !== 'identity' ? slot.module : '';
      const live = slot.live_seed ? 'live ' + slot.live_seed.slice(0, 10) : '';
      picture.append(svg('text', { x: sx + 30, y: height - 12, 'text-anchor': 'middle', 'font-size': 11 }, [module, live].filter(Boolean).join(' · ') || 'identity'));
    });
  });
  arrow();
  layer('output', null, '#6c757d');
  container.replaceChildren(picture);
}

// ---------------------------------------------------------------- alerts

function alertsPage(view) {
  const state = el('select', { id: 'alerts-state' }, ['', 'firing', 'pending', 'resolved'].map((s) => el('option', { value: s }, s || 'any state')));
  const operator = el('input', { id: 'operator', placeholder: 'your name (for ack)', value: sessionStorage.getItem(OPERATOR_KEY) || '' });
  operator.addEventListener('change', () => sessionStorage.setItem(OPERATOR_KEY, operator.value.trim()));
  const body = el('tbody', { id: 'alerts-body' });
  view.append(el('section', {}, el('h2', {}, 'Alerts'), el('div', { className: 'toolbar' }, state, operator),
    el('table', { className: 'grid' },
      el('thead', {}, el('tr', {}, ['Rule', 'Severity', 'State', 'Value', 'Source', 'Since', 'Acknowledged', ''].map((h) => el('th', {}, h)))), body)));
  async function refresh() {
    try {
      const page = await api('GET', '/api/v1/nissa/alerts?limit=100' + (state.value ? '&state=' + state.value : ''));
      body.replaceChildren(...page.items.map((alert) => el('tr', { 'data-alert': alert.id },
        el('td', {}, alert.rule + (alert.drill ? ' (drill)' : '')),
        el('td', {}, el('span', { className: 'severity ' + alert.severity }, alert.severity)),
        el('td', {}, alert.state), el('td', {}, number(alert.value, 3) + ' ' + alert.comparator + ' ' + alert.threshold),
        el('td', {}, alert.source), el('td', {}, new Date(alert.fired_at || alert.started_at).toLocaleString()),
        el('td', { className: 'acked' }, alert.acknowledged_by ? alert.acknowledged_by : '—'),
        el('td', {}, alert.acknowledged_by ? '' : el('button', { className: 'ack', onclick: () => ack(alert.id) }, 'Ack')))));
      if (!body.children.length) body.append(el('tr', {}, el('td', { colspan: 8, className: 'muted' }, 'No alerts.')));
    } catch (error) { notice(error.message); }
  }
  async function ack(id) {
    const by = operator.value.trim();
    if (!by) { notice('Type your name first: an acknowledgement says who.'); return; }
    sessionStorage.setItem(OPERATOR_KEY, by);
    try { await api('POST', '/api/v1/nissa/alerts/' + id + '/ack', { by }); notice('Acknowledged.', 'ok'); refresh(); } catch (error) { notice(error.message); }
  }
  state.addEventListener('change', refresh);
  refresh();
  const timer = setInterval(refresh, 5000);
  return { stop() { clearInterval(timer); } };
}

// ---------------------------------------------------------------- forge and blueprints

function forgePage(view) {
  const status = el('div', { id: 'forge-status' });
  const body = el('tbody', { id: 'blueprints-body' });
  view.append(el('section', {}, el('h2', {}, 'Forge'), status,
    el('button', { id: 'forge-run', onclick: runForge }, 'Run the forge'),
    el('h2', {}, 'Blueprints (Urza)'),
    el('table', { className: 'grid' }, el('thead', {}, el('tr', {},
      ['Blueprint', 'Name', 'Tier', 'Kind', 'Width', 'Parameters', 'State', 'Quarantined'].map((h) => el('th', {}, h)))), body)));
  async function refresh() {
    try {
      const forge = await api('GET', '/api/v1/tezzeret/forge');
      status.replaceChildren(el('p', {}, 'State ', el('strong', {}, forge.state), ' · pending ', String((forge.pending || []).length),
        ' · running ', String((forge.running || []).length), ' · failed ', String((forge.failed || []).length),
        ' · runs ', String(forge.runs), forge.last_run ? ' · last run ' + JSON.stringify(forge.last_run).slice(0, 120) : ''));
      const page = await api('GET', '/api/v1/urza/blueprints?limit=100');
      body.replaceChildren(...page.items.map((b) => el('tr', {},
        el('td', {}, b.blueprint_id), el('td', {}, b.name), el('td', {}, String(b.tier || '').replace('BLUEPRINT_TIER_', '').toLowerCase()), el('td', {}, b.kind || ''),
        el('td', {}, b.seed_width === undefined ? '' : String(b.seed_width)), el('td', {}, typeof b.parameters === 'object' && b.parameters ? Object.entries(b.parameters).map(([k, v]) => k + '=' + v).join(', ') : String(b.parameters)),
        el('td', {}, b.state || ''), el('td', {}, b.quarantined ? 'yes' : 'no'))));
    } catch (error) { notice(error.message); }
  }
  async function runForge() {
    try { await api('POST', '/api/v1/tezzeret/forge', {}); notice('Forge run requested.', 'ok'); refresh(); } catch (error) { notice(error.message); }
  }
  refresh();
  const timer = setInterval(refresh, 5000);
  return { stop() { clearInterval(timer); } };
}

// ---------------------------------------------------------------- controller

function controllerPage(view) {
  const state = el('div', { id: 'mode-state' });
  const reason = el('input', { id: 'mode-reason', placeholder: 'reason', size: 30 });
  view.append(el('section', {}, el('h2', {}, 'Conservative mode (Tamiyo)'), state,
    el('div', { className: 'toolbar' }, reason,
      el('button', { id: 'mode-on', onclick: () => set(true) }, 'Turn on'),
      el('button', { id: 'mode-off', onclick: () => set(false) }, 'Turn off'))));
  async function refresh() {
    try {
      const mode = await api('GET', '/api/v1/tamiyo/mode');
      state.replaceChildren(el('p', {}, 'Conservative mode is ', el('strong', { id: 'mode-value' }, mode.conservative ? 'on' : 'off'),
        ' (' + mode.source + (mode.reason ? ': ' + mode.reason : '') + ', since ' + mode.since + ')'));
    } catch (error) { notice(error.message); }
  }
  async function set(on) {
    try {
      await api('PUT', '/api/v1/tamiyo/mode', { conservative: on, reason: reason.value.trim() || null });
      notice('Conservative mode ' + (on ? 'on' : 'off') + '.', 'ok');
      refresh();
    } catch (error) { notice(error.message); }
  }
  refresh();
  return { stop() {} };
}

// ---------------------------------------------------------------- studies

function studiesPage(view) {
  const table = el('tbody', { id: 'studies-body' });
  view.append(el('section', {}, el('h2', {}, 'Studies'),
    el('p', { className: 'muted' }, 'Runs grouped into arms and controls over seeds (POST /api/v1/studies; docs/studies.md).'),
    el('table', { className: 'grid', id: 'studies-table' },
      el('thead', {}, el('tr', {}, ['Study', 'Status', 'Runs done', 'Epochs', 'Created'].map((h) => el('th', {}, h)))),
      table)));
  async function refresh() {
    try {
      const page = await api('GET', '/api/v1/studies?limit=100');
      table.replaceChildren(...page.items.map((study) => {
        const p = study.progress || {};
        return el('tr', { 'data-study': study.id },
          el('td', {}, el('a', { href: '#/study/' + study.id }, study.name || study.id.slice(0, 8))),
          el('td', {}, el('span', { className: 'status ' + study.status }, study.status)),
          el('td', {}, (p.succeeded || 0) + (p.failed || 0) + (p.cancelled || 0) + ' / ' + (p.planned || 0)),
          el('td', {}, (p.epochs_done || 0) + ' / ' + (p.epochs_planned || 0)),
          el('td', {}, new Date(study.created_at).toLocaleString()));
      }));
      if (!table.children.length) table.append(el('tr', {}, el('td', { colspan: 5, className: 'muted' }, 'No studies.')));
    } catch (error) { notice(error.message); }
  }
  refresh();
  const timer = setInterval(refresh, 3000);
  return { stop() { clearInterval(timer); } };
}

const GROUP_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

function meanStd(statistics) {
  if (!statistics || typeof statistics.mean !== 'number') return '—';
  return percent(statistics.mean) + (typeof statistics.std === 'number' ? ' ± ' + (statistics.std * 100).toFixed(1) : '');
}

// Training FLOPs with an SI prefix (a run's count reaches 10^12 and more).
function flops(value) {
  if (typeof value !== 'number') return '—';
  for (const [scale, prefix] of [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
    if (Math.abs(value) >= scale) return (value / scale).toFixed(2) + ' ' + prefix + 'FLOP';
  }
  return value.toFixed(0) + ' FLOP';
}

function studyPage(view, id) {
  const header = el('p', { id: 'study-header' }, 'loading…');
  const groups = el('tbody', { id: 'study-groups' });
  const verdicts = el('tbody', { id: 'study-verdicts' });
  const canvas = el('canvas', { id: 'study-curves', width: 900, height: 300 });
  const stop = el('button', { id: 'study-stop', onclick: () => control('stop') }, 'Stop study');
  view.append(el('section', {}, el('h2', {}, 'Study'), header, el('div', { className: 'toolbar' }, stop),
    el('h3', {}, 'Groups (final validation accuracy over seeds)'),
    el('table', { className: 'grid' },
      el('thead', {}, el('tr', {}, ['Group', 'Kind', 'n', 'Final accuracy', 'Best accuracy', 'Final test accuracy',
        'Training FLOPs', 'Parameters', 'Germinations', 'Fossilisations', 'Culls', 'Failed'].map((h) => el('th', {}, h)))), groups),
    el('h3', {}, 'Verdicts (arm − control, 95 % Welch interval)'),
    el('table', { className: 'grid' },
      el('thead', {}, el('tr', {}, ['Arm', 'Control', 'Metric', 'Difference', '95 % interval', 'Verdict'].map((h) => el('th', {}, h)))),
      verdicts),
    el('h3', {}, 'Validation accuracy per epoch (mean over seeds)'), canvas));
  async function control(action) {
    try { await api('POST', '/api/v1/studies/' + id + '/' + action); notice('study ' + action + ' requested', 'ok'); refresh(); }
    catch (error) { notice(error.message); }
  }
  async function refresh() {
    try {
      const study = await api('GET', '/api/v1/studies/' + id);
      const p = study.progress || {};
      header.textContent = (study.name || study.id) + ' — ' + study.status + ', ' + ((p.succeeded || 0) + (p.failed || 0) +
        (p.cancelled || 0)) + ' of ' + (p.planned || 0) + ' runs done';
      groups.replaceChildren(...study.groups.map((group) => {
        const s = group.statistics || {};
        return el('tr', { 'data-group': group.name },
          el('td', {}, group.name), el('td', {}, group.kind), el('td', {}, (s.final_validation_accuracy || {}).n || 0),
          el('td', {}, meanStd(s.final_validation_accuracy)), el('td', {}, meanStd(s.best_validation_accuracy)),
          el('td', { 'data-column': 'final_test_accuracy' }, meanStd(s.final_test_accuracy)),
          el('td', { 'data-column': 'training_flops' }, flops((s.training_flops || {}).mean)),
          el('td', {}, number((s.parameters || {}).mean, 0)), el('td', {}, number((s.germinations || {}).mean, 1)),
          el('td', {}, number((s.fossilisations || {}).mean, 1)), el('td', {}, number((s.culls || {}).mean, 1)),
          el('td', {}, (group.failed || []).length));
      }));
      verdicts.replaceChildren(...study.verdicts.flatMap((arm) => arm.comparisons.map((c) =>
        el('tr', {}, el('td', {}, arm.arm), el('td', {}, arm.control), el('td', {}, c.metric),
          el('td', {}, number(c.difference)),
          el('td', {}, typeof c.ci_low === 'number' ? '[' + number(c.ci_low) + ', ' + number(c.ci_high) + ']' : '—'),
          el('td', { title: c.reason || '' }, el('span', { className: 'verdict ' + c.verdict }, c.verdict.replace('_', ' ')))))));
      if (!verdicts.children.length) verdicts.append(el('tr', {}, el('td', { colspan: 6, className: 'muted' }, 'No comparisons yet.')));
      const curves = await api('GET', '/api/v1/studies/' + id + '/curves?metric=validation_accuracy');
      const byEpoch = new Map();
      curves.groups.forEach((group, index) => {
        for (const point of group.points) {
          if (!byEpoch.has(point.epoch)) byEpoch.set(point.epoch, {});
          byEpoch.get(point.epoch)['g' + index] = point.mean;
        }
      });
      const points = [...byEpoch.entries()].sort((a, b) => a[0] - b[0]);
      canvas.setAttribute('data-groups', String(curves.groups.length));
      canvas.setAttribute('data-points', String(points.length));
      lineChart(canvas, points, curves.groups.map((group, index) =>
        ({ key: 'g' + index, label: group.name, colour: GROUP_COLOURS[index % GROUP_COLOURS.length] })));
    } catch (error) { notice(error.message); }
  }
  refresh();
  const timer = setInterval(refresh, 3000);
  return { stop() { clearInterval(timer); } };
}

// ---------------------------------------------------------------- routing

function route() {
  if (currentPage) currentPage.stop();
  const view = document.getElementById('view');
  view.replaceChildren();
  const hash = location.hash || '#/runs';
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', hash.startsWith(link.getAttribute('href')));
  const runMatch = hash.match(/^#\/run\/([0-9a-fA-F-]{8,64})$/);
  const studyMatch = hash.match(/^#\/study\/([0-9a-fA-F-]{8,64})$/);
  if (runMatch) currentPage = runPage(view, runMatch[1]);
  else if (studyMatch) currentPage = studyPage(view, studyMatch[1]);
  else if (hash === '#/studies') currentPage = studiesPage(view);
  else if (hash === '#/alerts') currentPage = alertsPage(view);
  else if (hash === '#/forge') currentPage = forgePage(view);
  else if (hash === '#/controller') currentPage = controllerPage(view);
  else currentPage = runsPage(view);
}

document.addEventListener('DOMContentLoaded', () => {
  setupToken();
  window.addEventListener('hashchange', () => { notice(''); route(); });
  route();
});
