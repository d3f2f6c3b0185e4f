// A study for reading: series browser and viewer, the findings to review, the report.

import { api, ApiError, type Finding, type QcIssue, type Report, type SeriesInfo, type StudyForReading } from './api';
import { clear, da, h, pn, time } from './dom';
import { t } from './i18n';
import type { Session } from './session';
// the viewer (cornerstone3D, vtk.js: most of the bundle) is its own chunk, fetched when the
// worklist shows (see worklist.ts), so that login and worklist load fast
import type { ToolName, Viewer } from './viewer';

const PRESET_NAMES = ['lung', 'mediastinum', 'bone'] as const;

const REJECT_REASONS = ['vessel', 'scar', 'artefact', 'calcified granuloma', 'lymph node'];

export function renderStudy(main: HTMLElement, uid: string, session: Session): () => void {
  let data: StudyForReading | null = null;
  let viewer: Viewer | null = null;
  let stopped = false;
  const canSign = session.canSign;

  const seriesList = h('ul.series-list#series-list');
  const viewerHost = h('div.viewer-host');
  const viewerStatus = h('p.viewer-status#viewer-status');
  const sliceLabel = h('span#slice-label');
  const slider = h('input#slice-slider', { type: 'range', min: 0, max: 0, value: 0, step: 1 });
  const studyHeader = h('div.study-header#study-header');
  const findingsPanel = h('section.panel#findings-panel');
  const reportPanel = h('section.panel#report-panel');
  const notificationsPanel = h('section.panel#notifications-panel');

  const toolButtons = new Map<ToolName, HTMLButtonElement>();
  const toolbar = h('div.toolbar#viewer-toolbar',
    h('span.group', t('tool'), ...(['wl', 'pan', 'zoom', 'length'] as ToolName[]).map((tool) => {
      const b = h('button', { type: 'button', id: `tool-${tool}`, onclick: () => {
        viewer?.setTool(tool);
        for (const [k, btn] of toolButtons) btn.classList.toggle('active', k === tool);
      } }, t(`tool_${tool}`));
      toolButtons.set(tool, b);
      return b;
    })),
    h('span.group', t('preset'), ...PRESET_NAMES.map((p) =>
      h('button', { type: 'button', id: `preset-${p}`, onclick: () => viewer?.setPreset(p) }, t(`preset_${p}`)))),
    h('button#viewer-reset', { type: 'button', onclick: () => viewer?.reset() }, t('reset')),
    h('label.check', h('input#toggle-overlays', { type: 'checkbox', checked: true, onchange: (e: Event) => viewer?.setOverlaysVisible((e.target as HTMLInputElement).checked) }), t('overlays')));
  toolButtons.get('wl')?.classList.add('active');
  slider.addEventListener('input', () => void viewer?.goToIndex(Number(slider.value)));

  main.classList.add('reading');
  main.append(h('div.reading-layout',
    h('aside.series-pane', h('a.back', { href: '#/worklist' }, `← ${t('back')}`), h('h2', t('series')), seriesList),
    h('section.viewer-pane', toolbar, viewerHost, h('div.slider-row', h('span', t('slice')), slider, sliceLabel), viewerStatus),
    h('aside.side-pane', studyHeader, findingsPanel, reportPanel, notificationsPanel)));

  let unsubscribeFailed = () => {};
  // arrow keys and page up/down scroll the stack (not while typing)
  const onKey = (e: KeyboardEvent) => {
    const target = e.target as HTMLElement | null;
    if (!viewer || (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10, PageUp: -10 }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    void viewer.goToIndex(viewer.index() + step);
  };
  window.addEventListener('keydown', onKey);

  // ---- loading -------------------------------------------------------------------------

  async function load(first = false): Promise<void> {
    try {
      data = first && canSign ? await api.open(uid) : await api.study(uid);
    } catch (e) {
      if (first && canSign && e instanceof ApiError && e.status === 409) data = await api.study(uid);
      else {
        viewerStatus.textContent = `${t('error')}: ${(e as Error).message}`;
        return;
      }
    }
    if (stopped) return;
    drawHeader();
    drawSeries();
    drawFindings();
    drawReport();
    drawNotifications();
    viewer?.setFindings(data.findings);
  }

  function reportSigned(): boolean {
    return !!data?.reports?.some((r) => r.state === 'signed');
  }

  function drawHeader(): void {
    const s = data!.study;
    clear(studyHeader);
    studyHeader.append(
      h('h1', pn(s.patient_name) || s.patient_id || uid),
      h('div.muted', [s.patient_id, s.patient_sex, da(s.patient_birth_date)].filter(Boolean).join(' · ')),
      h('div', [s.modalities.join('/'), s.study_description, da(s.study_date), s.site?.name].filter(Boolean).join(' · ')),
      h('div', h(`span.state.state-${s.state}#study-state`, { 'data-state': s.state }, t(`state_${s.state}`)),
        ' ', ...(s.ai?.flags ?? []).map((f) => h(`span.flag${f.urgent ? '.urgent' : ''}`, f.label))),
    );
  }

  // ---- series and viewer ---------------------------------------------------------------

  function imageSeries(): SeriesInfo[] {
    return data!.series.filter((s) => !s.derived);
  }

  function drawSeries(): void {
    clear(seriesList);
    for (const s of data!.series) {
      const active = viewer?.series === s.series_instance_uid;
      seriesList.append(h('li', {
        class: `${active ? 'active' : ''} ${s.derived ? 'derived' : ''}`,
        'data-series': s.series_instance_uid,
      }, s.derived
        ? h('span.muted', `${s.modality ?? ''} ${s.series_description ?? t('derived_series')}`)
        : h('button.series-button', { type: 'button', onclick: () => void showSeries(s) },
          h('strong', `${s.series_number ?? ''} ${s.modality ?? ''}`), ' ',
          s.series_description ?? '', h('span.muted', ` (${s.instance_count} ${t('images')})`))));
    }
    if (!viewerPromise && imageSeries().length) void showSeries(imageSeries()[0]);
  }

  let viewerPromise: Promise<Viewer> | null = null;
  function getViewer(): Promise<Viewer> {
    viewerPromise ??= (async () => {
      const module = await import('./viewer');
      unsubscribeFailed = module.onImageLoadFailed((detail: any) => {
        viewerStatus.textContent = `${t('viewer_error')}: ${detail?.error?.message ?? detail?.error ?? ''}`;
      });
      const v = new module.Viewer(viewerHost);
      v.onSlice = (i, n) => {
        slider.max = String(Math.max(0, n - 1));
        slider.value = String(i);
        sliceLabel.textContent = `${i + 1} / ${n}`;
        viewerHost.setAttribute('data-slice', String(i));
      };
      await v.init();
      viewer = v;
      return v;
    })();
    return viewerPromise;
  }

  let loadToken = 0;
  async function showSeries(s: SeriesInfo, sop?: string): Promise<void> {
    const token = ++loadToken;
    performance.clearMarks('mira:series-click');
    performance.mark('mira:series-click');
    viewerStatus.textContent = t('loading');
    viewerHost.removeAttribute('data-first-image-ms');
    try {
      const v = await getViewer();
      if (stopped) return;
      await v.loadSeries(uid, s, sop);
      if (token !== loadToken || stopped) return;
      const m = performance.measure('mira:first-image', 'mira:series-click');
      viewerHost.setAttribute('data-first-image-ms', m.duration.toFixed(0));
      viewerHost.setAttribute('data-series', s.series_instance_uid);
      viewerStatus.textContent = '';
      if (s.modality === 'CT') v.setPreset('lung');
      v.setFindings(data?.findings ?? []);
      drawSeries();
    } catch (e) {
      viewerStatus.textContent = `${t('viewer_error')}: ${(e as Error).message}`;
    }
  }

  async function jumpTo(f: Finding): Promise<void> {
    if (!f.image || !data) return;
    const s = data.series.find((x) => x.series_instance_uid === f.image!.series_instance_uid);
    if (!s) return;
    const v = await getViewer();
    if (v.series !== s.series_instance_uid) await showSeries(s, f.image.sop_instance_uid);
    await v.goTo(f.image.sop_instance_uid, f.image.frame);
  }

  // ---- findings ------------------------------------------------------------------------

  async function act(promise: Promise<unknown>, errorTarget: HTMLElement): Promise<boolean> {
    try {
      await promise;
      await load();
      return true;
    } catch (e) {
      errorTarget.textContent = `${t('error')}: ${(e as Error).message}`;
      return false;
    }
  }

  function drawFindings(): void {
    clear(findingsPanel);
    findingsPanel.append(h('h2', t('ai_findings')));
    const findings = data!.findings;
    if (!findings.length) findingsPanel.append(h('p.muted', t('no_findings')));
    const list = h('ol.findings#findings-list');
    for (const f of findings) list.append(findingItem(f));
    findingsPanel.append(list);
    if (canSign && !reportSigned()) findingsPanel.append(addFindingForm());
  }

  function findingItem(f: Finding): HTMLElement {
    const error = h('p.error');
    const body = h('div.finding-body');
    const d = f.decision.decision;
    const source = f.source.type === 'ai' ? `${t('source_ai')} · ${f.source.analyzer} ${f.source.version}` : `${t('source_physician')} · ${f.source.user}`;
    const n = f.nodule;
    const item = h('li.finding', { 'data-finding': f.id, 'data-decision': d },
      h('div.finding-title', h('strong', f.label), ' ', h(`span.decision.decision-${d}`, t(`decision_${d}`))),
      h('div.muted', source),
      h('div', [f.laterality ? t(f.laterality) : null, f.location].filter(Boolean).join(' · ')),
      n ? h('div.measures',
        `${t('long_axis')} ${n.long_axis_mm} · ${t('short_axis')} ${n.short_axis_mm} · ${t('mean_diameter')} ${n.mean_diameter_mm}`,
        n.category ? h('span.flag', ` Lung-RADS ${n.category}`) : null,
        n.volume_mm3 != null ? h('div.muted', `${t('volume')} ${Math.round(n.volume_mm3)} · ${n.attenuation}`) : null) : null,
      f.dr ? h('div', `${t('dr')}: ${f.dr.gradable ? f.dr.grade ?? '' : 'ungradable'}${f.dr.referable ? ' · referable' : ''}`) : null,
      f.confidence != null ? h('div.muted', `${t('confidence')} ${(f.confidence * 100).toFixed(0)}%`) : null,
      d === 'rejected' && f.decision.reason ? h('div.reason', `${t('reject_reason')}: ${f.decision.reason}`) : null,
      f.decided_by ? h('div.muted.decided', `${t('decided_by')}: ${f.decided_by} · ${time(f.decided_at)}`) : null,
      body, error);
    const buttons = h('div.actions');
    if (f.image) buttons.append(h('button.goto', { type: 'button', onclick: () => void jumpTo(f) }, t('go_to_slice')));
    if (canSign && !reportSigned()) {
      if (d !== 'accepted') buttons.append(h('button.accept', { type: 'button', onclick: () => void act(api.decide(uid, f.id, { decision: 'accept' }), error) }, t('accept')));
      buttons.append(h('button.edit', { type: 'button', onclick: () => { clear(body); body.append(editForm(f, error)); } }, t('edit')));
      if (d !== 'rejected') buttons.append(h('button.reject', { type: 'button', onclick: () => { clear(body); body.append(rejectForm(f, error)); } }, t('reject')));
    }
    item.append(buttons);
    return item;
  }

  function rejectForm(f: Finding, error: HTMLElement): HTMLElement {
    const reason = h('input.reject-reason', { list: 'reject-reasons', placeholder: t('reject_reason'), required: true });
    const form = h('form.inline.reject-form',
      h('datalist#reject-reasons', REJECT_REASONS.map((r) => h('option', { value: r }))),
      reason,
      h('button.primary.reject-confirm', { type: 'submit' }, t('reject')),
      h('button', { type: 'button', onclick: () => form.remove() }, t('cancel')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!reason.value.trim()) {
        error.textContent = t('reason_required');
        return;
      }
      void act(api.decide(uid, f.id, { decision: 'reject', reason: reason.value.trim() }), error);
    });
    return form;
  }

  function num(label: string, v: number | null | undefined, cls: string): HTMLInputElement {
    const input = h('input', { type: 'number', step: '0.1', min: '0', value: v ?? '', class: cls, 'aria-label': label });
    return input;
  }

  function editForm(f: Finding, error: HTMLElement): HTMLElement {
    const label = h('input.edit-label', { value: f.label });
    const location = h('input.edit-location', { value: f.location ?? '' });
    const long = num(t('long_axis'), f.nodule?.long_axis_mm, 'edit-long');
    const short = num(t('short_axis'), f.nodule?.short_axis_mm, 'edit-short');
    const category = h('select.edit-category', h('option', { value: '' }, '—'), ['1', '2', '3', '4A', '4B', '4X'].map((c) => h('option', { value: c }, c)));
    category.value = f.nodule?.category ?? '';
    let measuredPoints: [number, number][] | null = null;
    const form = h('form.inline.edit-form',
      h('label', t('label'), label),
      h('label', t('location'), location),
      f.nodule ? [
        h('label', t('long_axis'), long),
        h('label', t('short_axis'), short),
        h('label', t('category'), category),
        h('button.use-measurement', { type: 'button', onclick: () => {
          const m = viewer?.lastMeasurement();
          if (!m) return;
          long.value = String(m.length_mm);
          measuredPoints = m.points;
        } }, t('use_measurement')),
      ] : null,
      h('button.primary.edit-save', { type: 'submit' }, t('save')),
      h('button', { type: 'button', onclick: () => form.remove() }, t('cancel')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const edited: Finding = structuredClone(f);
      delete edited.decided_by;
      delete edited.decided_at;
      edited.label = label.value.trim() || f.label;
      edited.location = location.value.trim() || null;
      if (edited.nodule) {
        const l = Number(long.value), s = Number(short.value);
        if (Number.isFinite(l) && l > 0) edited.nodule.long_axis_mm = l;
        if (Number.isFinite(s) && s > 0) edited.nodule.short_axis_mm = s;
        edited.nodule.mean_diameter_mm = Math.round(((edited.nodule.long_axis_mm + edited.nodule.short_axis_mm) / 2) * 10) / 10;
        edited.nodule.category = category.value || null;
        const slice = viewer?.currentSlice();
        if (measuredPoints && edited.image && slice && slice.sop === edited.image.sop_instance_uid) {
          edited.image.points = [...measuredPoints, ...edited.image.points.slice(2)];
        }
      }
      edited.decision = { decision: 'edited' };
      void act(api.decide(uid, f.id, { decision: 'edit', finding: edited }), error);
    });
    return form;
  }

  function addFindingForm(): HTMLElement {
    const error = h('p.error');
    const kind = h('select#add-kind', ['lung-nodule', 'fundus-lesion', 'dr-grade', 'other'].map((k) => h('option', { value: k }, t(`kind_${k.replace('-', '_')}`))));
    if (!data!.study.modalities.includes('CT')) kind.value = 'other';
    const label = h('input#add-label', { required: true });
    const laterality = h('select#add-laterality', h('option', { value: '' }, '—'), ['left', 'right', 'both'].map((l) => h('option', { value: l }, t(l))));
    const location = h('input#add-location');
    const long = num(t('long_axis'), null, 'add-long');
    const short = num(t('short_axis'), null, 'add-short');
    let image: Finding['image'] = null;
    const measured = h('span.muted#add-measured');
    const details = h('details.add-finding#add-finding', h('summary', t('add_finding')));
    const form = h('form.inline',
      h('label', t('kind'), kind), h('label', t('label'), label), h('label', t('laterality'), laterality),
      h('label', t('location'), location), h('label', t('long_axis'), long), h('label', t('short_axis'), short),
      h('button', { type: 'button', onclick: () => {
        const m = viewer?.lastMeasurement();
        const slice = viewer?.currentSlice();
        if (!m || !slice || !viewer) return;
        long.value = String(m.length_mm);
        image = { series_instance_uid: viewer.series, sop_instance_uid: slice.sop, frame: slice.frame > 1 ? slice.frame : null, shape: 'polyline', points: m.points };
        measured.textContent = `${m.length_mm} mm`;
      } }, t('use_measurement')), measured,
      h('button.primary#add-submit', { type: 'submit' }, t('add_finding')), error);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const l = Number(long.value), s = Number(short.value) || l;
      const body: Record<string, unknown> = {
        kind: kind.value,
        label: label.value.trim(),
        laterality: laterality.value || null,
        location: location.value.trim() || null,
        image,
      };
      if (kind.value === 'lung-nodule' && l > 0) {
        body.nodule = { long_axis_mm: l, short_axis_mm: s, mean_diameter_mm: Math.round(((l + s) / 2) * 10) / 10, volume_mm3: null, attenuation: 'solid', solid_component_mm: null, calcified: false, status: null, category: null };
      }
      void act(api.addFinding(uid, body), error);
    });
    details.append(form);
    return details;
  }

  // ---- report --------------------------------------------------------------------------

  function defaultTemplate(): string {
    const m = data!.study.modalities;
    if (m.includes('CT')) return 'ldct-lung-rads';
    if (m.includes('OP') || m.includes('XC')) return 'dr-screening';
    return 'general';
  }

  function qcList(issues: QcIssue[] | undefined, passed?: boolean): HTMLElement {
    if (!issues || !issues.length) return h('p.qc-ok#report-qc', { 'data-passed': String(passed ?? true) }, t('qc_passed'));
    return h('ul.qc-issues#report-qc', { 'data-passed': String(passed ?? false) }, issues.map((i) =>
      h(`li.${i.severity}`, { 'data-code': i.code }, h('strong', `${t(`severity_${i.severity}`)}: `), i.message, i.citation ? h('span.muted', ` (${i.citation})`) : null)));
  }

  function drawReport(): void {
    clear(reportPanel);
    reportPanel.append(h('h2', t('report')));
    const reports = data!.reports ?? [];
    const main = [...reports].reverse().find((r) => r.kind !== 'addendum') ?? data!.report;
    if (!main) {
      if (canSign) {
        const template = h('select#report-template', ['ldct-lung-rads', 'dr-screening', 'general'].map((x) => h('option', { value: x }, t(`template_${x}`))));
        template.value = defaultTemplate();
        const error = h('p.error');
        reportPanel.append(h('p.muted', t('no_report')), h('div.inline', h('label', t('template'), template),
          h('button.primary#create-report', { type: 'button', onclick: () => void act(api.createReport(uid, template.value), error) }, t('create_report'))), error);
      } else {
        reportPanel.append(h('p.muted#no-report', t('no_report')));
      }
      return;
    }
    if (main.state === 'draft') reportPanel.append(draftEditor(main));
    else reportPanel.append(signedView(main, reports.filter((r) => r.kind === 'addendum')));
  }

  function draftEditor(r: Report): HTMLElement {
    const doc = r.document;
    const error = h('p.error#report-error');
    const area = (id: string, v: string) => h('textarea', { id, rows: 3 }, v ?? '');
    const technique = area('report-technique', doc.technique);
    const findingsText = area('report-findings', doc.findings_text);
    findingsText.rows = 5;
    const impression = area('report-impression', doc.impression);
    const recommendation = area('report-recommendation', doc.recommendation);
    const lungRads = h('select#report-lung-rads', h('option', { value: '' }, '—'), ['0', '1', '2', '3', '4A', '4B', '4X'].map((c) => h('option', { value: c }, c)));
    lungRads.value = doc.lung_rads ?? '';
    const critical = h('input#report-critical', { type: 'checkbox', checked: doc.critical });
    const qc = h('div.qc-box', h('h3', t('report_qc')), qcList(r.qc?.issues, r.qc?.passed));
    const saved = h('span.muted#report-saved');
    const body = () => ({
      technique: technique.value,
      findings_text: findingsText.value,
      impression: impression.value,
      recommendation: recommendation.value,
      lung_rads: lungRads.value || null,
      dr: doc.dr,
      critical: critical.checked,
    });
    async function save(): Promise<boolean> {
      error.textContent = '';
      try {
        const updated = await api.updateReport(r.id, body());
        let q = updated.qc;
        try {
          q = await api.reportQc(r.id);
        } catch {
          /* the report's own QC is shown */
        }
        qc.replaceChildren(h('h3', t('report_qc')), qcList(q?.issues, q?.passed));
        saved.textContent = `${t('saved')} ${new Date().toLocaleTimeString()}`;
        return true;
      } catch (e) {
        error.textContent = `${t('error')}: ${(e as Error).message}`;
        return false;
      }
    }
    const editable = canSign;
    for (const el of [technique, findingsText, impression, recommendation, lungRads, critical]) el.disabled = !editable;
    const form = h('form.report-form#report-form', { 'data-report': r.id, 'data-state': r.state },
      h('div.muted', `${t('draft')} · ${t('template')}: ${t(`template_${doc.template}`)} · ${t('version')} ${r.version}`),
      h('label', t('technique'), technique),
      h('label', t('findings_text'), findingsText),
      h('label', t('impression'), impression),
      h('label', t('recommendation'), recommendation),
      doc.template === 'ldct-lung-rads' || doc.lung_rads ? h('label', t('lung_rads'), lungRads) : null,
      h('label.check', critical, t('critical')),
      qc,
      editable ? h('div.actions',
        h('button#report-save', { type: 'button', onclick: () => void save() }, t('save_draft')), saved,
        h('button.primary#report-sign', { type: 'button', onclick: async () => { if (await save()) signDialog(r, error); } }, t('sign'))) : h('p.muted#sign-not-allowed', t('sign_not_allowed')),
      error);
    form.addEventListener('submit', (e) => e.preventDefault());
    return form;
  }

  /** The re-authentication dialog: sign (or add an addendum) with the password again. */
  function signDialog(r: Report, error: HTMLElement, addendumText?: string): void {
    const password = h('input#sign-password', { type: 'password', autocomplete: 'current-password', required: true });
    const dialogError = h('div.error#sign-error');
    const dialog = h('dialog#sign-dialog',
      h('form', { method: 'dialog' },
        h('h3', addendumText === undefined ? t('sign_title') : `${t('add_addendum')}: ${t('password')}`),
        h('p.muted', `${session.me.display_name} (${session.me.user})`),
        h('label', t('password'), password), dialogError,
        h('div.actions',
          h('button', { type: 'button', onclick: () => dialog.close() }, t('cancel')),
          h('button.primary#sign-confirm', { type: 'submit' }, t('sign_confirm')))));
    dialog.querySelector('form')!.addEventListener('submit', async (e) => {
      e.preventDefault();
      dialogError.textContent = '';
      try {
        if (addendumText === undefined) await api.sign(r.id, password.value);
        else await api.addendum(r.id, addendumText, password.value);
        dialog.close();
        await load();
      } catch (err) {
        if (err instanceof ApiError && err.status === 422 && Array.isArray(err.body?.issues)) {
          dialogError.replaceChildren(h('p', err.message), qcList(err.body.issues, false));
        } else if (err instanceof ApiError && err.status === 401) {
          dialogError.textContent = t('login_failed');
        } else {
          dialogError.textContent = `${t('error')}: ${(err as Error).message}`;
        }
      }
    });
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    password.focus();
    void error;
  }

  function signedView(r: Report, addenda: Report[]): HTMLElement {
    const doc = r.document;
    const section = (label: string, text: string, id: string) => text ? h('div.report-section', h('h4', label), h('p', { id }, text)) : null;
    const exportLink = (what: 'sr' | 'fhir' | 'pdf') => h('a.export', { href: api.exportUrl(r.id, what), target: '_blank', id: `export-${what}`, download: what === 'sr' ? `report-${r.id}.dcm` : undefined }, t(`export_${what}`));
    const view = h('div.signed-report#signed-report', { 'data-report': r.id, 'data-state': r.state },
      h('div.signature', h('span.badge.signed', t('signed')), ' ',
        h('span#signed-by', { 'data-user': r.signed_by ?? '' }, `${t('signed_by')}: ${r.signed_by_name ?? r.signed_by ?? ''}`), ' · ',
        h('span#signed-at', `${t('signed_at')}: ${time(r.signed_at)}`)),
      section(t('technique'), doc.technique, 'signed-technique'),
      section(t('findings_text'), doc.findings_text, 'signed-findings'),
      section(t('impression'), doc.impression, 'signed-impression'),
      section(t('recommendation'), doc.recommendation, 'signed-recommendation'),
      doc.lung_rads ? h('div.report-section', h('h4', t('lung_rads')), h('p#signed-lung-rads', doc.lung_rads)) : null,
      doc.critical ? h('p.critical', t('critical')) : null,
      h('div.exports', h('span', `${t('exports')}: `), exportLink('sr'), ' ', exportLink('fhir'), ' ', exportLink('pdf')));
    for (const a of addenda) {
      view.append(h('div.addendum', { 'data-version': a.version },
        h('h4', `${t('addendum')} · ${t('version')} ${a.version}`),
        h('p.addendum-text', a.addendum_text ?? a.text ?? ''),
        h('div.muted', `${t('signed_by')}: ${a.signed_by_name ?? a.signed_by ?? ''} · ${time(a.signed_at)}`)));
    }
    if (canSign) {
      const text = h('textarea#addendum-text', { rows: 3, placeholder: t('addendum_text') });
      const error = h('p.error');
      const details = h('details#addendum', h('summary', t('add_addendum')), text,
        h('button.primary#addendum-sign', { type: 'button', onclick: () => {
          if (text.value.trim()) signDialog(r, error, text.value.trim());
        } }, t('sign')), error);
      view.append(details);
    }
    return view;
  }

  // ---- critical-value notifications -----------------------------------------------------

  function drawNotifications(): void {
    clear(notificationsPanel);
    const list = data!.notifications ?? [];
    const critical = data!.reports?.some((r) => r.document?.critical) ?? false;
    if (!list.length && !critical) return;
    notificationsPanel.append(h('h2', t('notifications')));
    if (list.length) {
      notificationsPanel.append(h('ul.notifications', list.map((n) => h('li',
        `${time(n.notified_at)} · ${n.recipient} · ${t(`method_${n.method}`)} · ${n.message} · ${n.read_back ? t('read_back') : ''} · ${t('notified_by')}: ${n.notified_by}`))));
    }
    if (canSign) {
      const recipient = h('input#notify-recipient', { required: true });
      const method = h('select#notify-method', ['phone', 'in-person', 'message'].map((m) => h('option', { value: m }, t(`method_${m}`))));
      const message = h('input#notify-message', { required: true });
      const readBack = h('input#notify-read-back', { type: 'checkbox', checked: true });
      const error = h('p.error');
      const form = h('form.inline#notify-form',
        h('label', t('recipient'), recipient), h('label', t('method'), method), h('label', t('message'), message),
        h('label.check', readBack, t('read_back')), h('button.primary', { type: 'submit' }, t('notify')), error);
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        void act(api.notify(uid, { recipient: recipient.value, method: method.value, message: message.value, read_back: readBack.checked }), error);
      });
      notificationsPanel.append(form);
    }
  }

  void load(true);
  return () => {
    stopped = true;
    window.removeEventListener('keydown', onKey);
    unsubscribeFailed();
    void viewerPromise?.then((v) => v.destroy()).catch(() => {});
    viewer = null;
    main.classList.remove('reading');
  };
}
