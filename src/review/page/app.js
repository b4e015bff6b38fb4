// ferry's review page: plain JS against the /api routes, no build step.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const badge = (text, cls = text) => `<span class="badge ${esc(cls)}">${esc(text)}</span>`;

// The token arrives once in the URL fragment (#token=…) from `ferry serve`, then lives in
// this tab's sessionStorage; it is taken out of the address bar at once.
const TOKEN_KEY = 'ferry-api-token';
function takeTokenFromHash() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + '#/');
    $('#token-form').hidden = true;
  }
}
const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

function toast(message, isError = false) {
  const div = document.createElement('div');
  div.className = isError ? 'error' : '';
  div.textContent = message;
  div.dataset.testid = isError ? 'toast-error' : 'toast';
  $('#toast').appendChild(div);
  setTimeout(() => div.remove(), isError ? 9000 : 4000);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code || 'HTTP_ERROR';
    this.hint = body?.error?.hint;
  }
}

async function api(method, path, body) {
  const res = await fetch(`/api${path}`, {
    method,
    headers: { authorization: `Bearer ${token()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = await res.json().catch(() => null);
  if (res.status === 401) showTokenForm();
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

function showTokenForm() {
  $('#token-form').hidden = false;
}
$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('#token-input').value.trim());
  $('#token-form').hidden = true;
  route();
});

const fail = (e) => toast(`${e.code ? `${e.code}: ` : ''}${e.message}${e.hint ? ` — ${e.hint}` : ''}`, true);

// ---- sidebar --------------------------------------------------------------------------

async function loadLists() {
  const [{ plans }, { runs }] = await Promise.all([api('GET', '/plans'), api('GET', '/runs')]);
  $('#plan-list').innerHTML =
    plans
      .map(
        (p) => `<li><a href="#/plans/${encodeURIComponent(p.planId)}" data-testid="plan-link">${esc(p.sourceTable)} → ${esc(p.targetTable)}
          <small>r${p.revision} ${badge(p.status)} ${p.needsReview ? `⚠ ${p.needsReview} to review` : ''}</small></a></li>`,
      )
      .join('') || '<li class="muted">no plans yet</li>';
  $('#run-list').innerHTML =
    runs
      .map(
        (r) => `<li><a href="#/runs/${r.id}" data-testid="run-link">run ${r.id} · ${esc(r.mode.replace('_', ' '))}
          <small>${esc(r.planId)} r${r.revision} ${badge(r.status)}</small></a></li>`,
      )
      .join('') || '<li class="muted">no runs yet</li>';
}

$('#describe-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const description = $('#describe-text').value.trim();
  const button = $('#describe-form button');
  button.disabled = true;
  try {
    const made = await api('POST', '/describe', { description });
    toast(`Plan ${made.plan.id} made`);
    location.hash = `#/plans/${encodeURIComponent(made.plan.id)}`;
  } catch (err) {
    fail(err);
  } finally {
    button.disabled = false;
  }
});

// ---- a plan ---------------------------------------------------------------------------

const describeOrigin = (o) =>
  ({
    copy: () => `copy <code>${esc(o.source)}</code>`,
    cast: () => `<code>${esc(o.source)}</code> as ${esc(o.to)}`,
    constant: () => `constant <code>${esc(JSON.stringify(o.value))}</code>`,
    generated_uuid: () => 'new uuid',
    enum_map: () => `enum map of <code>${esc(o.source)}</code>`,
    foreign_key: () => 'FK decision',
    default: () => 'database default',
    via_mapping: () => `<code>${esc(o.source)}</code> → ${esc(o.parent.targetTable)} via mappings (orphans: ${esc(o.onOrphan)})`,
    // Shown as code, with what it reads: the sandbox runs it, validation re-derives every value from it.
    expression: () =>
      `<code class="expr" data-testid="expression">${esc(o.text)}</code><br><span class="muted" data-testid="expression-reads">reads ${o.reads.map((r) => `<code>${esc(r)}</code>`).join(', ') || 'no column'}${o.enumMapped ? ' · each value through the enum mapping' : ''} · re-derived by validation</span>`,
    transform: () => `model-written function of ${o.sources.map((s) => `<code>${esc(s)}</code>`).join(', ')}: ${esc(o.description)} <span class="muted">· checked by type only</span>`,
  })[o.kind]?.() ?? esc(o.kind);

function filterText(f) {
  if (f.op === 'exclude') return `${f.column} not ${JSON.stringify(f.values)} (NULL kept)`;
  if (f.op === 'where') return `(${f.predicate.source})`;
  return `${f.column} ${f.op}${'value' in f ? ` ${JSON.stringify(f.value)}` : ''}`;
}

function filtersText(filters) {
  return filters.length ? filters.map(filterText).join(' and ') : 'all rows';
}

/** The description with each span highlighted by what it became (issue 15); unread words numbered as --ack takes them. */
function readingHtml(plan) {
  const r = plan.reading;
  if (!r) return esc(plan.description);
  const text = r.artifact.description;
  let at = 0;
  let html = '';
  // Where the model and the rules read words differently (numbered after the spans, as --ack takes them).
  const disputes = (r.comparison?.disagreements ?? []).map((d, k) => ({ ...d, n: r.artifact.spans.length + k + 1 }));
  r.artifact.spans.forEach((s, i) => {
    html += esc(text.slice(at, s.start));
    const b = s.binding;
    const d = disputes.find((x) => x.start <= s.start && s.end <= x.end);
    const acked = r.acknowledged.includes(i + 1) || (d && r.acknowledged.includes(d.n));
    let title = b.kind === 'unread' ? `#${i + 1} not read: ${b.why}${acked ? ' (acknowledged)' : ''}` : `${b.kind.replace('_', ' ')}: ${b.table ?? b.shown ?? (b.expression ? `${b.column} = ${b.expression}` : b.source ? `${b.source} → ${b.target}` : '')} (${s.evidence})`;
    if (d) title = `#${d.n} read differently: the model read ${d.model}; the rules read ${d.rules}${acked ? ' (acknowledged)' : ''}`;
    const sup = d ? (s.end === d.end || text.slice(s.end, d.end).trim() === '' ? `<sup>#${d.n}</sup>` : '') : b.kind === 'unread' ? `<sup>#${i + 1}</sup>` : '';
    html += b.kind === 'filler' && !d ? esc(s.text) : `<mark class="reading-${esc(d ? 'disputed' : b.kind)}${acked ? ' acked' : ''}" title="${esc(title)}">${esc(s.text)}${sup}</mark>`;
    at = s.end;
  });
  return html + esc(text.slice(at));
}

async function showPlan(planId) {
  const data = await api('GET', `/plans/${encodeURIComponent(planId)}`);
  const { plan, reviewItems, versions } = data;
  const isDraft = plan.status === 'draft';
  const main = $('#main');
  main.innerHTML = `
    <section data-testid="plan-summary">
      <div class="row"><h3 class="flush">${esc(plan.source.schema)}.${esc(plan.source.table)} → ${esc(plan.target.schema)}.${esc(plan.target.table)}</h3>
        ${badge(plan.status)} <span class="muted">revision ${plan.revision}${plan.approvedBy ? ` · approved by ${esc(plan.approvedBy)}` : ''}</span></div>
      <p data-testid="reading">“${readingHtml(plan)}”</p>
      <p class="muted">${plan.source.rowCount} source rows where ${esc(filtersText(plan.source.filters))} · legacy key <code>${esc(plan.source.key)}</code> · batches of ${plan.strategy.batchSize} · plan sha256 <code>${esc(data.planHash.slice(0, 12))}…</code></p>
    </section>
    <section class="review-banner ${reviewItems.length ? '' : 'clear'}" data-testid="review-banner">
      ${reviewItems.length ? `<h3>⚠ ${reviewItems.length} decision(s) before this plan can run</h3><ul>${reviewItems.map((i) => `<li>${esc(i.split('. Resolve with')[0])}</li>`).join('')}</ul>` : `<h3>Nothing needs review</h3>`}
      <div class="row">
        ${isDraft ? `<button class="primary" id="approve" data-testid="approve" ${reviewItems.length ? 'disabled' : ''}>Approve revision ${plan.revision}</button>
        <button class="danger" id="reject" data-testid="reject">Reject</button>` : ''}
        ${plan.status === 'approved' ? `<button class="primary" id="run" data-testid="run">Run</button><button id="dry-run" data-testid="dry-run">Dry run (preview)</button>` : ''}
      </div>
    </section>
    <section><h3>Columns: source → target</h3>
      <table data-testid="columns"><thead><tr><th>target column</th><th>type</th><th>from</th><th>confidence</th><th>why</th></tr></thead><tbody>
      ${plan.columns
        .map(
          (c) => `<tr class="${c.status === 'needs_review' ? 'needs-review' : c.status}"><td><code>${esc(c.target)}</code></td><td>${esc(c.targetType)}</td>
          <td>${describeOrigin(c.origin)}</td><td>${c.confidence.toFixed(2)}</td><td>${esc(c.reason)}</td></tr>`,
        )
        .join('')}
      </tbody></table>
    </section>
    ${plan.enumMappings.map((m, mi) => enumSection(m, mi, isDraft)).join('')}
    ${plan.foreignKeys.map((fk, fi) => fkSection(fk, fi, isDraft)).join('')}
    ${(plan.parentTables ?? []).length ? `<section data-testid="parent-tables"><h3>Referenced tables: which legacy table became which target table</h3><ul>${plan.parentTables
      .map((p) => `<li><code>${esc(p.sourceTable)}</code> → <code>${esc(p.targetTable)}</code> for ${esc(p.columns.join(', '))}: ${esc(p.evidence.replace(/_/g, ' '))} (${esc(p.detail)})${p.parentMigrated ? '' : ' · <strong>not migrated yet: run it first</strong>'}</li>`)
      .join('')}</ul></section>` : ''}
    ${(plan.notCarried ?? []).length ? `<section data-testid="not-carried"><h3>Not carried: ${plan.notCarried.length} source column(s) no origin reads</h3>
      <table><thead><tr><th>source column</th><th>why it stays behind</th></tr></thead><tbody>${plan.notCarried
        .map((c) => `<tr><td><code>${esc(c.column)}</code></td><td>${esc(c.why)}</td></tr>`)
        .join('')}</tbody></table></section>` : ''}
    ${isDraft ? rowsSection(plan) : ''}
    ${isDraft && hasEditable(plan) ? `<section><div class="row"><button class="primary" id="save-decisions" data-testid="save-decisions">Save decisions (new revision)</button><span class="muted">each decision is checked against the data</span></div></section>` : ''}
    <div class="grid2">
      <section><h3>Risk ${badge(plan.risk.level)}</h3><ul>${plan.risk.reasons.map((r) => `<li>${esc(r)}</li>`).join('') || '<li class="muted">nothing flagged</li>'}</ul></section>
      <section><h3>Validations after the run</h3><ul data-testid="validations">${plan.validations.map((v) => `<li>${esc(v.replace(/_/g, ' '))}</li>`).join('')}</ul>
        <p class="muted">${esc(plan.strategy.transformations.join(' · '))}</p></section>
    </div>
    <section data-testid="versions"><h3>Versions</h3>
      <table><thead><tr><th>revision</th><th>status</th><th>decided</th><th>overrides</th></tr></thead><tbody>
      ${versions
        .map(
          (v) => `<tr><td>r${v.revision}</td><td>${badge(v.status)}</td><td>${v.decidedBy ? `${esc(v.decidedBy)}, ${esc(v.decidedAt)}` : '—'}${v.decisionNote ? `: ${esc(v.decisionNote)}` : ''}</td>
          <td>${v.overrides.map((o) => esc(o.what)).join('<br>') || '—'}</td></tr>`,
        )
        .join('')}
      </tbody></table>
      ${versions.length > 1 ? `<div class="row spaced">Diff <select id="diff-from">${versions.map((v) => `<option ${v.revision === versions.length - 1 ? 'selected' : ''}>${v.revision}</option>`).join('')}</select>
        → <select id="diff-to">${versions.map((v) => `<option ${v.revision === versions.length ? 'selected' : ''}>${v.revision}</option>`).join('')}</select>
        <button id="diff" data-testid="diff">Show changes</button></div><div id="diff-out"></div>` : ''}
    </section>
    <section><h3>The program that will run <span class="muted" id="program-status"></span></h3><pre class="code" id="program" data-testid="program">loading…</pre></section>
    <section><h3>Runs of this plan</h3><ul id="plan-runs"></ul></section>`;

  $('#approve')?.addEventListener('click', () => decide(plan, 'approve'));
  $('#reject')?.addEventListener('click', () => {
    const note = prompt('Why reject it? (kept with the decision)') ?? '';
    decide(plan, 'reject', note);
  });
  $('#run')?.addEventListener('click', () => startRun(plan, false));
  $('#dry-run')?.addEventListener('click', () => startRun(plan, true));
  $('#save-decisions')?.addEventListener('click', () => saveDecisions(plan));
  $('#where-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    narrow(plan);
  });
  for (const b of document.querySelectorAll('button[data-take-back]')) b.addEventListener('click', () => postOverrides(plan, takeBackBodies(plan)[Number(b.dataset.takeBack)].body));
  for (const b of document.querySelectorAll('button[data-bulk]')) b.addEventListener('click', () => assignSelected(plan, Number(b.dataset.bulk), b.dataset.action));
  for (const all of document.querySelectorAll('input[data-pick-all]')) {
    all.addEventListener('change', () => {
      for (const c of document.querySelectorAll(`input[data-pick="${all.dataset.pickAll}"]`)) c.checked = all.checked;
    });
  }
  $('#diff')?.addEventListener('click', async () => {
    try {
      const d = await api('GET', `/plans/${encodeURIComponent(plan.id)}/diff?from=${$('#diff-from').value}&to=${$('#diff-to').value}`);
      $('#diff-out').innerHTML = d.changes.length
        ? `<table data-testid="diff-table"><thead><tr><th>what</th><th>subject</th><th>from</th><th>to</th></tr></thead><tbody>${d.changes
            .map((c) => `<tr><td>${esc(c.area.replace('_', ' '))}</td><td>${esc(c.subject)}</td><td class="diff-from">${esc(c.from)}</td><td class="diff-to">${esc(c.to)}</td></tr>`)
            .join('')}</tbody></table>`
        : '<p class="muted">no differences</p>';
    } catch (err) {
      fail(err);
    }
  });
  api('GET', `/runs?planId=${encodeURIComponent(plan.id)}`)
    .then(({ runs }) => {
      $('#plan-runs').innerHTML = runs.map((r) => `<li><a href="#/runs/${r.id}">run ${r.id}</a> ${esc(r.mode.replace('_', ' '))} r${r.revision} ${badge(r.status)}</li>`).join('') || '<li class="muted">none yet</li>';
    })
    .catch(fail);
  if (reviewItems.length) {
    // The Code Interpreter writes a program only for a plan with every decision made.
    $('#program').textContent = 'The program is generated once nothing needs review.';
    return;
  }
  api('GET', `/plans/${encodeURIComponent(plan.id)}/program?revision=${plan.revision}`)
    .then((p) => {
      $('#program').innerHTML = highlight(p.program);
      $('#program-status').textContent = p.typecheck.ok ? '· type-checked against the analysed schemas: OK' : `· type-check FAILED (${p.typecheck.diagnostics.length} diagnostics)`;
    })
    .catch((err) => {
      $('#program').textContent = `${err.code}: ${err.message}`;
    });
}

