import { ApiError, stow } from './api';
import { h } from './dom';
import { t } from './i18n';

/** Files per STOW-RS request: large series go in several requests, with progress. */
const BATCH = 32;

export function renderUpload(main: HTMLElement): () => void {
  const input = h('input#upload-files', { type: 'file', multiple: true, accept: '.dcm,application/dicom,*/*' });
  const progress = h('progress#upload-progress', { max: 1, value: 0, hidden: true });
  const result = h('div#upload-result');
  const send = h('button.primary#upload-send', { type: 'button' }, t('upload_send'));
  send.addEventListener('click', async () => {
    const files = [...(input.files ?? [])];
    if (!files.length) return;
    send.disabled = true;
    result.textContent = t('upload_sending');
    progress.hidden = false;
    progress.max = files.length;
    progress.value = 0;
    let stored = 0, failed = 0, warnings = 0;
    const errors: string[] = [];
    for (let i = 0; i < files.length; i += BATCH) {
      const batch = files.slice(i, i + BATCH);
      try {
        const r = await stow(batch);
        stored += r.stored;
        failed += r.failed;
        warnings += r.warnings;
      } catch (e) {
        failed += batch.length;
        errors.push(e instanceof ApiError ? `${e.status}: ${e.message}` : String(e));
      }
      progress.value = Math.min(files.length, i + BATCH);
    }
    send.disabled = false;
    result.replaceChildren(
      h('h2', failed || errors.length ? t('upload_error') : t('upload_done')),
      h('table.kv',
        h('tr', h('th', t('upload_stored')), h('td#upload-stored', String(stored))),
        h('tr', h('th', t('upload_warnings')), h('td#upload-warnings', String(warnings))),
        h('tr', h('th', t('upload_failed')), h('td#upload-failed', String(failed)))),
      errors.length ? h('ul.error', errors.map((e) => h('li', e))) : '',
      h('p', h('a', { href: '#/worklist' }, t('nav_worklist'))),
    );
    result.setAttribute('data-done', 'true');
  });
  main.append(h('section.upload',
    h('h1', t('upload')),
    h('p.muted', t('upload_hint')),
    h('div.filters', h('label', t('upload_choose'), input), send),
    progress,
    result));
  return () => {};
}
