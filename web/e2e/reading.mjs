// End-to-end reading workflow in headless Chromium (Debian's, through playwright-core; no
// browser download). Driven by crates/mira/tests/reading_ui.rs, which starts `mira serve`,
// provisions the accounts and makes the CT; runnable by hand against any server:
//
//   MIRA_URL=http://127.0.0.1:8042 TECH_USER=technologist TECH_PASSWORD=… RAD_USER=radiologist \
//   RAD_PASSWORD=… CT_DIR=/path/to/series STUDY_UID=… ARTIFACTS=target/e2e-artifacts \
//   node web/e2e/reading.mjs
//
// Steps: the technologist uploads the CT through the UI (STOW-RS) and sees it on the worklist
// with QC and AI results; the radiologist opens it, sees the AI overlay, rejects one finding with
// a reason, edits another, creates the report and signs it with the password again; the
// technologist sees the signed report without any sign control, and the API refuses their
// sign request with 403. Screenshots go to ARTIFACTS. Exits 1 on the first failed step; the last
// line of standard output is a JSON summary.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('MIRA_URL').replace(/\/$/, '');
const TECH = { user: env('TECH_USER', 'technologist'), password: env('TECH_PASSWORD') };
const RAD = { user: env('RAD_USER', 'radiologist'), password: env('RAD_PASSWORD') };
const CT_DIR = env('CT_DIR');
const STUDY = env('STUDY_UID');
const ARTIFACTS = path.resolve(env('ARTIFACTS', 'target/e2e-artifacts'));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const AI_TIMEOUT_MS = Number(env('AI_TIMEOUT_SECS', '300')) * 1000;