/** The reviewer's conditions on the rows, each with the overrides body that takes it back (--unwhere, --include, --include-null). */
function takeBackBodies(plan) {
  return plan.source.filters.flatMap((f) => {
    if (f.op === 'where') return [{ text: `only rows where ${f.predicate.source}`, body: { unwhere: [f.predicate.source] } }];
    if (f.op === 'exclude') return f.values.map((v) => ({ text: `rows whose ${f.column} is ${JSON.stringify(v)} left out`, body: { include: [{ source: v }] } }));
    if (f.op === 'is_not_null') return [{ text: `rows whose ${f.column} is NULL left out`, body: { includeNull: [f.column] } }];
    return [];
  });
}

/**
 * Rows that move: the conditions a reviewer can take back, and a predicate box (--where). The
 * server checks the predicate with the CLI's parser and type checker; a refusal is shown here,
 * next to the box, and nothing is saved.
 */
function rowsSection(plan) {
  const own = takeBackBodies(plan);
  return `<section data-testid="rows-filter"><h3>Rows that move</h3>
    <ul>${own.map((c, i) => `<li>${esc(c.text)} <button data-take-back="${i}" data-testid="take-back">Take back</button></li>`).join('') || '<li class="muted">no condition of a reviewer</li>'}</ul>
    <form id="where-form" class="row"><label for="where-text">only rows where</label>
      <input id="where-text" data-testid="where-input" size="60" autocomplete="off" placeholder="status <> 'gone' AND parent.closed = false" aria-describedby="where-error">
      <button data-testid="where-add">Narrow (new revision)</button></form>
    <p class="inline-error" id="where-error" data-testid="where-error" role="alert" hidden></p></section>`;
}

