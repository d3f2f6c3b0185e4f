import { api, type StudyRow, type Worklist } from './api';
import { clear, da, h, pn, time } from './dom';
import { t } from './i18n';
import { navigate } from './nav';
import type { Session } from './session';

const STATES = ['new', 'ai-done', 'in-review', 'signed', 'amended'];
const MODALITIES = ['CT', 'OP', 'CR', 'DX', 'MR', 'US'];

/** Filters survive a visit to a study. */
const filters = { state: '', modality: '', urgent: false, q: '', sort: 'urgency' };
/** Client-side column sort (the server's order when null). */
let columnSort: { key: keyof StudyRow | 'patient' | 'site' | 'qc'; dir: 1 | -1 } | null = null;

export function renderWorklist(main: HTMLElement, _session: Session): () => void {
  const table = h('div.table-wrap');
  const countsBar = h('div.counts#worklist-counts');
  const status = h('p.muted#worklist-status');

  const stateSel = h('select#filter-state', { onchange: () => { filters.state = stateSel.value; void load(); } },
    h('option', { value: '' }, t('all')), STATES.map((s) => h('option', { value: s }, t(`state_${s}`))));
  stateSel.value = filters.state;
  const modSel = h('select#filter-modality', { onchange: () => { filters.modality = modSel.value; void load(); } },
    h('option', { value: '' }, t('all')), MODALITIES.map((m) => h('option', { value: m }, m)));
  modSel.value = filters.modality;
  const urgent = h('input#filter-urgent', { type: 'checkbox', checked: filters.urgent, onchange: () => { filters.urgent = urgent.checked; void load(); } });
  let debounce = 0;
  const q = h('input#filter-text', { type: 'search', placeholder: t('filter_text'), value: filters.q, oninput: () => {
    clearTimeout(debounce);
    debounce = window.setTimeout(() => { filters.q = q.value.trim(); void load(); }, 300);
  } });
  const sortSel = h('select#sort', { onchange: () => { filters.sort = sortSel.value; columnSort = null; void load(); } },
    h('option', { value: 'urgency' }, t('sort_urgency')), h('option', { value: 'date' }, t('sort_date')));
  sortSel.value = filters.sort;

  main.append(
    h('section.worklist',
      h('h1', t('worklist')),
      h('div.filters',
        h('label', t('filter_state'), stateSel),
        h('label', t('filter_modality'), modSel),
        h('label.check', urgent, t('filter_urgent')),
        h('label.grow', q),
        h('label', t('sort'), sortSel),
        h('button#worklist-refresh', { type: 'button', onclick: () => void load() }, t('refresh'))),
      countsBar, status, table));

  let last: Worklist | null = null;
  let stopped = false;

  async function load(): Promise<void> {
    try {
      const data = await api.worklist({
        state: filters.state,
        modality: filters.modality,
        urgent: filters.urgent ? 'true' : '',
        q: filters.q,
        sort: filters.sort,
      });
      if (stopped) return;
      last = data;
      status.textContent = '';
      draw();
    } catch (e) {
      if (!stopped) status.textContent = `${t('error')}: ${(e as Error).message}`;
    }
  }

  function sortValue(row: StudyRow, key: string): string | number {
    switch (key) {
      case 'patient': return pn(row.patient_name);
      case 'site': return row.site?.name ?? '';
      case 'qc': return row.qc?.outcome ?? '';
      case 'modalities': return row.modalities.join(',');
      case 'urgent': return row.urgent ? 0 : 1;
      default: return String((row as unknown as Record<string, unknown>)[key] ?? '');
    }
  }

  function draw(): void {
    if (!last) return;
    clear(countsBar);
    for (const s of STATES) {
      countsBar.append(h('span.count', { 'data-state': s }, `${t(`state_${s}`)} ${last.counts?.[s] ?? 0}`));
    }
    let rows = [...last.studies];
    if (columnSort) {
      const { key, dir } = columnSort;
      rows.sort((a, b) => {
        const x = sortValue(a, key as string), y = sortValue(b, key as string);
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
    }
    const th = (label: string, key: string) => h('th', {
      class: columnSort?.key === key ? (columnSort.dir === 1 ? 'sorted asc' : 'sorted desc') : 'sortable',
      onclick: () => {
        columnSort = columnSort?.key === key ? { key: key as never, dir: (columnSort.dir * -1) as 1 | -1 } : { key: key as never, dir: 1 };
        draw();
      },
    }, label);
    clear(table);
    if (rows.length === 0) {
      table.append(h('p.muted#worklist-empty', t('no_studies')));
      return;
    }
    table.append(h('table.worklist#worklist-table',
      h('thead', h('tr',
        th(t('col_priority'), 'urgent'), th(t('col_site'), 'site'), th(t('col_patient'), 'patient'),
        th(t('col_modality'), 'modalities'), th(t('col_study_date'), 'study_date'), th(t('col_description'), 'study_description'),
        th(t('col_qc'), 'qc'), h('th', t('col_ai')), th(t('col_state'), 'state'), th(t('col_received'), 'received_at'))),
      h('tbody', rows.map(row))));
  }

  function row(s: StudyRow): HTMLElement {
    const qc = s.qc?.outcome ?? null;
    const ai = s.ai;
    const flags = ai?.flags ?? [];
    return h('tr.study-row', {
      'data-study': s.study_instance_uid,
      'data-state': s.state,
      class: s.urgent ? 'urgent' : '',
      onclick: () => navigate(`#/study/${encodeURIComponent(s.study_instance_uid)}`),
    },
    h('td', h(`span.badge.${s.urgent || s.priority !== 'routine' ? 'urgent' : 'routine'}`, t(`priority_${s.priority && s.priority !== 'routine' ? s.priority : s.urgent ? 'urgent' : 'routine'}`))),
    h('td', s.site?.name ?? s.site?.code ?? ''),
    h('td', h('div', pn(s.patient_name)), h('div.muted', [s.patient_id, s.patient_sex].filter(Boolean).join(' · '))),
    h('td', s.modalities.join(', ')),
    h('td', da(s.study_date)),
    h('td', s.study_description ?? ''),
    h('td', h(`span.badge.qc-${qc ?? 'none'}`, { title: s.qc?.failed?.join(', ') ?? '' }, t(`qc_${qc ?? 'none'}`))),
    h('td.ai-flags', { 'data-ai-state': ai?.state ?? 'none' },
      flags.length
        ? flags.map((f) => h(`span.flag${f.urgent ? '.urgent' : ''}`, { 'data-flag': f.code }, f.label))
        : h('span.muted', t(`ai_${ai?.state ?? 'none'}`))),
    h('td', h(`span.state.state-${s.state}`, t(`state_${s.state}`))),
    h('td.muted', time(s.received_at)));
  }

  void load();
  // fetch the viewer's code while the user picks a study
  void import('./viewer').catch(() => {});
  // a live list: new uploads and finished analyses show up without a reload
  const timer = window.setInterval(() => void load(), 5000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