fs.mkdirSync(ARTIFACTS, { recursive: true });
const summary = { ok: false, study: STUDY, screenshots: {}, steps: [] };
const log = (msg) => {
  summary.steps.push(msg);
  console.log(`[e2e] ${msg}`);
};
const fail = (msg) => {
  throw new Error(msg);
};

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mira-e2e-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1600, height: 1000 },
  locale: 'zh-CN',
});
context.setDefaultTimeout(30_000);
const page = context.pages()[0] ?? (await context.newPage());
const consoleErrors = [];
const noteError = (text) => {
  if (!consoleErrors.includes(text)) consoleErrors.push(text);
};
page.on('pageerror', (e) => noteError(`pageerror: ${e.message}`));
page.on('console', (m) => {
  if (m.type() === 'error') noteError(`console: ${m.text()} (${m.location()?.url ?? ''})`);
});
page.on('response', (r) => {
  if (r.status() >= 400 && r.status() !== 401) noteError(`HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
});

async function shot(name, locator) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  if (locator) await locator.screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: false });
  summary.screenshots[name] = file;
  log(`screenshot ${file}`);
  return file;
}

async function login({ user, password }) {
  await page.goto(`${BASE}/#/login`);
  await page.locator('#login-form').waitFor();
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.locator('#who').waitFor();
  const roles = await page.locator('#who').getAttribute('data-roles');
  log(`${user} logged in (roles: ${roles})`);
  return roles ?? '';
}

async function logout() {
  await page.click('#logout');
  await page.locator('#login-form').waitFor();
}

const row = () => page.locator(`tr.study-row[data-study="${STUDY}"]`);

try {
  // ---- technologist: upload through the UI ------------------------------------------------
  const techRoles = await login(TECH);
  if (techRoles.includes('radiologist')) fail('the technologist account holds the radiologist role');
  const files = fs
    .readdirSync(CT_DIR)
    .map((f) => path.join(CT_DIR, f))
    .filter((f) => fs.statSync(f).isFile())
    .sort();
  if (!files.length) fail(`no files in ${CT_DIR}`);
  await page.click('#nav-upload');
  await page.locator('#upload-files').setInputFiles(files);
  await page.click('#upload-send');
  await page.locator('#upload-result[data-done="true"]').waitFor({ timeout: 120_000 });
  const stored = Number(await page.textContent('#upload-stored'));
  const failed = Number(await page.textContent('#upload-failed'));
  log(`uploaded ${files.length} files: ${stored} stored, ${failed} failed`);
  if (stored !== files.length || failed !== 0) fail(`upload: ${stored} of ${files.length} stored, ${failed} failed`);

  // ---- the worklist shows it with QC and AI results ------------------------------------------
  await page.goto(`${BASE}/#/worklist`);
  await row().waitFor({ timeout: 60_000 });
  const deadline = Date.now() + AI_TIMEOUT_MS;
  for (;;) {
    const aiState = await row().locator('td.ai-flags').getAttribute('data-ai-state');
    const flags = await row().locator('td.ai-flags .flag').count();
    const qcNone = await row().locator('.qc-none').count();
    if (aiState === 'failed') fail('the AI analysis failed');
    if (flags > 0 && qcNone === 0 && aiState === 'done') break;
    if (Date.now() > deadline) fail(`no QC and AI results on the worklist after ${AI_TIMEOUT_MS / 1000} s (ai ${aiState}, flags ${flags}, qc pending ${qcNone})`);
    await page.waitForTimeout(1000);
  }
  const flagText = (await row().locator('td.ai-flags').innerText()).replace(/\s+/g, ' ');
  const qcText = (await row().locator('td:nth-child(7)').innerText()).trim();
  log(`worklist: QC "${qcText}", AI flags "${flagText}", state ${await row().getAttribute('data-state')}`);
  await shot('worklist');
  await logout();

  // ---- radiologist: open, review, report, sign -----------------------------------------------
  await login(RAD);
  await row().waitFor({ timeout: 30_000 });
  await row().click();
  await page.locator('.viewer-host[data-first-image-ms]').waitFor({ timeout: 60_000 });
  log(`viewer: first image after ${await page.getAttribute('.viewer-host', 'data-first-image-ms')} ms`);
  const aiFindings = page.locator('li.finding[data-decision="pending"]');
  await page.locator('li.finding').first().waitFor();
  const pending = await aiFindings.count();
  log(`${pending} pending AI findings`);
  if (pending < 2) fail(`need two pending AI findings to reject one and edit another, found ${pending}`);
  const first = aiFindings.nth(0);
  const firstId = await first.getAttribute('data-finding');
  const secondId = await aiFindings.nth(1).getAttribute('data-finding');

  // jump to the first finding's slice: the overlay is drawn there
  await first.locator('button.goto').click();
  await page.locator(`#ai-overlay g[data-finding="${firstId}"]`).waitFor({ timeout: 30_000 });
  const slice = await page.textContent('#slice-label');
  log(`finding ${firstId} shown on slice ${slice}`);
  await page.click('#preset-lung');
  await page.waitForTimeout(300);
  await shot('viewer-overlay');

  // reject the first with a reason
  const byId = (id) => page.locator(`li.finding[data-finding="${id}"]`);
  await byId(firstId).locator('button.reject').click();
  await byId(firstId).locator('input.reject-reason').fill('vessel');
  await byId(firstId).locator('button.reject-confirm').click();
  await page.locator(`li.finding[data-finding="${firstId}"][data-decision="rejected"]`).waitFor();
  log(`rejected ${firstId} (vessel)`);

  // edit the second: re-measured long and short axis
  await byId(secondId).locator('button.edit').click();
  const longInput = byId(secondId).locator('input.edit-long');
  const longBefore = Number(await longInput.inputValue());
  const newLong = (Math.round((longBefore + 0.6) * 10) / 10).toString();
  await longInput.fill(newLong);
  await byId(secondId).locator('input.edit-short').fill((Math.max(1, longBefore - 1)).toFixed(1));
  await byId(secondId).locator('button.edit-save').click();
  await page.locator(`li.finding[data-finding="${secondId}"][data-decision="edited"]`).waitFor();
  const decided = await byId(secondId).locator('.decided').innerText().catch(() => '');
  log(`edited ${secondId}: long axis ${longBefore} → ${newLong} mm (${decided})`);

  // the draft report, pre-filled from the reviewed findings
  await page.click('#create-report');
  await page.locator('#report-form').waitFor().catch(async () => {
    fail(`no draft report: ${await page.innerText('#report-panel')}`);
  });
  const reportId = await page.getAttribute('#report-form', 'data-report');
  summary.report_id = Number(reportId);
  for (const [id, text] of [
    ['#report-technique', 'Low-dose chest CT without contrast.'],
    ['#report-findings', 'See the reviewed findings.'],
    ['#report-impression', 'Pulmonary nodule, see findings.'],
    ['#report-recommendation', 'Follow-up as per Lung-RADS.'],
  ]) {
    if (!(await page.inputValue(id)).trim()) await page.fill(id, text);
  }
  await page.click('#report-save');
  const saved = await Promise.race([
    page.locator('#report-saved:not(:empty)').waitFor().then(() => 'saved'),
    page.locator('#report-error:not(:empty)').waitFor().then(() => 'error'),
  ]);
  if (saved !== 'saved') fail(`saving the draft failed: ${await page.innerText('#report-error')}`);
  const qcIssues = await page.locator('#report-qc li').allInnerTexts();
  log(`draft report ${reportId}; QC: ${qcIssues.length ? qcIssues.join(' | ') : 'passed'}`);

  // sign: the password again
  await page.click('#report-sign');
  await page.locator('#sign-dialog').waitFor();
  await page.fill('#sign-password', RAD.password);
  await page.click('#sign-confirm');
  const outcome = await Promise.race([
    page.locator('#signed-report').waitFor({ timeout: 30_000 }).then(() => 'signed'),
    page.locator('#sign-error:not(:empty)').waitFor({ timeout: 30_000 }).then(() => 'error'),
  ]);
  if (outcome !== 'signed') fail(`signing refused: ${await page.innerText('#sign-error')}`);
  const signedBy = await page.innerText('#signed-by');
  log(`report signed (${signedBy}); exports: ${(await page.locator('#signed-report a.export').count())} links`);
  await shot('signed-report', page.locator('.side-pane'));
  await shot('signed-report-page');
  await logout();

  // ---- technologist: no sign control, and the API refuses ----------------------------------
  await login(TECH);
  await page.goto(`${BASE}/#/study/${encodeURIComponent(STUDY)}`);
  await page.locator('#signed-report').waitFor();
  for (const sel of ['#report-sign', '#addendum-sign', '#create-report', 'li.finding button.accept', 'li.finding button.reject']) {
    const n = await page.locator(sel).count();
    if (n !== 0) fail(`the technologist sees ${sel}`);
  }
  log('technologist: signed report shown, no sign, addendum or decision controls');
  const apiStatus = await page.evaluate(
    async ([id, password]) => {
      const r = await fetch(`/api/reading/reports/${id}/sign`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ password }),
      });
      return r.status;
    },
    [reportId, TECH.password],
  );
  log(`technologist POST /api/reading/reports/${reportId}/sign → ${apiStatus}`);
  if (apiStatus !== 403) fail(`the API answered ${apiStatus} to the technologist's sign request, not 403`);
  summary.ok = true;
} catch (e) {
  summary.error = String(e?.message ?? e);
  console.error(`[e2e] FAILED: ${summary.error}`);
  try {
    await shot('failure');
  } catch {
    /* the page may be gone */
  }
} finally {
  if (consoleErrors.length) {
    summary.console_errors = consoleErrors.slice(0, 20);
    console.error(`[e2e] browser errors:\n${consoleErrors.slice(0, 20).join('\n')}`);
  }
  await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}