async function narrow(plan) {
  const text = $('#where-text').value.trim();
  const out = $('#where-error');
  if (!text) {
    out.textContent = 'Write a condition first, e.g. site.closed = false';
    out.hidden = false;
    return;
  }
  try {
    await api('POST', `/plans/${encodeURIComponent(plan.id)}/overrides`, { revision: plan.revision, by: reviewer(), where: [text] });
    toast('Rows narrowed: a new revision');
    await refresh();
  } catch (err) {
    out.textContent = `${err.code}: ${err.message}${err.hint ? ` — ${err.hint}` : ''}`;
    out.hidden = false;
  }
}

const hasEditable = (plan) =>
  plan.enumMappings.some((m) => m.values.some((v) => v.status === 'needs_review')) || plan.foreignKeys.some((f) => f.status === 'needs_review' || f.value === null);

/** Several flagged values at once: pick rows, then one enum value (or leave them out), saved as one revision. */
function bulkBar(m, mi) {
  return `<div class="row" data-testid="bulk-assign">With the selected values:
    <select data-bulk-value="${mi}" aria-label="enum value for the selected source values"><option value="">— choose —</option>${m.enumValues.map((e) => `<option>${esc(e)}</option>`).join('')}</select>
    <button data-bulk="${mi}" data-action="map" data-testid="assign-selected">Assign to selected</button>
    <button data-bulk="${mi}" data-action="exclude" data-testid="exclude-selected">Leave their rows out</button>
    <label><input type="checkbox" data-pick-all="${mi}"> select all flagged</label></div>`;
}

