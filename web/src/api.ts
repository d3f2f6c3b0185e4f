// mira's HTTP API as the UI uses it (see reading-api.md): same origin, cookie session.

export interface Me {
  user: string;
  display_name: string;
  roles: string[];
  permissions: string[];
  site: string;
}

export interface Flag {
  code: string;
  label: string;
  urgent: boolean;
}

export interface StudyRow {
  study_instance_uid: string;
  patient_name: string | null;
  patient_id: string | null;
  patient_sex: string | null;
  patient_birth_date: string | null;
  accession_number: string | null;
  study_date: string | null;
  study_time: string | null;
  study_description: string | null;
  modalities: string[];
  site: { code: string; name: string } | null;
  priority: string;
  urgent: boolean;
  qc: { outcome: string | null; failed: string[] } | null;
  ai: { state: string; flags: Flag[] } | null;
  state: string;
  received_at: string | null;
  series_count: number;
  instance_count: number;
}

export interface Worklist {
  studies: StudyRow[];
  counts: Record<string, number>;
}

export interface NoduleMeasures {
  long_axis_mm: number;
  short_axis_mm: number;
  mean_diameter_mm: number;
  volume_mm3: number | null;
  attenuation: string;
  solid_component_mm: number | null;
  calcified: boolean;
  status: string | null;
  category: string | null;
}

export interface DrGrade {
  eye: string;
  gradable: boolean;
  grade: string | null;
  referable: boolean;
}

export interface ImageLocation {
  series_instance_uid: string;
  sop_instance_uid: string;
  frame: number | null;
  shape: string;
  points: [number, number][];
}

export interface Decision {
  decision: 'pending' | 'accepted' | 'edited' | 'rejected' | 'added';
  reason?: string;
}

export interface Finding {
  id: string;
  source: { type: 'ai'; analyzer: string; version: string } | { type: 'physician'; user: string };
  kind: string;
  label: string;
  laterality: string | null;
  location: string | null;
  nodule: NoduleMeasures | null;
  dr: DrGrade | null;
  image: ImageLocation | null;
  confidence: number | null;
  decision: Decision;
  decided_by?: string | null;
  decided_at?: string | null;
}

export interface QcIssue {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  citation?: string;
}

export interface ReportQc {
  passed: boolean;
  issues: QcIssue[];
}

export interface ReportDocument {
  template: string;
  language: string;
  header: Record<string, unknown>;
  technique: string;
  findings_text: string;
  impression: string;
  recommendation: string;
  lung_rads: string | null;
  dr: DrGrade[];
  critical: boolean;
  findings: Finding[];
}

export interface Report {
  id: number;
  study_instance_uid: string;
  version: number;
  kind: 'report' | 'addendum';
  state: 'draft' | 'signed';
  document: ReportDocument;
  author: string | null;
  signed_by: string | null;
  signed_at: string | null;
  created_at: string | null;
  updated_at: string | null;
  sr_sop_instance_uid: string | null;
  qc: ReportQc | null;
  /** an addendum's text */
  addendum_text?: string | null;
  text?: string;
  /** the signer's display name */
  signed_by_name?: string | null;
}

export interface Notification {
  recipient: string;
  method: string;
  message: string;
  read_back: boolean;
  notified_by: string;
  notified_at: string;
}

export interface SeriesInfo {
  series_instance_uid: string;
  modality: string | null;
  series_number: number | null;
  series_description: string | null;
  instance_count: number;
  derived: boolean;
  instances: { sop_instance_uid: string; instance_number: number | null; frames: number | null }[];
}

export interface StudyForReading {
  study: StudyRow;
  series: SeriesInfo[];
  findings: Finding[];
  report: Report | null;
  reports: Report[];
  notifications: Notification[];
}

/** An error answer: the status and the problem+json detail. */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public body: any,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  };
  if (body !== undefined) {
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const detail =
      (parsed && typeof parsed === 'object' && (parsed.detail || parsed.title)) ||
      `${response.status} ${response.statusText}`;
    if (response.status === 401 && !path.startsWith('/api/auth/')) {
      window.dispatchEvent(new CustomEvent('mira:unauthorized'));
    }
    throw new ApiError(response.status, String(detail), parsed);
  }
  return parsed as T;
}