function enumSection(m, mi, isDraft) {
  const dist = {};
  const bulk = isDraft && m.values.filter((v) => v.status === 'needs_review').length > 1;
  for (const v of m.values) if (v.target) dist[v.target] = (dist[v.target] || 0) + v.count;
  return `<section data-testid="enum-mapping"><h3>Enum mapping: <code>${esc(m.sourceColumn)}</code> → <code>${esc(m.targetColumn)}</code> (${esc(m.enumType)})</h3>
    <p class="muted">${esc(m.reason)}</p>
    <table><thead><tr><th>source value</th><th>rows</th><th>→ value</th><th>rule</th><th>confidence</th><th>evidence</th></tr></thead><tbody>
    ${m.values
      .map((v, vi) => {
        const flagged = v.status === 'needs_review';
        const cell =
          flagged && isDraft
            ? `<select data-enum="${mi}" data-value="${vi}" data-testid="resolve" aria-label="value for ${esc(v.source)}"><option value="">— choose —</option>${m.enumValues.map((e) => `<option>${esc(e)}</option>`).join('')}</select>`
            : v.target
              ? `<b>${esc(v.target)}</b>`
              : '<span class="badge failed">needs review</span>';
        const alts = v.alternatives.length ? `<br><span class="muted">also: ${v.alternatives.map((a) => `${esc(a.target)} (${esc(a.rule)} ${a.confidence.toFixed(2)})`).join(', ')}</span>` : '';
        const pick = bulk && flagged ? `<input type="checkbox" data-pick="${mi}" data-value="${vi}" data-testid="pick" aria-label="select ${esc(v.source ?? 'NULL')}"> ` : '';
        return `<tr class="${flagged ? 'needs-review' : v.status}" data-source="${esc(v.source)}"><td>${pick}${flagged ? '⚠ ' : ''}${esc(v.source ?? 'NULL')}</td><td>${v.count}</td><td>${cell}</td>
          <td>${esc(v.rule ?? '—')}</td><td>${v.confidence.toFixed(2)}</td><td>${esc(v.detail)}${alts}</td></tr>`;
      })
      .join('')}
    </tbody></table>
    ${bulk ? bulkBar(m, mi) : ''}
    <p class="muted">distribution: ${Object.entries(dist).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${esc(k)} ${n}`).join(', ')}</p></section>`;
}

function fkSection(fk, fi, isDraft) {
  const open = fk.status === 'needs_review' || fk.value === null;
  const chooser =
    open && isDraft
      ? `<select data-fk="${fi}" data-testid="resolve-fk"><option value="">— choose —</option>${fk.candidates.map((c) => `<option value="${esc(c.value)}">${esc(c.label)} (${esc(c.value)})</option>`).join('')}</select>`
      : `<code>${esc(fk.value ?? 'NEEDS REVIEW')}</code>`;
  return `<section data-testid="fk-decision"><h3>Foreign key: <code>${esc(fk.column)}</code> → ${esc(fk.refSchema)}.${esc(fk.refTable)}.${esc(fk.refColumn)} ${badge(fk.status, fk.status === 'needs_review' ? 'failed' : 'approved')}</h3>
    <p>strategy <b>${esc(fk.strategy.replace('_', ' '))}</b>: ${chooser}</p>
    <p>why: ${esc(fk.reason)}</p>
    <p class="muted">candidates (${fk.candidateCount}, ${esc(fk.candidateFilter)}): ${fk.candidates.map((c) => `${esc(c.label)} ${esc(c.value)}`).join('; ') || 'none'}</p></section>`;
}

/** One source value set to an enum value, as the API takes it: a NULL is mapNull, never an empty value. */
function valueChange(m, v, target, body) {
  if (v.source === null) body.mapNull.push({ target, column: m.targetColumn });
  else body.map.push({ source: v.source, target, column: m.targetColumn });
}

async function postOverrides(plan, body) {
  try {
    const next = await api('POST', `/plans/${encodeURIComponent(plan.id)}/overrides`, { revision: plan.revision, by: reviewer(), ...body });
    toast(`Revision ${next.plan.revision} saved${next.reviewItems.length ? `; ${next.reviewItems.length} still to review` : '; nothing left to review'}`);
    await refresh();
  } catch (err) {
    fail(err);
  }
}

async function assignSelected(plan, mi, action) {
  const m = plan.enumMappings[mi];
  const picked = [...document.querySelectorAll(`input[data-pick="${mi}"]`)].filter((c) => c.checked).map((c) => m.values[Number(c.dataset.value)]);
  if (picked.length === 0) return toast('Select one or more flagged values first', true);
  const body = { map: [], mapNull: [], exclude: [], excludeNull: [] };
  if (action === 'exclude') {
    for (const v of picked) {
      if (v.source === null) body.excludeNull.push(m.sourceColumn);
      else body.exclude.push({ source: v.source, column: m.targetColumn });
    }
  } else {
    const target = document.querySelector(`select[data-bulk-value="${mi}"]`).value;
    if (!target) return toast(`Choose the ${m.enumType} value for the ${picked.length} selected value(s)`, true);
    for (const v of picked) valueChange(m, v, target, body);
  }
  await postOverrides(plan, body);
}

async function saveDecisions(plan) {
  const body = { map: [], mapNull: [] };
  for (const sel of document.querySelectorAll('select[data-enum]')) {
    if (!sel.value) continue;
    const m = plan.enumMappings[Number(sel.dataset.enum)];
    valueChange(m, m.values[Number(sel.dataset.value)], sel.value, body);
  }
  const fk = [];
  for (const sel of document.querySelectorAll('select[data-fk]')) if (sel.value) fk.push({ column: plan.foreignKeys[Number(sel.dataset.fk)].column, value: sel.value });
  if (body.map.length + body.mapNull.length + fk.length === 0) return toast('Choose a value for a flagged row first', true);
  await postOverrides(plan, { ...body, fk });
}

const reviewer = () => localStorage.getItem('ferry-reviewer') || 'review page';

async function decide(plan, what, note) {
  try {
    await api('POST', `/plans/${encodeURIComponent(plan.id)}/${what}`, { revision: plan.revision, by: reviewer(), ...(note ? { note } : {}) });
    toast(what === 'approve' ? `Revision ${plan.revision} approved` : `Revision ${plan.revision} rejected`);
    await refresh();
  } catch (err) {
    fail(err);
  }
}

async function startRun(plan, dryRun) {
  try {
    const r = await api('POST', '/runs', { planId: plan.id, revision: plan.revision, dryRun, by: reviewer() });
    if (!r.created) toast(`This plan version already ran: showing run ${r.run.id}`);
    location.hash = `#/runs/${r.run.id}`;
  } catch (err) {
    fail(err);
  }
}

// ---- a run ----------------------------------------------------------------------------

let following = null;

// Mirrors src/present/run-events.ts describeRunEvent field for field (this file is plain browser
// JS, served as is): the page's timeline says what `ferry runs show` says.
function progressText(e) {
  const n = (x) => x.toLocaleString('en-US');
  const pct = e.toMigrate > 0 ? ` (${Math.floor((100 * e.done) / e.toMigrate)}%)` : '';
  const eta = e.etaSeconds === null || e.etaSeconds === undefined ? '' : ` · ETA ${e.etaSeconds >= 120 ? `${Math.round(e.etaSeconds / 60)}m` : `${e.etaSeconds}s`}`;
  return `${n(e.done)}/${n(e.toMigrate)} rows${pct} · ${n(e.rowsPerSec)} rows/s${eta}`;
}

function eventLine(e) {
  switch (e.type) {
    case 'started': {
      const who = e.migrationId === 0 ? 'dry run' : `migration ${e.migrationId}`;
      const ranges = typeof e.parallel === 'number' && e.parallel > 1 ? `, ${e.parallel} key ranges side by side` : '';
      return `${who} started: ${e.sourceRows} source rows under the filter, ${e.alreadyMapped} already migrated, ${e.toMigrate} to migrate in batches of up to ${e.batchSize} rows${ranges}`;
    }
    case 'resumed':
      return `resuming: run(s) ${e.abandoned.join(', ')} stopped without finishing and are marked failed (RUN_ABANDONED); their ${e.alreadyMapped} committed rows are kept and skipped`;
    case 'sandbox_started':
      return `sandbox started (${e.driver})${typeof e.worker === 'number' && e.worker > 0 ? ` for key range ${e.worker + 1}` : ''}`;
    case 'batch_committed': {
      const range = typeof e.worker === 'number' && e.worker > 0 ? ` (key range ${e.worker + 1})` : '';
      const progress = typeof e.done === 'number' ? ` · ${progressText(e)}` : '';
      return `batch ${e.batch}: ${e.rows} rows + ${e.rows} mappings committed${range} (${e.inserted}/${e.toMigrate})${progress}`;
    }
    case 'self_reference_resolved':
      return `${e.column}: second pass set ${e.updated} reference(s) through this table's mappings${e.orphans ? `; ${e.orphans} orphan(s) left NULL` : ''}`;
    case 'finished':
      return `finished: ${e.status}`;
    default:
      return null;
  }
}