/** `/api/auth/me`, in the contract's shape whatever the server's version sends. */
function normaliseMe(raw: any): Me {
  const user = raw.user && typeof raw.user === 'string' ? raw.user : raw.identity?.username ?? raw.identity?.ae_title ?? '?';
  return {
    user,
    display_name: raw.display_name ?? user,
    roles: raw.roles ?? [],
    permissions: raw.permissions ?? [],
    site: typeof raw.site === 'string' ? raw.site : raw.site?.code ?? '',
  };
}

const enc = encodeURIComponent;

export const api = {
  async login(user: string, password: string): Promise<void> {
    // the contract says "user"; the server's login reads "username": both are sent
    await call('POST', '/api/auth/login', { username: user, user, password });
  },
  logout: () => call<void>('POST', '/api/auth/logout'),
  async me(): Promise<Me> {
    return normaliseMe(await call<any>('GET', '/api/auth/me'));
  },
  worklist(params: Record<string, string>): Promise<Worklist> {
    const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString();
    return call('GET', `/api/reading/worklist${q ? `?${q}` : ''}`);
  },
  study: (uid: string) => call<StudyForReading>('GET', `/api/reading/studies/${enc(uid)}`),
  open: (uid: string) => call<StudyForReading>('POST', `/api/reading/studies/${enc(uid)}/open`),
  decide: (uid: string, findingId: string, body: unknown) =>
    call<Finding>('POST', `/api/reading/studies/${enc(uid)}/findings/${enc(findingId)}/decision`, body),
  addFinding: (uid: string, body: unknown) =>
    call<Finding>('POST', `/api/reading/studies/${enc(uid)}/findings`, body),
  createReport: (uid: string, template?: string) =>
    call<Report>('POST', `/api/reading/studies/${enc(uid)}/report`, template ? { template } : {}),
  updateReport: (id: number, body: unknown) => call<Report>('PUT', `/api/reading/reports/${id}`, body),
  report: (id: number) => call<Report>('GET', `/api/reading/reports/${id}`),
  reportQc: (id: number) => call<ReportQc>('GET', `/api/reading/reports/${id}/qc`),
  sign: (id: number, password: string) =>
    call<Report>('POST', `/api/reading/reports/${id}/sign`, { password }),
  addendum: (id: number, text: string, password: string) =>
    call<Report>('POST', `/api/reading/reports/${id}/addendum`, { text, password }),
  notify: (uid: string, body: unknown) =>
    call<Notification>('POST', `/api/reading/studies/${enc(uid)}/notifications`, body),
  exportUrl: (id: number, what: 'sr' | 'fhir' | 'pdf') => `/api/reading/reports/${id}/${what}`,
};

/** STOW-RS: the files as one multipart/related request; the store report's counts. */
export async function stow(
  files: File[],
): Promise<{ stored: number; failed: number; warnings: number; status: number; studies: string[] }> {
  const boundary = `mira-${crypto.randomUUID()}`;
  const parts: BlobPart[] = [];
  for (const f of files) {
    parts.push(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
    parts.push(f);
    parts.push('\r\n');
  }
  parts.push(`--${boundary}--\r\n`);
  const response = await fetch('/dicom-web/studies', {
    method: 'POST',
    credentials: 'same-origin',
    headers: {
      'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      Accept: 'application/dicom+json',
    },
    body: new Blob(parts),
  });
  const text = await response.text();
  let report: any = null;
  try {
    report = JSON.parse(text);
  } catch {
    /* not JSON: an error page */
  }
  if (!report || typeof report !== 'object' || Array.isArray(report)) {
    if (!response.ok) throw new ApiError(response.status, report?.detail ?? text ?? '', report);
    report = {};
  }
  const seq = (tag: string) => (report[tag]?.Value ?? []) as any[];
  const stored = seq('00081199');
  const failed = seq('00081198');
  const warnings = stored.filter((item) => item['00081196']).length;
  const studies = new Set<string>();
  const retrieve = report['00081190']?.Value?.[0];
  if (typeof retrieve === 'string') {
    const m = retrieve.match(/studies\/([^/]+)/);
    if (m) studies.add(decodeURIComponent(m[1]));
  }
  return { stored: stored.length, failed: failed.length, warnings, status: response.status, studies: [...studies] };
}