async function showRun(id) {
  const { run, report, sandbox, queue } = await api('GET', `/runs/${id}`);
  const main = $('#main');
  const title = run.mode === 'replay' ? `Replay of run ${run.replayOf}` : run.mode === 'dry_run' ? 'Dry run' : `Run${run.migrationId ? ` (migration ${run.migrationId})` : ''}`;
  main.innerHTML = `
    <section><div class="row"><h3 class="flush">Run ${run.id}: ${esc(title)}</h3> <span id="run-status" data-testid="run-status">${badge(run.status)}</span></div>
      <p class="muted">plan <a href="#/plans/${encodeURIComponent(run.planId)}">${esc(run.planId)}</a> revision ${run.revision} · started ${esc(run.startedAt)} by ${esc(run.startedBy)}</p>
      <div class="row">
        <button id="replay" data-testid="replay" ${run.status === 'completed' && run.rowsChecksum ? '' : 'disabled'}>Replay (dry run)</button>
        <button class="danger" id="rollback" data-testid="rollback" hidden>Roll back</button>
      </div>
      <div id="run-facts"></div>
    </section>
    <div class="grid2">
      <section><h3>Timeline</h3><ol class="timeline" id="timeline" data-testid="timeline"></ol></section>
      <section><h3>Logs</h3><pre class="logs" id="logs" data-testid="logs"></pre></section>
    </div>
    <section id="queue" data-testid="queue" hidden></section>
    <section id="report" data-testid="report"></section>`;
  renderQueue(queue);
  renderRunFacts(run, sandbox, queue);
  renderReport(report);
  $('#replay').addEventListener('click', async () => {
    try {
      const r = await api('POST', `/runs/${run.id}/replay`, { by: reviewer() });
      location.hash = `#/runs/${r.run.id}`;
    } catch (err) {
      fail(err);
    }
  });
  $('#rollback')?.addEventListener('click', async () => {
    if (!confirm(`Delete exactly the rows run ${run.id} inserted${$('#queue').hidden ? '' : ', in every key range'}?`)) return;
    try {
      const r = await api('POST', `/runs/${run.id}/rollback`, {});
      toast(r.result.status === 'already_rolled_back' ? 'already rolled back' : `rolled back: ${r.result.rowsDeleted} rows and ${r.result.mappingsDeleted} mappings deleted`);
    } catch (err) {
      fail(err);
    }
  });
  follow(run.id);
}

function renderRunFacts(run, sandbox, queue) {
  // Only a real run that wrote rows (its migration id is known once it started) can be rolled back; a queued one once no range runs.
  $('#rollback').hidden = !(run.mode === 'run' && (queue ? run.status !== 'running' : run.migrationId));
  const o = run.outcome || {};
  const facts = [];
  if (o.summary) facts.push(`<p data-testid="replay-verdict">${badge(o.verdict)} ${esc(o.summary)}</p>`);
  if (Array.isArray(o.factors)) {
    facts.push(`<table data-testid="replay-factors"><tbody>${o.factors.map((f) => `<tr><td>${f.same ? '=' : '≠'}</td><td>${esc(f.factor.replace('_', ' '))}</td><td>${esc(f.detail)}</td></tr>`).join('')}</tbody></table>`);
  }
  if (run.status !== 'running' && run.mode !== 'replay') {
    const rows = o.rows ?? 0;
    facts.push(`<p>${run.mode === 'dry_run' ? `${rows} rows would be written (every batch rolled back)` : `${o.inserted ?? 0} inserted, ${o.skipped ?? 0} already migrated`}</p>`);
  }
  if (run.errorCode) facts.push(`<p class="badge failed">${esc(run.errorCode)}</p> ${esc(run.error)}`);
  if (run.rowsChecksum) facts.push(`<p class="muted">rows checksum <code>${esc(run.rowsChecksum.slice(0, 16))}…</code> · bundle <code>${esc((run.bundleSha256 || '').slice(0, 12))}…</code> · image <code>${esc((run.imageId || '—').slice(0, 19))}</code></p>`);
  if (sandbox) facts.push(`<p class="muted">sandbox ${esc(sandbox.driver)}: exit ${esc(sandbox.exitReason)}, ${sandbox.durationMs} ms, peak memory ${sandbox.peakMemoryBytes === null ? 'unknown' : `${(sandbox.peakMemoryBytes / 2 ** 20).toFixed(1)} MiB`}</p>`);
  $('#run-facts').innerHTML = facts.join('');
}

/**
 * A queued run's key ranges and the ferry worker processes that held them, as ferry runs show
 * prints them; replaced by each \`queue\` event of the run's stream while it runs.
 */
function renderQueue(q) {
  const el = $('#queue');
  if (!q) return;
  el.hidden = false;
  const n = (x) => Number(x).toLocaleString('en-US');
  const range = (lo, hi) => `${lo === null ? '−∞' : esc(lo)} < key ≤ ${hi === null ? '+∞' : esc(hi)}`;
  const tally = q.tally ? new Map(q.tally.ranges.map((r) => [r.idx, r])) : new Map();
  const part = (p) => {
    const t = tally.get(p.idx);
    const err = p.errorCode ? `${esc(p.errorCode)}${p.errorKey ? ` at key ${esc(p.errorKey)}` : ''}: ${esc(p.error)}` : esc(p.note || '');
    return `<tr data-testid="queue-partition"><td>${p.idx + 1}/${p.count}</td><td>${range(p.range.lo, p.range.hi)}</td><td>${badge(p.state)}</td><td>${n(p.rowsDone)}${p.toMigrate === null ? '' : ` / ${n(p.toMigrate)}`}</td><td>${t ? `${n(t.inserted)}${t.resumed ? ` (${n(t.resumed)} resumed)` : ''}` : '—'}</td><td>${p.attempts}</td><td class="muted">${esc(p.workerId || '')}</td><td class="muted">${err}</td></tr>`;
  };
  const worker = (w) =>
    `<tr data-testid="queue-worker"><td>${esc(w.id)}</td><td>${esc(w.host)}</td><td>${w.pid}</td><td>${esc(new Date(w.heartbeatAt).toISOString())}</td><td>${badge(w.liveness)}</td><td class="muted">${esc(w.state !== 'running' && w.detail ? w.detail : '')}</td></tr>`;
  const totals = q.tally ? `<p data-testid="queue-tally">${n(q.tally.inserted)} inserted by this run over ${q.tally.ranges.length} range(s) (${n(q.tally.resumed)} resumed from attempts that did not finish), ${n(q.tally.skipped)} migrated before it</p>` : '';
  const rolled = q.rolledBack ? `<p>↩ rolled back as a whole by ${esc(q.rolledBack.by)}: ${n(q.rolledBack.rowsDeleted)} rows deleted</p>` : '';
  el.innerHTML = `<h3>Queued run ${q.queueRunId} ${badge(q.status)}</h3>
    <p class="muted">${esc(q.plan.targetTable)}: ${esc(q.plan.state)}${q.plans.length > 1 ? ` · plan ${q.plan.idx + 1} of ${q.plans.length}: ${q.plans.map((p) => `${esc(p.targetTable)} ${esc(p.state)}`).join(', ')}` : ''}${q.errorCode ? ` · ${esc(q.errorCode)}: ${esc(q.error)}` : ''}</p>
    ${totals}${rolled}
    <table><thead><tr><th>range</th><th>keys</th><th>state</th><th>rows</th><th>inserted</th><th>attempts</th><th>worker</th><th>last error</th></tr></thead><tbody>${q.partitions.map(part).join('')}</tbody></table>
    <h4>Workers</h4>
    <table><thead><tr><th>worker</th><th>host</th><th>pid</th><th>last heartbeat</th><th>state</th><th></th></tr></thead><tbody>${q.workers.map(worker).join('') || '<tr><td class="muted" colspan="6">none has claimed a range yet</td></tr>'}</tbody></table>`;
}

function renderReport(report) {
  const el = $('#report');
  if (!report) {
    el.innerHTML = '<h3>Validation report</h3><p class="muted">none (yet): reports are made after a real run completes</p>';
    return;
  }
  el.innerHTML = `<h3>Validation report ${badge(report.status)}</h3>
    <p>source ${report.counts.source} · migrated ${report.counts.migrated} · mappings ${report.counts.mappings} · inserted by this run ${report.counts.insertedByRun} · target total ${report.counts.targetTotal}</p>
    ${report.distributions.map((d) => `<p class="muted">${esc(d.column)}: ${d.values.map((v) => `${esc(v.value)} ${v.count}`).join(', ')}</p>`).join('')}
    <table><thead><tr><th>check</th><th>result</th><th>summary</th></tr></thead><tbody>
    ${report.checks
      .map(
        (c) => `<tr><td>${esc(c.name.replace(/_/g, ' '))}</td><td>${badge(c.status)}</td><td>${esc(c.summary)}${c.problems.map((p) => `<br><span class="muted">${p.legacyKey === null ? '' : `legacy ${esc(p.legacyKey)}: `}${esc(p.message)}</span>`).join('')}</td></tr>`,
      )
      .join('')}
    </tbody></table>${report.appVisibility ? appVisibilityHtml(report.appVisibility) : ''}`;
}

/** What Supabase's roles can read of the run's rows (information; warnings, never a failure). */
function appVisibilityHtml(v) {
  const row = (r) => {
    const reads = r.readable === null ? `cannot read the table <span class="muted">${esc(r.error || '')}</span>` : `${r.readable}/${v.migratedRows}`;
    const policies = r.bypassRls ? 'bypasses RLS' : r.policies.length ? r.policies.map((p) => `${esc(p.name)} <span class="muted">(${esc(p.command)}${p.using ? `: ${esc(p.using)}` : ''})</span>`).join(', ') : 'no policy';
    return `<tr><td>${esc(r.role)}</td><td>${reads}</td><td>${policies}</td><td>${esc(r.grants.join(', ') || 'none')}</td></tr>`;
  };
  return `<h4 data-testid="app-visibility">App visibility</h4>
    <p class="muted">${esc(v.table)}, read as the Data API's roles through Postgres${v.asUser ? `, authenticated as user ${esc(v.asUser)}` : ''} · RLS ${v.rlsEnabled ? 'on' : 'off'} · ${v.migratedRows} migrated row(s) of this run</p>
    <table><thead><tr><th>role</th><th>reads</th><th>policies</th><th>grants</th></tr></thead><tbody>${v.roles.map(row).join('')}</tbody></table>
    ${v.warnings.map((w) => `<p>⚠ ${esc(w)}</p>`).join('')}${v.dataApi ? dataApiHtml(v.dataApi, v) : ''}`;
}

/** The same roles read through the Data API (supabase-js), beside the Postgres counts, and the compared sample. */
function dataApiHtml(d, v) {
  const pgReads = (role) => {
    const p = v.roles.find((r) => r.role === role);
    return p ? (p.readable === null ? 'cannot read' : `${p.readable}/${v.migratedRows}`) : '—';
  };
  const row = (r) =>
    `<tr><td>${esc(r.role)}</td><td>${r.readable === null ? `fails <span class="muted">${esc(r.error || '')}</span>` : `${r.readable}/${v.migratedRows}`}</td><td>${esc(pgReads(r.role))}</td><td>${esc(r.credential)}${r.user ? ` <span class="muted">user ${esc(r.user)}</span>` : ''}</td></tr>`;
  const s = d.sample;
  const sample = !s || s.error
    ? ''
    : `<p>sample: ${s.returned} of ${s.requested} row(s) fetched by key as ${esc(s.role)}, compared with the database: ${s.differences.length ? `${s.differences.length + (s.more || 0)} difference(s)${s.more ? ` (${s.differences.length} listed)` : ''}` : 'all equal'}</p>
    ${s.differences.length ? `<table data-testid="data-api-differences"><thead><tr><th>key</th><th>column</th><th>Data API</th><th>database</th><th>why</th></tr></thead><tbody>${s.differences
      .map((x) => `<tr><td>${esc(x.key)}${x.legacyKey ? ` <span class="muted">legacy ${esc(x.legacyKey)}</span>` : ''}</td><td>${esc(x.column)} <span class="muted">${esc(x.type)}</span></td><td>${esc(x.api ?? '(not returned)')}</td><td>${esc(x.database ?? 'NULL')}</td><td class="muted">${esc(x.note)}</td></tr>`)
      .join('')}</tbody></table>` : ''}`;
  return `<h4 data-testid="app-visibility-data-api">Through the Data API</h4>
    <p class="muted">${esc(d.url)} · ${esc(d.client)} · ${d.counted === 'whole_table' ? 'one unfiltered count per role (every row of the table is this run\'s)' : 'counted by the run\'s keys'}</p>
    <table><thead><tr><th>role</th><th>reads (Data API)</th><th>reads (Postgres)</th><th>as</th></tr></thead><tbody>${d.roles.map(row).join('')}</tbody></table>
    ${sample}${d.warnings.map((w) => `<p>⚠ ${esc(w)}</p>`).join('')}`;
}

/**
 * One server-sent event. Fields are split on "\n" only: a regex's `.` and `$` also stop at
 * U+2028/U+2029, which a log line may hold, and cut its JSON in two.
 */
function parseEventBlock(block) {
  let type = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  return { type, data: data.length ? JSON.parse(data.join('\n')) : null };
}

/** Server-sent events read through fetch, so the token travels in a header, not the URL. */
async function follow(runId) {
  if (following) following.abort();
  const ctrl = new AbortController();
  following = ctrl;
  try {
    const res = await fetch(`/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${token()}` }, signal: ctrl.signal });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const { type, data } = parseEventBlock(block);
        if (type === 'run') onRunEvent(data);
        if (type === 'queue') renderQueue(data);
        if (type === 'end') await onRunEnd(runId);
      }
    }
  } catch (err) {
    if (err.name !== 'AbortError') fail(err);
  }
}

function onRunEvent(e) {
  if (e.type === 'log') {
    const logs = $('#logs');
    logs.textContent += `${e.line}\n`;
    logs.scrollTop = logs.scrollHeight;
    return;
  }
  const line = eventLine(e);
  if (!line) return;
  const li = document.createElement('li');
  li.textContent = line;
  $('#timeline').appendChild(li);
}

async function onRunEnd(runId) {
  const { run, report, sandbox, queue } = await api('GET', `/runs/${runId}`);
  $('#run-status').innerHTML = badge(run.status);
  $('#replay').disabled = !(run.status === 'completed' && run.rowsChecksum);
  renderQueue(queue);
  renderRunFacts(run, sandbox, queue);
  renderReport(report);
  loadLists().catch(fail);
}

// ---- TypeScript highlighting (enough to read a generated program) --------------------

const KEYWORDS = new Set('import export from const let var function return if else for of in while switch case break default new throw try catch finally typeof instanceof as type interface extends implements async await null undefined true false void readonly'.split(' '));
const TYPES = new Set('string number boolean unknown never Record Array Map Set Promise'.split(' '));

function highlight(src) {
  const re = /(\/\/[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_$][\w$]*)/g;
  let out = '';
  let last = 0;
  for (let m; (m = re.exec(src)); ) {
    out += esc(src.slice(last, m.index));
    last = re.lastIndex;
    if (m[1]) out += `<span class="com">${esc(m[1])}</span>`;
    else if (m[2]) out += `<span class="str">${esc(m[2])}</span>`;
    else if (m[3]) out += `<span class="num">${esc(m[3])}</span>`;
    else if (KEYWORDS.has(m[4])) out += `<span class="kw">${m[4]}</span>`;
    else if (TYPES.has(m[4]) || /^[A-Z]/.test(m[4])) out += `<span class="ty">${esc(m[4])}</span>`;
    else out += esc(m[4]);
  }
  return out + esc(src.slice(last));
}

// ---- routing --------------------------------------------------------------------------

async function route() {
  takeTokenFromHash();
  if (!token()) {
    showTokenForm();
    $('#main').innerHTML = '<p>Paste the API token <code>ferry serve</code> printed (or open the link it printed).</p>';
    return;
  }
  const [, kind, id] = location.hash.split('/');
  try {
    await loadLists();
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === location.hash);
    if (kind === 'plans' && id) await showPlan(decodeURIComponent(id));
    else if (kind === 'runs' && id) await showRun(Number(id));
    else {
      if (following) following.abort();
      $('#main').innerHTML = '<p class="muted">Choose a plan on the left, or describe a migration to make one.</p>';
    }
  } catch (err) {
    fail(err);
  }
}

const refresh = () => route();
window.addEventListener('hashchange', route);
route();
